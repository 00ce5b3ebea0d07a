"""`mlci init` then `mlci run` on two project shapes from the wild, built in temporary folders.

* a DVC project with its own ``dvc.yaml``, a tracked ``dvc.lock``, a GitHub workflow and a
  ``pyproject.toml``: init keeps them byte for byte, appends ``[tool.mlci]``, prints the CI
  job, git-ignores ``.mlci/``; the run reaches production;
* an MLflow project (``MLproject`` + a ``train.py`` that logs with MLflow) without DVC: init
  writes the stage and ``params.yaml`` from the entry point and runs ``dvc init``; the run
  reaches production and the script is byte for byte what it was.

Slow: each trains, evaluates, registers, stages and promotes in child processes, as CI does.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.example_repo import git, mlci

pytestmark = pytest.mark.slow

PREPARE = """\
from pathlib import Path

import numpy as np
import pandas as pd

Path("data").mkdir(exist_ok=True)

rng = np.random.default_rng(0)
X = rng.normal(size=(2000, 3))
y = (X[:, 0] - 0.7 * X[:, 1] + rng.normal(scale=0.6, size=2000) > 0).astype(int)
frame = pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2], "y": y})
frame.iloc[:1500].to_csv("data/train.csv", index=False)
frame.iloc[1500:].to_csv("data/test.csv", index=False)
"""

TRAIN_PICKLE = """\
import pickle
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression

frame = pd.read_csv("data/train.csv")
model = LogisticRegression(max_iter=200).fit(frame.drop(columns="y"), frame["y"])
Path("models").mkdir(exist_ok=True)
Path("models/model.pkl").write_bytes(pickle.dumps(model))
"""

EVALUATE = """\
import json
import pickle

import pandas as pd

frame = pd.read_csv("data/test.csv")
model = pickle.loads(open("models/model.pkl", "rb").read())
accuracy = model.score(frame.drop(columns="y"), frame["y"])
json.dump({"accuracy": accuracy}, open("eval.json", "w"))
"""

DVC_YAML = """\
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [src/prepare.py]
    outs: [data/train.csv, data/test.csv]
  train:
    cmd: python src/train.py
    deps: [src/train.py, data/train.csv]
    outs: [models/model.pkl]
  evaluate:
    cmd: python src/evaluate.py
    deps: [src/evaluate.py, models/model.pkl, data/test.csv]
    metrics:
      - eval.json:
          cache: false
"""

WORKFLOW = """\
name: ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: python -m pytest
"""

PYPROJECT = """\
[project]
name = "churn"
version = "0.1.0"
dependencies = ["scikit-learn", "pandas"]

[tool.ruff]
line-length = 100
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def repository(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "dev@example.com")
    git(root, "config", "user.name", "Dev")


