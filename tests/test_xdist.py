"""pytest-xdist: `pytest --mlci -n 2` gives a serial run's verdicts and evaluates once."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

pytest.importorskip("xdist")

pytestmark = pytest.mark.slow  # every run here is a fresh interpreter (and two workers)

GATES = {
    "roc_auc": ">= 0.7",  # passes
    "accuracy": ">= 0.99",  # must fail
    "f1": ">= baseline - 0.01",  # waived: no production model yet (allow-first)
    "precision": ">= 0.5",  # passes
    # 'region' is declared protected but is not in the data: this gate crashes at run time,
    # so the evaluation status item must fail too, whichever worker it runs in.
    "fairness.demographic_parity_difference": "<= 0.2",
}
CACHED_METRICS = {"roc_auc", "accuracy", "f1", "precision"}

USER_TESTS = """
import pytest


@pytest.mark.parametrize("n", range(8))
def test_the_gates_and_this_test_share_one_estimate(mlci_eval, n):
    assert mlci_eval.estimate("roc_auc")[0].value > 0.7
"""


@pytest.fixture
def project(pytester, tiny_project):
    tiny_project.gates = dict(GATES)
    tiny_project.write_config()
    config = pytester.path / "pyproject.toml"
    config.write_text(
        config.read_text().replace(
            'schema = "tiny_schema:TinySchema"',
            'schema = "tiny_schema:TinySchema"\nprotected = ["region"]',
        )
    )
    pytester.makepyfile(test_user=USER_TESTS)
    return tiny_project


def run(pytester, name, *args):
    """One `pytest --mlci` run in a fresh process; returns (outcomes by test, JSON report)."""
    result = pytester.runpytest_subprocess(
        "--mlci",
        "-p",
        "no:cacheprovider",
        f"--mlci-report-json={name}.json",
        f"--junitxml={name}.xml",
        *args,
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    outcomes = {}
    for case in ET.parse(pytester.path / f"{name}.xml").getroot().iter("testcase"):
        kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = kinds.pop() if kinds else "pass"
    report = json.loads((pytester.path / f"{name}.json").read_text())
    return result, outcomes, report


def clear_cache(pytester):
    shutil.rmtree(pytester.path / ".mlci" / "cache", ignore_errors=True)


def verdicts(report):
    return [(g["gate"], g["verdict"], g["candidate"]) for g in report["gates"]]


def test_two_workers_give_the_verdicts_of_a_serial_run(pytester, project):
    serial, serial_outcomes, serial_report = run(pytester, "serial")
    clear_cache(pytester)
    parallel, parallel_outcomes, parallel_report = run(pytester, "parallel", "-n", "2")

    assert parallel.parseoutcomes() == serial.parseoutcomes()
    assert parallel_outcomes == serial_outcomes
    gate_outcomes = {k: v for k, v in serial_outcomes.items() if k.startswith("mlci.gate::")}
    assert sorted(gate_outcomes.values()) == ["failure", "failure", "pass", "pass", "skipped"]
    assert serial_outcomes["mlci::evaluation"] == "failure"  # the fairness gate crashed

    assert verdicts(parallel_report) == verdicts(serial_report)
    assert [(gate, verdict) for gate, verdict, _ in verdicts(serial_report)] == [
        ("roc_auc >= 0.7", "pass"),
        ("accuracy >= 0.99", "fail"),
        ("f1 >= baseline - 0.01", "waived"),
        ("precision >= 0.5", "pass"),
    ]
    for key in ("crashed", "passed", "candidate", "data", "data_checks"):
        assert parallel_report[key] == serial_report[key], key
    assert parallel_report["crashed"] == [
        "mlci::gate::fairness.demographic_parity_difference <= 0.2"
    ]
    parallel.stdout.fnmatch_lines(["*mlci gates*", "accuracy >= 0.99*FAIL*"])


def test_two_workers_with_a_cold_cache_compute_each_estimate_once(pytester, project):
    clear_cache(pytester)
    _, _, cold = run(pytester, "cold", "-n", "2")
    computed = Counter(e["metric"] for e in cold["evaluation_log"] if e["source"] == "computed")
    assert computed == Counter(CACHED_METRICS)  # each once, by whichever worker came first
    # Both workers asked (the user's tests are spread over them); one computed, one read.
    assert {e["worker"] for e in cold["evaluation_log"]} == {"gw0", "gw1"}
    assert len({e["worker"] for e in cold["evaluation_log"] if e["source"] == "computed"}) == 1

    result, _, warm = run(pytester, "warm", "-n", "2")
    assert [e for e in warm["evaluation_log"] if e["source"] == "computed"] == []
    assert verdicts(warm) == verdicts(cold)
    result.stdout.fnmatch_lines(["evaluation: 0 estimate(s) computed*read from the cache"])
