"""A regression project end to end: the in-run canary judges quality on absolute error.

The project is built in a temporary directory (git + DVC, a Ridge regression trained by
`dvc repro`, `[tool.mlci.canary] in_run = true`). The first `mlci run` takes v1 to production;
a change that drops informative features still passes the (loose) evaluation gates, and the
canary rolls it back on its quality judgement; a change that uses every feature is promoted,
its step lines showing the regression quality verdict.

Slow (three runs that train, evaluate, stage and canary); CI runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.example_repo import git, mlci

pytestmark = pytest.mark.slow

TRAIN = '''
"""Train a Ridge regression on the features params.yaml lists."""
import pandas as pd
import skops.io as sio
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

params = yaml.safe_load(open("params.yaml"))["train"]
frame = pd.read_parquet("data/train.parquet")
columns = ColumnTransformer([("keep", "passthrough", params["features"])])
model = make_pipeline(columns, Ridge(alpha=1.0))
model.fit(frame.drop(columns=["y"]), frame["y"])
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

SCHEMA = '''
import pandera.pandas as pa


class HouseSchema(pa.DataFrameModel):
    """Schema of the regression project's evaluation data."""

    x0: float = pa.Field(nullable=False)
    x1: float = pa.Field(nullable=False)
    x2: float = pa.Field(nullable=False)
    x3: float = pa.Field(nullable=False)
    y: float = pa.Field(nullable=False)
'''

CONFIG = """\
[tool.mlci]
model = "houses"
task = "regression"
target = "y"
artifact = "models/model.skops"
on_missing_baseline = "allow-first"

[tool.mlci.datasets.eval]
path = "data/test.parquet"
schema = "house_schema:HouseSchema"

[tool.mlci.evaluation]
resamples = 200

[tool.mlci.gates]
r2 = ">= 0.5"

[tool.mlci.staging]
load_requests = 100

[tool.mlci.canary]
in_run = true
steps = [0.5, 1.0]
min_samples = [2000, 500]
judge = { min_requests = 100, min_labels = 100, error_rate_margin = 0.02, latency_effect = 0.2 }
traffic = { batch = 500, max_requests_per_step = 5000, concurrency = 2, label_lag = 1 }
"""

ALL = ["x0", "x1", "x2", "x3"]


def frame(rows: int, seed: int):
    """y = 3·x0 + 2·x1 - x2 + 0.5·x3 + N(0, 1): leaving a feature out costs absolute error."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    data = pd.DataFrame(x, columns=ALL)
    data["y"] = x @ np.array([3.0, 2.0, -1.0, 0.5]) + rng.normal(size=rows)
    return data


def set_features(root: Path, features: list[str]) -> None:
    (root / "params.yaml").write_text(f"train:\n  features: {json.dumps(features)}\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The regression project, committed; v1 leaves x3 out (its MAE is about 12 % worse)."""
    root = tmp_path_factory.mktemp("regression")
    (root / "data").mkdir()
    (root / "models").mkdir()
    frame(4000, seed=1).to_parquet(root / "data" / "train.parquet")
    frame(2000, seed=2).to_parquet(root / "data" / "test.parquet")
    (root / "train.py").write_text(TRAIN)
    (root / "house_schema.py").write_text(SCHEMA)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / ".gitignore").write_text("/models\n.mlci/\n")
    (root / "pyproject.toml").write_text(CONFIG)
    set_features(root, ["x0", "x1", "x2"])
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "dev@example.com")
    git(root, "config", "user.name", "Dev")
    for command in (["dvc", "init", "-q"], ["dvc", "config", "core.analytics", "false"]):
        subprocess.run([sys.executable, "-m", *command], cwd=root, check=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "regression project")
    return root


def status(root: Path) -> dict:
    return json.loads(mlci(root, "status", "--json").stdout)


def test_the_first_run_takes_the_regression_model_to_production(project):
    done = mlci(project, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "production -> v1 (first production model, without a canary" in done.stdout
    assert status(project)["aliases"]["production"]["version"] == "1"


def test_a_worse_model_that_passes_the_gates_is_rolled_back_by_the_quality_judgement(project):
    set_features(project, ["x0", "x1"])  # x2 left out too: absolute error about 35 % worse
    done = mlci(project, "run")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "1/1 gates passed" in out  # the gates let it through; only the canary sees it
    assert "canary of v2 failed at 50%: rolled back, all traffic to production v1" in out
    assert "quality: fail: significantly worse, beyond the 10% margin" in out
    assert "canary mean absolute error" in out
    assert "step  50%: FAIL" in out and "quality fail" in out
    assert status(project)["aliases"]["production"]["version"] == "1"


def test_a_better_model_is_promoted_showing_the_regression_quality_verdict(project):
    set_features(project, ALL)
    done = mlci(project, "run")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "canary 50% → 100% passed on" in out
    assert "production -> v3 (previous: v1)" in out
    for weight in (" 50%", "100%"):
        assert (
            f"step {weight}: PASS         errors pass, latency pass, quality pass (absolute error -"
            in out
        )  # every feature used: its absolute error is lower than v1's
    assert status(project)["aliases"]["production"]["version"] == "3"
