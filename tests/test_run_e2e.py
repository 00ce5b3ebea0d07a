"""`mlci run` end to end on a copy of the bundled example: commit to production and back.

Slow (it trains real models through `dvc repro`); CI runs it, `-m "not slow"` skips it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.example_repo import example_repository, mlci, set_params

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """A fresh git + DVC repository holding the bundled example, with fewer rows for speed."""
    return example_repository(tmp_path_factory.mktemp("example"))


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
