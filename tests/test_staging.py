"""Staging: the load test's limits and the compliance check fail when they should."""

from __future__ import annotations

from dataclasses import replace

from mlci_local.staging import StagingResult, compliance_problems, judge_load
from pytest_mlci.config import StagingSettings, load_config
from pytest_mlci.registry_read import RegisteredVersion

RESULT = StagingResult("1", "d" * 64, 200, 0.1, 0.2, requests=500, errors=0, p50_ms=1.0,
                       p95_ms=2.0, p99_ms=3.0, throughput_rps=900.0)  # fmt: skip


def config_with(tiny_dir, **limits):
    config = load_config(tiny_dir.root / "pyproject.toml")
    return replace(config, staging=StagingSettings(**limits))


def test_a_load_test_within_limits_passes(tiny_dir):
    assert judge_load(RESULT, config_with(tiny_dir, p95_ms=5.0)) == []


def test_errors_or_slow_p95_or_no_requests_fail(tiny_dir):
    config = config_with(tiny_dir, p95_ms=1.5, max_error_rate=0.01)
    problems = judge_load(replace(RESULT, errors=10), config)
    assert problems == [
        "error rate 2.00% over 500 requests exceeds staging.max_error_rate 1.00%",
        "p95 latency 2.00 ms exceeds staging.p95_ms 1.5",
    ]
    assert "completed no request" in judge_load(replace(RESULT, requests=0), config)[0]


def version(**tags):
    return RegisteredVersion("tiny", "1", "file:///x", "run", tags, ())


COMPLETE = {"mlci.git.commit": "abc", "mlci.git.dirty": "false", "mlci.data_digest": "d",
            "mlci.dvc.data/train.parquet": "m", "mlci.model_card_sha256": "c"}  # fmt: skip


def test_complete_lineage_and_a_model_card_comply(tiny_dir):
    assert compliance_problems(config_with(tiny_dir), version(**COMPLETE)) == []


def test_missing_lineage_or_card_is_named(tiny_dir):
    tags = {**COMPLETE, "mlci.git.commit": "none"}
    del tags["mlci.model_card_sha256"]
    problems = compliance_problems(config_with(tiny_dir), version(**tags))
    assert problems == [
        "lineage: no git commit recorded (register from a git repository)",
        "model card: none attached to this version",
    ]
