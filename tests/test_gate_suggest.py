"""`mlci gates --suggest`: floors proposed from the last measured evaluation, not guessed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlci_local.cli import cli
from pytest_mlci.config import load_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def mlci(root: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(root / "mlci.toml"), *args])


@pytest.fixture
def regression(tmp_path: Path) -> Path:
    done = CliRunner().invoke(cli, ["init", str(tmp_path), "--task", "regression", "--ci", "none"])
    assert done.exit_code == 0, done.output
    return tmp_path


def report(root: Path, gates: list[dict], name: str = "evaluation-abc.json") -> Path:
    path = root / ".mlci" / "reports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "gates": gates,
        "candidate": {"path": "models/model.skops", "sha256": "2c2523a296de" + "0" * 52},
        "data": {"path": "data/eval.parquet", "rows": 1200},
    }
    path.write_text(json.dumps(body))
    return path


def row(gate: str, metric: str, value: float, low: float, high: float) -> dict:
    return {
        "gate": gate,
        "metric": metric,
        "verdict": "pass",
        "message": "",
        "candidate": {"value": value, "low": low, "high": high},
    }


def test_floors_lie_just_outside_the_measured_interval(regression):
    report(
        regression,
        [
            row("r2 >= 0.0", "r2", 0.8123, 0.7981, 0.8260),
            row("r2 >= baseline - 0.01", "r2", 0.8123, 0.7981, 0.8260),
            row("mae <= 100", "mae", 31.4, 29.87, 33.02),
        ],
    )

    done = mlci(regression, "gates", "--suggest")

    assert done.exit_code == 0, done.output
    assert "measured: candidate 2c2523a296de on data/eval.parquet, 1,200 rows" in done.output
    assert "r2     " in done.output and "0.8123 [0.7981, 0.8260]" in done.output
    assert "-> >= 0.79" in done.output
    assert "-> <= 33.1" in done.output  # an error: the ceiling lies above the interval
    table = done.output.split("replacing the [gates] table:\n\n")[1]
    assert tomllib.loads(table)["gates"] == {
        "r2": [">= 0.79", ">= baseline - 0.01"],
        "mae": "<= 33.1",
    }


def test_the_proposed_table_is_a_valid_config_the_measured_model_passes(regression):
    report(regression, [row("r2 >= 0.0", "r2", 0.61, 0.5849, 0.6371)])
    table = mlci(regression, "gates", "--suggest").output.split("table:\n\n")[1]
    text = (regression / "mlci.toml").read_text()
    start = text.index("[gates]")
    end = text.index("# [static]")
    (regression / "mlci.toml").write_text(text[:start] + table + "\n\n" + text[end:])

    config = load_config(regression / "mlci.toml")

    assert [gate.text for gate in config.gates] == ["r2 >= 0.58", "r2 >= baseline - 0.01"]
    from pytest_mlci.gates import PASS, Estimate, parse_gate

    measured = Estimate(0.61, 0.5849, 0.6371)
    assert parse_gate("r2", ">= 0.58").check(measured).verdict == PASS
    worse = Estimate(0.55, 0.52, 0.58)
    assert parse_gate("r2", ">= 0.58").check(worse).verdict != PASS


def test_the_newest_report_is_used(regression):
    old = report(regression, [row("r2 >= 0.0", "r2", 0.3, 0.2, 0.4)], "evaluation-old.json")
    os.utime(old, (1, 1))
    report(regression, [row("r2 >= 0.0", "r2", 0.9, 0.88, 0.92)], "evaluation-new.json")
    done = mlci(regression, "gates", "--suggest")
    assert "(report evaluation-new.json)" in done.output
    assert "-> >= 0.88" in done.output


def test_before_any_measured_run_it_says_what_to_run(regression):
    done = mlci(regression, "gates", "--suggest")
    assert done.exit_code == 2
    assert "no evaluation has been measured yet" in done.output
    assert "run `mlci run --until evaluate` once, then `mlci gates --suggest`" in done.output
    assert "Traceback" not in done.output


def test_a_report_that_measured_nothing_is_refused(regression):
    report(regression, [{"gate": "r2 >= 0.0", "metric": "r2", "verdict": "fail", "message": ""}])
    done = mlci(regression, "gates", "--suggest")
    assert done.exit_code == 2
    assert "the last evaluation measured no gate metric" in done.output


def test_without_suggest_the_configured_gates_are_listed(regression):
    done = mlci(regression, "gates")
    assert done.exit_code == 0
    assert done.output.splitlines() == ["r2 >= 0.0", "r2 >= baseline - 0.01"]
