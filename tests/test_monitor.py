"""`mlci monitor` on served logs: planted drift exits 1 naming the column, a quiet window
exits 0, live accuracy well below the evaluation's estimate exits 1, and every run is in the
ledger. (A million-request window is measured in benchmarks/bench_monitor.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from mlci_local.ledger import Ledger


@pytest.fixture
def project(tiny_dir) -> Path:
    text = (tiny_dir.root / "pyproject.toml").read_text()
    reference = 'path = "data/test.parquet"\nreference = "data/test.parquet"\n'
    text = text.replace('path = "data/test.parquet"\n', reference)
    (tiny_dir.root / "pyproject.toml").write_text(text)
    return tiny_dir.root


def served_log(root: Path, *, shift: float = 0.0, wrong: float = 0.0, requests: int = 1500,
               age_hours: float = 1.0, torn: bool = True) -> None:  # fmt: skip
    """A request log (and delayed labels) as `mlci serve` writes them."""
    frame = pd.read_parquet(root / "data" / "test.parquet")
    features = frame.drop(columns=["label"])
    folder = root / ".mlci" / "rollout"
    folder.mkdir(parents=True, exist_ok=True)
    when = (
        (datetime.now(timezone.utc) - timedelta(hours=age_hours)).isoformat().replace("+00:00", "Z")
    )
    with open(folder / "requests.jsonl", "a") as log, open(folder / "feedback.jsonl", "a") as fb:
        for i in range(requests):
            row = features.iloc[i % len(features)].to_dict()
            row["x0"] = float(row["x0"]) + shift
            label = int(frame["label"].iloc[i % len(frame)])
            predicted = 1 - label if (i % 100) < wrong * 100 else label
            rid = f"r{age_hours}-{i}"
            log.write(json.dumps({"request_id": rid, "time": when, "arm": "production",
                                  "version": "1", "status": 200, "latency_ms": 2.0,
                                  "labels": [predicted], "predictions": [0.5],
                                  "features": [row]}) + "\n")  # fmt: skip
            fb.write(json.dumps({"request_id": rid, "label": label, "time": when}) + "\n")
        if torn:  # the router was writing when the job started
            log.write('{"request_id": "half a li')


def register_estimate(root: Path, accuracy: float) -> None:
    Ledger(root / ".mlci" / "ledger.jsonl").append("register", {
        "model": "tiny", "version": "1", "digest": "d" * 64, "commit": "none",
        "quality": {"gates": [], "points": {"accuracy": accuracy}},
    })  # fmt: skip


def mlci_monitor(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlci_local", "monitor", *args], cwd=root,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def monitor_records(root: Path) -> list[dict]:
    return [r.data for r in Ledger(root / ".mlci" / "ledger.jsonl").records()
            if r.action == "monitor"]  # fmt: skip


def test_a_quiet_window_exits_0_and_is_recorded(project):
    served_log(project)
    register_estimate(project, 0.99)
    done = mlci_monitor(project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1,500 requests, 1,500 feature rows, versions v1 (1,500)" in done.stdout
    assert "1 unreadable log line(s) skipped" in done.stdout
    assert "no served column drifted" in done.stdout
    assert "live accuracy 1.000" in done.stdout and "evaluation 0.990" in done.stdout
    assert "production is fine" in done.stdout
    [record] = monitor_records(project)
    assert record["retrain"] is False and record["drifted"] == []
    assert record["quality"]["labelled"] == 1500


def test_planted_drift_exits_1_naming_the_column(project):
    served_log(project, shift=3.0)
    done = mlci_monitor(project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "drift FAIL  x0:" in done.stdout
    assert "retraining is due: served features drifted from the reference: x0" in done.stdout
    assert "x1" not in done.stdout.split("retraining is due")[1]
    assert monitor_records(project)[-1]["drifted"] == ["x0"]


def test_live_accuracy_below_the_evaluation_exits_1(project):
    served_log(project, wrong=0.30)
    register_estimate(project, 0.95)
    done = mlci_monitor(project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "live accuracy 0.700" in done.stdout
    assert "retraining is due: live accuracy 0.700" in done.stdout
    assert "below the evaluation's 0.950 - 0.02" in done.stdout


def test_only_the_window_counts(project):
    served_log(project, shift=3.0, age_hours=48, torn=False)  # drifted, but two days ago
    served_log(project, age_hours=1)
    done = mlci_monitor(project, "--window", "24")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1,500 requests" in done.stdout


def test_no_reference_is_a_configuration_error_naming_the_key(tiny_dir):
    done = mlci_monitor(tiny_dir.root)
    assert done.returncode == 2
    assert "no dataset declares one" in done.stderr and "Traceback" not in done.stderr


def test_a_missing_log_says_who_writes_it(project):
    done = mlci_monitor(project)
    assert done.returncode == 1
    assert "requests.jsonl: no request log; `mlci serve` writes it" in done.stderr
