"""`mlci run` end to end on a copy of the bundled example: commit to production and back.

Slow (it trains real models through `dvc repro`); CI runs it, `-m "not slow"` skips it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def mlci(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlci_local", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "MLCI_ACTOR": "ci@example.com", "NO_COLOR": "1", "COLUMNS": "200"},
    )


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def set_params(root: Path, **changes: dict) -> None:
    params_file = root / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    for section, values in changes.items():
        params[section].update(values)
    params_file.write_text(yaml.safe_dump(params))


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """A fresh git + DVC repository holding the bundled example, with fewer rows for speed."""
    root = tmp_path_factory.mktemp("example")
    shutil.copytree(
        REPO / "example", root / "example", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("dvc.yaml", "params.yaml", "pyproject.toml", ".gitignore"):
        shutil.copy(REPO / name, root / name)
    set_params(root, prepare={"rows": 20000}, train={"max_iter": 60})
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "dev@example.com")
    git(root, "config", "user.name", "Dev")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    subprocess.run(
        [sys.executable, "-m", "dvc", "config", "core.analytics", "false"], cwd=root, check=True
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "example")
    return root


def test_first_run_takes_the_model_from_commit_to_production(example):
    done = mlci(example, "run")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for label in (
        "[1/7] code validation",
        "[2/7] data validation",
        "[3/7] training",
        "[4/7] evaluation",
        "[5/7] registration",
        "[6/7] staging",
        "[7/7] promotion",
    ):
        assert label in out
    assert "training               trained: dvc repro ran" in out
    assert "waived (first model)" in out
    # The example opts into the in-run canary, which needs a production model to compare with.
    assert "production -> v1 (first production model, without a canary" in out
    status = json.loads(mlci(example, "status", "--json").stdout)
    assert status["aliases"]["production"]["version"] == "1"
    assert status["aliases"]["staging"]["version"] == "1"


def test_a_second_run_with_nothing_changed_registers_nothing(example):
    done = mlci(example, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[3/7] training" in done.stdout and "up to date: dvc repro ran nothing" in done.stdout
    assert "nothing new to register" in done.stdout
    assert "trained" not in done.stdout
    assert json.loads(mlci(example, "status", "--json").stdout)["versions"] == ["1"]


def test_a_failing_gate_stops_before_registration_and_keeps_production(example):
    set_params(example, train={"degrade": 0.6})
    done = mlci(example, "run")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[4/7] evaluation" in done.stdout and "FAILED" in done.stdout
    assert "gates failed; nothing is registered" in done.stdout
    assert "roc_auc >= 0.75: FAIL" in done.stdout
    assert "[5/7] registration" not in done.stdout
    status = json.loads(mlci(example, "status", "--json").stdout)
    assert status["versions"] == ["1"]
    assert status["aliases"]["production"]["version"] == "1"


def test_a_new_good_model_passes_a_canary_through_the_local_router_and_can_be_rolled_back(
    example,
):
    set_params(example, train={"degrade": 0.0, "seed": 7})
    done = mlci(example, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[7/7] promotion              ok: canary 25% → 50% → 100% passed on" in done.stdout
    assert "production -> v2 (previous: v1)" in done.stdout
    for weight in (" 25%", " 50%", "100%"):
        assert f"step {weight}: PASS         errors pass, latency pass, quality pass" in (
            done.stdout
        )
    status = json.loads(mlci(example, "status", "--json").stdout)
    assert status["rollout"]["mode"] == "none" and status["rollout"]["in_flight"] is None
    rolled = mlci(example, "rollback", "--yes", "--reason", "test")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert "production -> v1 (was v2)" in rolled.stdout
    status = json.loads(mlci(example, "status", "--json").stdout)
    assert status["aliases"]["production"]["version"] == "1"
    assert status["unfinished"] == []
