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
    extra: str = 'on_missing_baseline = "allow-first"\n'

    def write_config(self) -> None:
        gate_lines = "\n".join(f'"{k}" = "{v}"' for k, v in self.gates.items())
        (self.root / "pyproject.toml").write_text(
            textwrap.dedent(
                """\
                [tool.mlci]
                model = "tiny"
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
            ).format(extra=self.extra, gates=gate_lines)
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