def dvc(root: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def passed(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return done.stdout


def untracked(root: Path) -> list[str]:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line[3:] for line in status.splitlines() if line.startswith("??")]


@pytest.fixture(autouse=True)
def _environment(monkeypatch):
    """No DVC analytics; `python` in the stage commands is this virtualenv's."""
    import os

    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def test_a_dvc_project_with_its_own_ci_and_tracked_lock_is_adopted_and_reaches_production(
    tmp_path,
):
    root = tmp_path / "churn"
    write(
        root,
        {
            "src/prepare.py": PREPARE,
            "src/train.py": TRAIN_PICKLE,
            "src/evaluate.py": EVALUATE,
            "dvc.yaml": DVC_YAML,
            ".github/workflows/ci.yml": WORKFLOW,
            "pyproject.toml": PYPROJECT,
        },
    )
    repository(root)
    dvc(root, "init", "-q")
    dvc(root, "repro")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the project as it was, dvc.lock tracked")
    assert (
        "dvc.lock"
        in subprocess.run(
            ["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True
        ).stdout
    )
    kept = {name: (root / name).read_bytes() for name in ("dvc.yaml", ".github/workflows/ci.yml")}

    out = passed(mlci(root, "init", "--target", "y"))

    for name, content in kept.items():
        assert (root / name).read_bytes() == content, name
        assert f"kept {name} (yours)" in out
    assert "proposed artifact = 'models/model.pkl' (from dvc.yaml stage 'train' outs)" in out
    assert "proposed datasets.eval.path = 'data/test.csv'" in out
    assert "appended pyproject.toml: [tool.mlci]" in out
    assert (root / "pyproject.toml").read_text().startswith(PYPROJECT)
    assert "add this under `jobs:` in .github/workflows/ci.yml:" in out
    assert "appended .gitignore: /.mlci/" in out
    assert not (root / ".github/workflows/mlci.yml").exists()

    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "adopt pytest-mlci")
    run = passed(mlci(root, "run"))

    assert "[7/7] promotion" in run and "production -> v1" in run
    assert not [path for path in untracked(root) if path.startswith(".mlci")]
    from mlci_local import lineage

    if "own_outputs" in Path(lineage.__file__).read_text():  # the tracked-lock fix is in
        from mlflow.tracking import MlflowClient

        from pytest_mlci.config import load_config

        uri = load_config(root / "pyproject.toml").registry_uri
        version = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias(
            "churn", "production"
        )
        assert version.tags["mlci.git.dirty"] == "false", version.tags

    suggested = passed(mlci(root, "gates", "--suggest"))
    assert "measured: candidate" in suggested and "on data/test.csv, 500 rows" in suggested
    assert "roc_auc" in suggested and "-> >= 0." in suggested


MLPROJECT = """\
name: churn
python_env: python_env.yaml
entry_points:
  main:
    parameters:
      C: {type: float, default: 0.5}
      max_iter: {type: float, default: 200}
    command: "python train.py --C {C} --max-iter {max_iter}"
"""

TRAIN_MLFLOW = """\
import argparse

import mlflow
import mlflow.sklearn
import pandas as pd
from sklearn.linear_model import LogisticRegression

parser = argparse.ArgumentParser()
parser.add_argument("--C", type=float)
parser.add_argument("--max-iter", type=int)
args = parser.parse_args()

frame = pd.read_csv("data/train.csv")
X, y = frame.drop(columns="y"), frame["y"]
with mlflow.start_run():
    mlflow.log_params({"C": args.C, "max_iter": args.max_iter})
    model = LogisticRegression(C=args.C, max_iter=args.max_iter).fit(X, y)
    mlflow.log_metric("train_accuracy", model.score(X, y))
    mlflow.sklearn.log_model(model, name="model")
"""


def test_an_mlflow_project_without_dvc_gets_its_stage_and_reaches_production(tmp_path):
    root = tmp_path / "churn"
    write(root, {"MLproject": MLPROJECT, "train.py": TRAIN_MLFLOW, "prepare.py": PREPARE})
    subprocess.run([sys.executable, "prepare.py"], cwd=root, check=True)
    repository(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "an MLflow project")
    script = (root / "train.py").read_bytes()

    out = passed(mlci(root, "init", "--target", "y"))

    assert "dvc.yaml stage 'train' runs MLproject entry point 'main': python train.py " in out
    assert "--C ${train.C} --max-iter ${train.max_iter}" in out
    assert "training.mlflow_model = 'model'" in out
    for written in ("dvc.yaml", "params.yaml", "mlci.toml", ".dvc/ (dvc init)"):
        assert f"wrote {written}" in out
    assert "proposed datasets.eval.path = 'data/test.csv' (from the project's files)" in out

    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "adopt pytest-mlci")
    run = passed(mlci(root, "run"))

    assert "trained: dvc repro ran train" in run
    assert "model 'model'" in run and "materialised at models/model" in run
    assert "production -> v1" in run
    assert (root / "train.py").read_bytes() == script
    from mlflow.tracking import MlflowClient

    from pytest_mlci.config import load_config

    uri = load_config(root / "mlci.toml").registry_uri
    tags = (
        MlflowClient(tracking_uri=uri, registry_uri=uri)
        .get_model_version_by_alias("churn", "production")
        .tags
    )
    assert tags["mlci.training.param.C"] == "0.5"
    assert tags["mlci.training.param.max_iter"] == "200"
    assert not [p for p in untracked(root) if p.startswith((".mlci", "models/"))]
