"""A repository with three models (one per task and tier) for the many-model tests.

``churn`` (binary classification, tier low), ``price`` (regression, tier medium, released
blue-green in the run: the new version takes all traffic at once on the local router) and
``fraud`` (multiclass, tier high, owned by two people who approve it) share one
``prepare`` stage, one MLflow registry and one ledger; each has its own training script,
DVC stage, data, gates and artifact. The shared defaults of ``[tool.mlci]`` hold what a team
template would: the baseline policy, the evaluation's resamples, the static checks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.example_repo import git

PREPARE = '''
"""Write each model's training and evaluation tables (seeded: the same bytes every time)."""
import os

import numpy as np
import pandas as pd

os.makedirs("data", exist_ok=True)
rng = np.random.default_rng(7)


def split(frame, name):
    cut = int(len(frame) * 0.7)
    frame.iloc[:cut].to_parquet(f"data/{name}_train.parquet")
    frame.iloc[cut:].reset_index(drop=True).to_parquet(f"data/{name}_test.parquet")


n = 3000
x = rng.normal(size=(n, 3))
churn = pd.DataFrame(x, columns=["tenure", "spend", "calls"])
churn["churned"] = (x[:, 0] - 0.8 * x[:, 1] + rng.normal(scale=0.7, size=n) > 0).astype(int)
split(churn, "churn")

price = pd.DataFrame(x, columns=["rooms", "area", "age"])
price["price"] = 3 * x[:, 0] + 2 * x[:, 1] - x[:, 2] + rng.normal(scale=0.5, size=n)
split(price, "price")

fraud = pd.DataFrame(x, columns=["amount", "hour", "distance"])
score = x[:, 0] + 0.5 * x[:, 2] + rng.normal(scale=0.4, size=n)
fraud["label"] = np.digitize(score, [-0.6, 0.6]).astype(int)
split(fraud, "fraud")
'''

TRAIN = '''
"""Train {name}: {estimator} on data/{name}_train.parquet."""
import pandas as pd
import skops.io as sio
from sklearn.linear_model import {estimator}

frame = pd.read_parquet("data/{name}_train.parquet")
features = frame.drop(columns=["{target}"])
model = {estimator}({arguments}).fit(features, frame["{target}"])
sio.dump(model, "models/{name}.skops")
'''

MODELS = {
    "churn": ("LogisticRegression", "churned", "max_iter=200"),
    "price": ("Ridge", "price", "alpha=1.0"),
    "fraud": ("LogisticRegression", "label", "max_iter=300"),
}

DVC_YAML = """\
stages:
  prepare:
    cmd: python src/common/prepare.py
    deps: [src/common/prepare.py]
    outs: [data]
"""
for _name in MODELS:
    DVC_YAML += f"""\
  train_{_name}:
    cmd: python src/{_name}/train.py
    deps: [src/{_name}/train.py, data]
    outs: [models/{_name}.skops]
"""

CONFIG = """\
[tool.mlci]
# The team template: every model below inherits these unless it sets its own.
on_missing_baseline = "allow-first"

[tool.mlci.evaluation]
resamples = 200

[tool.mlci.static]
confidence = "high"

[tool.mlci.models.churn]
task = "binary_classification"
target = "churned"
artifact = "models/churn.skops"
tier = "low"
owners = ["growth@example.com"]
paths = ["src/churn"]

[tool.mlci.models.churn.datasets.eval]
path = "data/churn_test.parquet"

[tool.mlci.models.churn.gates]
roc_auc = ">= 0.75"

[tool.mlci.models.price]
task = "regression"
target = "price"
artifact = "models/price.skops"
tier = "medium"
owners = ["pricing@example.com"]
paths = ["src/price"]

strategy = "blue-green"

[tool.mlci.models.price.canary]
in_run = true

[tool.mlci.models.price.blue_green]
warm_requests = 50
soak_seconds = 0
latency_effect = 0.4

[tool.mlci.models.price.canary.traffic]
batch = 250
max_requests_per_step = 2000

# Loose enough that the bounded synthetic traffic decides (these tests are about which
# models run and promote, not about the judge's power; tests/rollout covers that).
[tool.mlci.models.price.canary.judge]
regression_margin = 0.2
error_rate_margin = 0.02

[tool.mlci.models.price.datasets.eval]
path = "data/price_test.parquet"

[tool.mlci.models.price.gates]
r2 = ">= 0.8"

[tool.mlci.models.fraud]
task = "multiclass"
target = "label"
artifact = "models/fraud.skops"
tier = "high"
owners = ["risk-a@example.com", "risk-b@example.com"]
paths = ["src/fraud"]

[tool.mlci.models.fraud.approvals]
identity = "unverified"

[tool.mlci.models.fraud.datasets.eval]
path = "data/fraud_test.parquet"

[tool.mlci.models.fraud.gates]
accuracy = ">= 0.6"
"""


def multi_model_repository(root: Path, *, config: str = CONFIG) -> Path:
    """The three-model repository in ``root``: git (branch main) + DVC, committed."""
    (root / "src" / "common").mkdir(parents=True)
    (root / "src" / "common" / "prepare.py").write_text(PREPARE)
    for name, (estimator, target, arguments) in MODELS.items():
        (root / "src" / name).mkdir(parents=True)
        (root / "src" / name / "train.py").write_text(
            TRAIN.format(name=name, estimator=estimator, target=target, arguments=arguments)
        )
    (root / "models").mkdir()
    (root / "models" / ".gitkeep").write_text("")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "pyproject.toml").write_text(config)
    (root / ".gitignore").write_text(".mlci/\n__pycache__/\n/data\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "dev@example.com")
    git(root, "config", "user.name", "Dev")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    subprocess.run(
        [sys.executable, "-m", "dvc", "config", "core.analytics", "false"], cwd=root, check=True
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "three models")
    return root
