"""Every `mlci run` is recorded in the ledger, and pipeline reliability is computed from it.

Three levels: the reading rules on a hand-written history (lost runs, flaky stops,
interruptions left out), the pipeline writing its records however a run ends (a stop, a bug,
SIGTERM), and `mlci run` killed from outside (SIGTERM: recorded, exit 143; SIGKILL: read back
as lost once the next run starts) with `mlci metrics` showing the result against the target.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mlci_local import delivery_metrics as dm
from mlci_local.ledger import Ledger
from mlci_local.run_journal import reliability, runs_of

REPO = Path(__file__).resolve().parents[1]


def history(ledger: Ledger, *runs: tuple) -> None:
    """Append (run id, inputs, outcome or None for no end) runs of model m in order."""
    codes = {"passed": 0, "held": 0, "stopped": 1, "misconfigured": 2, "infrastructure": 3}
    for run_id, inputs, outcome in runs:
        ledger.append("run.start", {"model": "m", "run": run_id, "commit": "c", "inputs": inputs})
        if outcome is None:
            continue
        stages = [{"stage": "static", "status": "held" if outcome == "held" else "ok",
                   "seconds": 0.1}]  # fmt: skip
        data = {"model": "m", "run": run_id, "outcome": outcome, "stages": stages,
                "exit_code": codes.get(outcome), "seconds": 1.0}  # fmt: skip
        if outcome == "interrupted":
            data["signal"] = "SIGTERM"
        ledger.append("run", data)


def test_lost_runs_flaky_stops_and_interruptions_are_read_as_documented(tmp_path):
    ledger = Ledger(tmp_path / "ledger.jsonl")
    history(
        ledger,
        ("a", "i1", "passed"),
        ("b", "i2", "stopped"),  # same inputs pass later: flaky
        ("c", "i2", "passed"),
        ("d", "i3", "stopped"),  # a correct no: a new commit fixed it
        ("e", "i4", "passed"),
        ("f", "i4", "infrastructure"),
        ("g", "i4", "interrupted"),  # CI cancelled it: not counted either way
        ("h", "i4", None),  # killed: the next start shows it is over
        ("i", "i5", "misconfigured"),
        ("j", "i5", None),  # the newest: may still be running
    )
    runs = {r.run: r for r in runs_of(ledger.records(), "m")}
    assert runs["b"].flaky and not runs["d"].flaky
    assert runs["h"].outcome == "lost" and "killed" in runs["h"].reason
    assert runs["j"].outcome == "running"
    now = datetime.now(timezone.utc)
    found = reliability(runs.values(), now - timedelta(hours=1), now + timedelta(minutes=1))
    assert found.runs == 10
    assert found.counted == 8  # all but the interrupted and the running one
    assert found.unreliable == 3  # b (flaky), f (infrastructure), h (lost)
    assert found.rate == pytest.approx(5 / 8)
    assert found.meets_target is False
    assert runs_of(ledger.records(), "other") == []


def test_mlci_metrics_shows_reliability_against_its_target(tmp_path):
    ledger = Ledger(tmp_path / "ledger.jsonl")
    history(ledger, *[(f"r{i}", f"i{i}", "passed") for i in range(20)], ("x", "i0", "stopped"))
    metrics = dm.compute_delivery_metrics(list(ledger.records()), "m")
    assert metrics.reliability.rate == 1.0  # a stop on old inputs that never passed again
    line = dm.format_table(metrics).splitlines()[-1]
    assert line.startswith("  pipeline reliability   meets   100.0% (21 of 21 runs")
    assert line.endswith("target over 95 %")
    history(ledger, ("y", "i9", "infrastructure"), ("z", "i9", "infrastructure"))
    metrics = dm.compute_delivery_metrics(list(ledger.records()), "m")
    assert metrics.to_dict()["targets"]["pipeline_reliability"] == {
        "target": "over 95 %", "meets": False
    }  # fmt: skip
    assert "MISSES  91.3% (21 of 23 runs" in dm.format_table(metrics)


# ------------------------------------------------------------------ the pipeline writes them


@pytest.fixture
def pipeline_in(tiny_dir, monkeypatch):
    from mlci_local.pipeline import Pipeline
    from pytest_mlci.config import load_config

    monkeypatch.chdir(tiny_dir.root)
    config = load_config(tiny_dir.root / "pyproject.toml")

    def make(static):
        monkeypatch.setattr(Pipeline, "stage_static", static)
        return Pipeline(config, echo=lambda line: None), Ledger(config.state_dir / "ledger.jsonl")

    return make


def last_run(ledger: Ledger) -> dict:
    ends = [r for r in ledger.records() if r.action == "run"]
    assert ends, "no run record"
    return ends[-1].data


def test_a_stop_a_bug_and_a_sigterm_each_end_with_a_record(pipeline_in):
    from mlci_local.run_journal import RunInterrupted
    from pytest_mlci.errors import CheckFailed

    def says_no(self):
        raise CheckFailed("2 static finding(s):\nsrc/x.py:1: leak")

    pipeline, ledger = pipeline_in(says_no)
    assert pipeline.run("static") == 1
    data = last_run(ledger)
    assert (data["outcome"], data["exit_code"], data["stopped_at"]) == ("stopped", 1, "static")
    assert data["reason"] == "2 static finding(s):"
    starts = [r for r in ledger.records() if r.action == "run.start"]
    assert starts[-1].data["run"] == data["run"] and len(starts[-1].data["commit"]) >= 4

    def crashes(self):
        raise ZeroDivisionError("a bug")

    pipeline, ledger = pipeline_in(crashes)
    with pytest.raises(ZeroDivisionError):
        pipeline.run("static")
    assert last_run(ledger)["outcome"] == "infrastructure"

    def cancelled(self):
        os.kill(os.getpid(), signal.SIGTERM)  # what a CI runner sends when a job is cancelled
        raise AssertionError("SIGTERM did not unwind the stage")

    pipeline, ledger = pipeline_in(cancelled)
    with pytest.raises(RunInterrupted):
        pipeline.run("static")
    data = last_run(ledger)
    assert (data["outcome"], data["signal"], data["exit_code"]) == ("interrupted", "SIGTERM", None)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored after the run


# ------------------------------------------------------------------ killed from outside


def start_run(root: Path) -> subprocess.Popen:
    """`mlci run` that stops right after its start record, until killed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mlci_local", "run", "--until", "static"], cwd=root,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MLCI_FAULT_POINT": "run.started", "MLCI_FAULT_MODE": "hang",
             "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    for line in process.stderr:
        if "run.started reached" in line:
            return process
    raise AssertionError(f"the run never reached its start: {process.wait()}")


def test_sigterm_is_recorded_and_sigkill_reads_as_lost_in_mlci_metrics(tiny_dir):
    root = tiny_dir.root
    ledger = Ledger(root / ".mlci" / "ledger.jsonl")
    cancelled = start_run(root)
    cancelled.send_signal(signal.SIGTERM)
    assert cancelled.wait(timeout=60) == 128 + signal.SIGTERM
    assert "interrupted by SIGTERM; recorded in the ledger" in cancelled.stdout.read()
    assert last_run(ledger)["outcome"] == "interrupted"

    killed = start_run(root)
    killed.kill()
    killed.wait(timeout=60)
    done = subprocess.run([sys.executable, "-m", "mlci_local", "run", "--until", "static"],
                          cwd=root, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = subprocess.run([sys.executable, "-m", "mlci_local", "metrics", "--json"],
                             cwd=root, capture_output=True, text=True, timeout=120)  # fmt: skip
    found = json.loads(metrics.stdout)["pipeline_reliability"]
    assert found["by_outcome"] == {"interrupted": 1, "lost": 1, "passed": 1}
    assert (found["counted"], found["unreliable"], found["rate"]) == (2, 1, 0.5)
    assert found["meets_target"] is False
