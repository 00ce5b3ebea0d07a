"""Shared test fixtures: a tiny but real ML project (data, skops model, config) in a tmp dir."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TINY_SCHEMA = '''
import pandera.pandas as pa


class TinySchema(pa.DataFrameModel):
    """Schema of the tiny project's evaluation data."""

    x0: float = pa.Field(nullable=False)
    x1: float = pa.Field(nullable=False)
    x2: float = pa.Field(nullable=False)
    x3: float = pa.Field(nullable=False)
    group: str = pa.Field(isin=["a", "b"])
    label: int = pa.Field(isin=[0, 1])
'''


def make_frame(rows: int, seed: int, *, shift: float = 0.0):
    """Four numeric features, one categorical, a learnable binary label."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 4)) + shift
    logits = 1.5 * features[:, 0] - 1.0 * features[:, 1] + 0.5 * features[:, 2]
    label = (rng.random(rows) < 1 / (1 + np.exp(-logits))).astype("int64")
    frame = pd.DataFrame(features, columns=["x0", "x1", "x2", "x3"])
    frame["group"] = np.where(rng.random(rows) < 0.5, "a", "b")
    frame["label"] = label
    return frame


def train_model(frame, *, noise: float = 0.0, seed: int = 0):
    """A logistic-regression pipeline; ``noise`` flips that share of labels to degrade it."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    y = frame["label"].to_numpy().copy()
    if noise:
        rng = np.random.default_rng(seed)
        flip = rng.random(len(y)) < noise
        y[flip] = 1 - y[flip]
    features = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["group"])], remainder="passthrough"
    )
    model = make_pipeline(features, LogisticRegression(max_iter=500, random_state=seed))
    return model.fit(frame.drop(columns=["label"]), y)


@dataclass
class TinyProject:
    """A project directory with config, data and a candidate model; tweak it per test."""

    root: Path
    gates: dict[str, str] = field(default_factory=lambda: {"roc_auc": ">= 0.7"})
    model: str = "tiny"
    extra: str = 'on_missing_baseline = "allow-first"\n'

    def write_config(self) -> None:
        gate_lines = "\n".join(f'"{k}" = "{v}"' for k, v in self.gates.items())
        (self.root / "pyproject.toml").write_text(
            textwrap.dedent(
                """\
                [tool.mlci]
                model = "{model}"
                task = "binary_classification"
                target = "label"
                artifact = "models/model.skops"
                {extra}
                [tool.mlci.static]
                paths = ["src"]

                [tool.mlci.datasets.eval]
                path = "data/test.parquet"
                schema = "tiny_schema:TinySchema"

                [tool.mlci.evaluation]
                resamples = 200

                [tool.mlci.gates]
                {gates}
                """
            ).format(extra=self.extra, gates=gate_lines, model=self.model)
        )

    def set_gate(self, metric: str, expression: str) -> None:
        self.gates = {metric: expression}
        self.write_config()

    def save_model(self, model, name: str = "models/model.skops") -> Path:
        import skops.io as sio

        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sio.dump(model, path)
        return path


@pytest.fixture(autouse=True)
def _no_registry_from_the_environment(monkeypatch):
    """A developer's MLCI_REGISTRY (a team server) must never receive the tests' writes."""
    monkeypatch.delenv("MLCI_REGISTRY", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _heavy_modules_loaded_once():
    """Import the heavy libraries before any test runs.

    pytester restores ``sys.modules`` after each test, dropping what the test imported; a
    library such as MLflow imported inside one test would then be half-unloaded for the next.
    Importing them here, outside any test, keeps them loaded for the whole session.
    """
    import mlflow.artifacts
    import mlflow.tracking  # noqa: F401
    import pandas  # noqa: F401
    import pandera.pandas  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import skops.io  # noqa: F401
    from mlflow.tracking import MlflowClient  # noqa: F401


@pytest.fixture(scope="session")
def tiny_assets(tmp_path_factory):
    """Data and models built once per test session (training is the slow part)."""
    import skops.io as sio

    base = tmp_path_factory.mktemp("tiny_assets")
    train = make_frame(3000, seed=1)
    test = make_frame(2000, seed=2)
    test.to_parquet(base / "test.parquet")
    sio.dump(train_model(train), base / "good.skops")
    sio.dump(train_model(train, noise=0.45), base / "bad.skops")
    return base


def build_tiny_project(root: Path, assets: Path) -> TinyProject:
    """Lay the tiny project out in ``root`` from the prebuilt ``assets``."""
    import shutil

    (root / "data").mkdir(exist_ok=True)
    (root / "models").mkdir(exist_ok=True)
    (root / "src").mkdir(exist_ok=True)
    shutil.copy(assets / "test.parquet", root / "data" / "test.parquet")
    shutil.copy(assets / "good.skops", root / "models" / "model.skops")
    (root / "tiny_schema.py").write_text(TINY_SCHEMA)
    (root / "src" / "train.py").write_text(
        "from sklearn.ensemble import RandomForestClassifier\n\n"
        "model = RandomForestClassifier(n_estimators=10, random_state=0)\n"
    )
    project = TinyProject(root)
    project.write_config()
    return project


@pytest.fixture
def tiny_project(pytester, tiny_assets) -> TinyProject:
    """The tiny project in pytester's directory, for `pytester.runpytest("--mlci")`."""
    return build_tiny_project(pytester.path, tiny_assets)


@pytest.fixture
def tiny_dir(tmp_path, tiny_assets) -> TinyProject:
    """The tiny project in a plain temporary directory (no pytester).

    Use this where the test itself talks to MLflow: pytester unloads modules imported during
    a test, which breaks SQLAlchemy's lazily imported parts.
    """
    return build_tiny_project(tmp_path, tiny_assets)


# ---------------------------------------------------------------------------------------------
# Team scale: the server stack (PostgreSQL, an S3 endpoint, `mlflow server`) and the backends.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamStack:
    """Loopback addresses of a running server stack."""

    mlflow: str  # the tracking and registry URI of `mlflow server`
    postgres: str  # a superuser URL without a database name
    s3: str  # the S3 endpoint holding the server's artifacts


def load_stack_module():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / ".ci" / "stack.py"
    spec = importlib.util.spec_from_file_location("mlci_ci_stack", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def stack_module():
    """``.ci/stack.py``, for tests that start or stop a server of their own."""
    return load_stack_module()


@pytest.fixture(scope="session")
def team_stack(tmp_path_factory):
    """The stack `.ci/run` started (its addresses in the environment), or one started here.

    Without PostgreSQL installed the server tests are skipped on a developer's machine; in CI
    (``$CI`` set) that is a failure, because CI must run them.
    """
    import os
    import shutil as _shutil

    if all(os.environ.get(f"MLCI_TEST_{name}") for name in ("MLFLOW", "POSTGRES", "S3")):
        yield TeamStack(
            os.environ["MLCI_TEST_MLFLOW"], os.environ["MLCI_TEST_POSTGRES"],
            os.environ["MLCI_TEST_S3"],
        )  # fmt: skip
        return
    stack = load_stack_module()
    try:
        stack.pg_bin("initdb")
        missing = None
    except SystemExit as exc:
        missing = str(exc)
    if missing or not _shutil.which("runuser" if os.geteuid() == 0 else "true"):
        message = f"the server stack cannot start here: {missing}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    state = tmp_path_factory.mktemp("stack")
    env = stack.start(state)
    try:
        yield TeamStack(env["MLCI_TEST_MLFLOW"], env["MLCI_TEST_POSTGRES"], env["MLCI_TEST_S3"])
    finally:
        stack.stop(state)


@pytest.fixture
def fresh_database(team_stack):
    """A new, empty PostgreSQL database for one test's ledger and locks; dropped after."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{team_stack.postgres}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield f"{team_stack.postgres}/{name}"
    with psycopg.connect(f"{team_stack.postgres}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["embedded", "server"])
def backend(request) -> str:
    """Run a test against the embedded default and against the team's server stack."""
    return request.param


@pytest.fixture
def backend_project(backend, request, tiny_dir) -> TinyProject:
    """The tiny project configured for ``backend``: with ``server``, the registry is the
    shared `mlflow server` (a model name of its own) and the ledger and locks live in a
    fresh PostgreSQL database."""
    import uuid

    if backend == "server":
        stack = request.getfixturevalue("team_stack")
        database = request.getfixturevalue("fresh_database")
        tiny_dir.model = f"tiny-{uuid.uuid4().hex[:8]}"
        tiny_dir.extra += f'registry = "{stack.mlflow}"\ndatabase = "{database}"\n'
        tiny_dir.write_config()
    return tiny_dir
