"""Three models in one repository, end to end (issue 18).

``churn`` (binary, tier low), ``price`` (regression, tier medium) and ``fraud`` (multiclass,
tier high, approved by its owners) share one registry, one ledger and one ``prepare`` stage.
One `mlci run` runs all three side by side the first time; after that, `mlci run` on a branch
runs only the models whose inputs the branch changed; a failing gate in one model fails the
job naming it while the others still promote.

Slow (five `mlci` runs that train, evaluate, register and stage); CI runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.example_repo import git, mlci
from tests.multi_model_repo import multi_model_repository

pytestmark = pytest.mark.slow


def production(root: Path, model: str) -> str | None:
    status = json.loads(mlci(root, "--model", model, "status", "--json").stdout)
    entry = status["aliases"].get("production")
    return entry["version"] if entry else None


def runs_started(root: Path) -> list[str]:
    lines = (root / ".mlci" / "ledger.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return [r["data"]["model"] for r in records if r["action"] == "run.start"]


def selection(output: str) -> dict[str, str]:
    """The `mlci run` header: model -> 'runs' or 'skipped'."""
    found = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].rstrip(":") in ("runs", "skipped"):
            found[parts[0]] = parts[1].rstrip(":")
    return found


def test_three_models_run_in_parallel_then_only_the_changed_one(tmp_path):
    root = multi_model_repository(tmp_path / "repo")

    # First run on main: nothing has passed yet, so every model runs, side by side.
    first = mlci(root, "run")
    assert first.returncode == 0, first.stdout + first.stderr
    assert selection(first.stdout) == {"churn": "runs", "price": "runs", "fraud": "runs"}
    for name, header in (("churn", "tier low"), ("price", "tier medium"), ("fraud", "tier high")):
        assert f"── {name} (" in first.stdout and header in first.stdout
    assert "3 model(s): 2 passed, 1 held, 0 failed" in first.stdout
    assert production(root, "churn") == "1" and production(root, "price") == "1"
    # The high-tier model waits for its owners, who approve it; its author cannot.
    assert production(root, "fraud") is None
    by_author = mlci(root, "approve", "fraud", "1", actor="dev@example.com")
    assert by_author.returncode == 1 and "not in [tool.mlci.approvals] approvers" in (
        by_author.stderr
    )
    for owner in ("risk-a@example.com", "risk-b@example.com"):
        assert mlci(root, "approve", "fraud", "1", actor=owner).returncode == 0
    approved = mlci(root, "--model", "fraud", "promote", "1")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert production(root, "fraud") == "1"  # all three promoted

    # A branch that changes the price model's training code runs only that model.
    git(root, "checkout", "-q", "-b", "cheaper-price")
    train = root / "src" / "price" / "train.py"
    train.write_text(train.read_text().replace("alpha=1.0", "alpha=3.0"))
    git(root, "commit", "-qam", "price: stronger regularisation")
    before = runs_started(root)
    second = mlci(root, "run")
    assert second.returncode == 0, second.stdout + second.stderr
    assert selection(second.stdout) == {"churn": "skipped", "price": "runs", "fraud": "skipped"}
    assert "src/price/train.py changed since" in second.stdout
    assert runs_started(root)[len(before) :] == ["price"]
    assert production(root, "price") == "2", second.stdout
    # price is released blue-green: v2 took all traffic at once beside v1, soaked, promoted
    assert "blue-green: v2 took all traffic" in second.stdout, second.stdout
    assert "blue-green of v2: pass after the soak" in second.stdout

    # A churn change that fails its gate (labels shuffled) beside another price change: the
    # job fails naming churn, price is still promoted, fraud (untouched) does not run.
    churn = root / "src" / "churn" / "train.py"
    churn.write_text(churn.read_text().replace(
        'frame["churned"])', 'frame["churned"].sample(frac=1, random_state=1).to_numpy())'
    ))  # fmt: skip
    train.write_text(train.read_text().replace("alpha=3.0", "alpha=0.5"))
    git(root, "commit", "-qam", "churn: a bug; price: weaker regularisation")
    third = mlci(root, "run")
    assert third.returncode == 1, third.stdout + third.stderr
    assert selection(third.stdout) == {"churn": "runs", "price": "runs", "fraud": "skipped"}
    assert "failed: churn (FAILED at evaluation (exit 1))" in third.stdout
    assert "roc_auc >= 0.75" in third.stdout
    assert production(root, "price") == "3", third.stdout
    assert production(root, "churn") == "1" and production(root, "fraud") == "1"

    # pytest --mlci for one model: its items carry the model and a marker to select it by.
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--mlci", "--mlci-model", "price", "--collect-only",
         "-q", "-p", "no:randomly", "-m", "mlci_model(name='price')"],
        cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "mlci::gate::price::r2 >= 0.8" in collected.stdout, collected.stdout
    assert "mlci::gate::churn" not in collected.stdout
