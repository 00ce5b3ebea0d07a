"""Many CI runners, one `mlflow server` on PostgreSQL: `mlci run` end to end, concurrently.

Each runner is a separate checkout (as on separate CI machines) of a small DVC project; they
share only the registry server and the database that holds the ledger and the promotion
lock. Slow: every run trains, evaluates in a child pytest and stages in a fresh process.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mlci_local.postgres import PostgresLedger
from mlci_local.promotion import unfinished
from mlci_local.registry import Registry
from pytest_mlci.config import load_config

pytestmark = pytest.mark.slow

TRAIN = '''
"""Train the runner's candidate: a logistic regression whose C comes from params.yaml."""
import pandas as pd
import skops.io as sio
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

params = yaml.safe_load(open("params.yaml"))["train"]
frame = pd.read_parquet("data/train.parquet")
features = ColumnTransformer(
    [("cat", OneHotEncoder(handle_unknown="ignore"), ["group"])], remainder="passthrough"
)
model = make_pipeline(features, LogisticRegression(C=params["C"], max_iter=500, random_state=0))
model.fit(frame.drop(columns=["label"]), frame["label"])
sio.dump(model, "models/model.skops")
'''

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py, data/train.parquet]
    params: [train]
    outs: [models/model.skops]
"""


def run(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlci_local", *args], cwd=root, capture_output=True, text=True,
        timeout=900,
        env={**os.environ, "MLCI_ACTOR": "ci@example.com", "NO_COLOR": "1", "COLUMNS": "200",
             **(env or {})},
    )  # fmt: skip


def make_runner(root: Path, assets: Path, *, model: str, registry: str, database: str,
                c_value: float) -> Path:  # fmt: skip
    """One CI runner's checkout: git + DVC, the shared registry and database in config."""
    from conftest import TINY_SCHEMA

    root.mkdir(parents=True)
    (root / "data").mkdir()
    (root / "models").mkdir()
    shutil.copy(assets / "test.parquet", root / "data" / "test.parquet")
    shutil.copy(assets / "train.parquet", root / "data" / "train.parquet")
    (root / "train.py").write_text(TRAIN)
    (root / "tiny_schema.py").write_text(TINY_SCHEMA)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text(f"train:\n  C: {c_value}\n")
    (root / ".gitignore").write_text("/models\n.mlci/\n")
    (root / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [tool.mlci]
        model = "{model}"
        task = "binary_classification"
        target = "label"
        artifact = "models/model.skops"
        on_missing_baseline = "allow-first"
        registry = "{registry}"
        database = "{database}"

        [tool.mlci.datasets.eval]
        path = "data/test.parquet"
        schema = "tiny_schema:TinySchema"

        [tool.mlci.evaluation]
        resamples = 200

        [tool.mlci.gates]
        roc_auc = [">= 0.7", ">= baseline - 0.05"]

        [tool.mlci.staging]
        load_requests = 100
        """))  # fmt: skip
    for command in (["git", "init", "-q", "-b", "main"],
                    ["git", "config", "user.email", "dev@example.com"],
                    ["git", "config", "user.name", "Dev"],
                    [sys.executable, "-m", "dvc", "init", "-q"],
                    [sys.executable, "-m", "dvc", "config", "core.analytics", "false"],
                    ["git", "add", "-A"], ["git", "commit", "-q", "-m", "runner"]):  # fmt: skip
        subprocess.run(command, cwd=root, check=True, capture_output=True)
    return root


@pytest.fixture(scope="module")
def assets(tmp_path_factory, tiny_assets):
    from conftest import make_frame

    base = tmp_path_factory.mktemp("team_assets")
    shutil.copy(tiny_assets / "test.parquet", base / "test.parquet")
    make_frame(3000, seed=1).to_parquet(base / "train.parquet")
    return base


class ProductionWatcher(threading.Thread):
    """Reads the production alias over and over while the runners race, from its own client."""

    def __init__(self, config) -> None:
        super().__init__(daemon=True)
        self.registry = Registry(config)
        self.seen: list[str | None] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            found = self.registry.by_alias("production")
            self.seen.append(found.version if found else None)
            self.stop.wait(0.2)


def test_eight_runners_at_once_one_run_per_model_and_a_linear_history(
    tmp_path, assets, team_stack, fresh_database
):
    """Eight CI runners start `mlci run` for one model against one server at once.

    The team-wide run lock (PostgreSQL) lets one run per model through at a time: a runner
    that overlaps is turned away naming the holder; one that slipped in between (after a
    holder finished) and was evaluated against an older production is refused with
    "production changed". Nothing is lost or duplicated, one version is in production at
    every moment, and the promotions form one linear history.
    """
    model = f"team-{uuid.uuid4().hex[:8]}"
    make = lambda name, c: make_runner(  # noqa: E731
        tmp_path / name, assets, model=model, registry=team_stack.mlflow,
        database=fresh_database, c_value=c,
    )  # fmt: skip
    first = make("runner-0", 1.0)
    done = run(first, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "production -> v1 (first production model)" in done.stdout

    runners = [make(f"runner-{i}", 0.05 * i) for i in range(1, 9)]
    config = load_config(first / "pyproject.toml")
    watcher = ProductionWatcher(config)
    watcher.start()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda root: run(root, "run"), runners))
    watcher.stop.set()
    watcher.join()

    codes = [r.returncode for r in results]
    outputs = [r.stdout + r.stderr for r in results]
    assert set(codes) <= {0, 1}, outputs
    winners = [out for code, out in zip(codes, outputs, strict=True) if code == 0]
    losers = [out for code, out in zip(codes, outputs, strict=True) if code == 1]
    assert winners, outputs
    refused = [out for out in losers if "is in progress" in out]
    assert refused, outputs  # eight at once: the run lock turned overlapping runs away
    for out in losers:
        assert "Traceback" not in out
        if out in refused:
            assert f"another run for model '{model}'" in out and " pid " in out, out
        else:
            assert "production changed since" in out, out

    registry = Registry(config)
    versions = registry.versions()
    # Every runner the lock let through registered one version; none lost, none duplicated.
    assert [v.version for v in versions] == [str(n) for n in range(1, len(versions) + 1)]
    assert len(versions) == 1 + len(runners) - len(refused)
    assert len({v.digest for v in versions}) == len(versions)
    # Exactly one production version at every moment the watcher looked.
    assert watcher.seen and None not in watcher.seen
    assert set(watcher.seen) <= {v.version for v in versions}

    ledger = PostgresLedger(fresh_database)
    report = ledger.verify()
    assert report.ok, report.summary()
    promotions = [r for r in ledger.records() if r.action == "promote"]
    assert len(promotions) == 1 + len(winners)
    # A linear history: each promotion replaced the production the one before it set.
    for before, after in itertools.pairwise(promotions):
        assert after.data["replaces"] == before.data["version"]
    assert registry.by_alias("production").version == promotions[-1].data["version"]
    assert unfinished(ledger, model) == []
    ledger.close()


KILL_SERVER_DURING_PROMOTION = """
import os, signal, sys
from mlci_local.registry import Registry
from mlci_local.cli import main

real = Registry.set_alias

def set_alias(self, alias, version):
    if alias == "production":  # the server dies after `previous` moved, before `production`
        os.kill(int(os.environ["SERVER_PID"]), signal.SIGKILL)
        os.killpg(int(os.environ["SERVER_PID"]), signal.SIGKILL)
    return real(self, alias, version)

Registry.set_alias = set_alias
sys.exit(main(["run"]))
"""


def test_the_server_going_down_mid_promotion_is_reconciled_by_the_next_run(
    tmp_path, assets, team_stack, fresh_database, stack_module
):
    state = tmp_path / "server"
    state.mkdir()
    pids: dict[str, int] = {}
    uri = stack_module.start_mlflow(state, pids, team_stack.postgres, team_stack.s3)
    port = int(uri.rsplit(":", 1)[1])
    try:
        model = f"down-{uuid.uuid4().hex[:8]}"
        root = make_runner(tmp_path / "runner", assets, model=model, registry=uri,
                           database=fresh_database, c_value=1.0)  # fmt: skip
        assert run(root, "run").returncode == 0
        (root / "params.yaml").write_text("train:\n  C: 0.2\n")

        crashed = subprocess.run(
            [sys.executable, "-c", KILL_SERVER_DURING_PROMOTION], cwd=root, capture_output=True,
            text=True, timeout=900,
            env={**os.environ, "MLCI_ACTOR": "ci@example.com", "SERVER_PID": str(pids["mlflow"])},
        )  # fmt: skip
        assert crashed.returncode == 3, crashed.stdout + crashed.stderr
        assert "[7/7] promotion" in crashed.stdout and "FAILED" in crashed.stdout
        assert "Traceback" not in crashed.stdout + crashed.stderr
        ledger = PostgresLedger(fresh_database)
        assert [r.action for r in unfinished(ledger, model)] == ["promote.intent"]

        pids.clear()
        stack_module.start_mlflow(state, pids, team_stack.postgres, team_stack.s3, port=port)
        status = run(root, "status")
        assert "unfinished" in status.stdout.lower(), status.stdout
        again = run(root, "run")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "production -> v2 (previous: v1)" in again.stdout
        assert unfinished(ledger, model) == []
        assert ledger.verify().ok
        actions = [r.action for r in ledger.records() if r.data.get("model") == model]
        assert "promote.abandoned" in actions
        config = load_config(root / "pyproject.toml")
        registry = Registry(config)
        assert registry.by_alias("production").version == "2"
        assert registry.by_alias("previous").version == "1"
        ledger.close()
    finally:
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
