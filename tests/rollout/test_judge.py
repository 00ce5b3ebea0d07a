"""The canary judge: what it says about realistic steps of traffic.

Arms are built from exact counts (``errors`` of ``requests``, ``correct`` of ``labels``) with
seeded lognormal latencies, so each test states the situation it judges and cannot pass or fail
by the luck of a draw.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from mlci_local.rollout.judge import (
    ArmObservations,
    JudgeSettings,
    always_valid_z,
    judge,
    newcombe_interval,
)
from pytest_mlci.errors import ConfigError
from pytest_mlci.gates import FAIL, INCONCLUSIVE, PASS

DEFAULTS = JudgeSettings()
INTERIM = replace(DEFAULTS, interim=True)


def arm(
    requests: int,
    errors: int = 0,
    *,
    labels: int | None = None,
    accuracy: float = 0.85,
    slowdown: float = 1.0,
    seed: int = 0,
) -> ArmObservations:
    """``requests`` with exactly ``errors``; ``labels`` of them labelled, ``accuracy`` right."""
    rng = np.random.default_rng(seed)
    latency = 20.0 * slowdown * np.exp(0.4 * rng.standard_normal(requests - errors))
    correct = None
    if labels is not None:
        right = round(accuracy * labels)
        correct = rng.permutation([1] * right + [0] * (labels - right)).tolist()
    return ArmObservations(requests, errors, latency.tolist(), correct)


def criterion(judgement, name):
    return next(c for c in judgement.criteria if c.name == name)


def test_an_a_a_canary_passes_before_promotion():
    control = arm(20_000, 100, labels=20_000, seed=1)
    canary = arm(20_000, 100, labels=20_000, seed=2)
    judgement = judge(control, canary, DEFAULTS)
    assert judgement.verdict == PASS, judgement.summary()
    assert [c.name for c in judgement.criteria] == ["errors", "latency", "quality"]
    assert "non-inferiority shown" in criterion(judgement, "quality").message


def test_an_a_a_canary_passes_the_first_5_percent_step():
    control = arm(3_800, 19, labels=2_280, seed=1)
    canary = arm(200, 1, labels=120, seed=2)
    assert judge(control, canary, INTERIM).verdict == PASS
    # before promotion the same evidence is not enough: non-inferiority is not shown yet
    final = judge(control, canary, DEFAULTS)
    assert final.verdict == INCONCLUSIVE
    assert "not yet shown within" in criterion(final, "quality").message


@pytest.mark.parametrize("control_requests", [9_500, 4_500])
def test_a_canary_erroring_on_2_percent_against_0_fails_at_500_requests(control_requests):
    judgement = judge(arm(control_requests, 0), arm(500, 10, seed=1), INTERIM)
    errors = criterion(judgement, "errors")
    assert judgement.verdict == FAIL
    assert errors.verdict == FAIL
    assert errors.statistic == pytest.approx(0.02)
    assert errors.p_value < DEFAULTS.alpha
    assert "significantly worse" in errors.message


def test_500_requests_per_arm_hold_a_2_percent_error_canary_without_passing_it():
    errors = criterion(judge(arm(500, 0), arm(500, 10, seed=1), INTERIM), "errors")
    assert errors.verdict == INCONCLUSIVE
    assert "beyond the 1.00% margin but not yet significant" in errors.message


def test_a_canary_1_5_times_slower_fails_latency():
    judgement = judge(arm(1_000, seed=1), arm(1_000, slowdown=1.5, seed=2), INTERIM)
    latency = criterion(judgement, "latency")
    assert latency.verdict == FAIL
    assert latency.statistic > DEFAULTS.latency_effect
    assert "significantly slower" in latency.message


def test_a_trivially_slower_canary_on_100k_requests_passes_latency():
    judgement = judge(arm(100_000, seed=1), arm(100_000, slowdown=1.02, seed=2), DEFAULTS)
    latency = criterion(judgement, "latency")
    assert latency.p_value < DEFAULTS.alpha  # the shift is real and significant ...
    assert 0 < latency.statistic < DEFAULTS.latency_effect  # ... but far below the threshold
    assert latency.verdict == PASS


def test_a_canary_p95_over_the_limit_fails():
    control, canary = arm(1_000, seed=1), arm(1_000, seed=2)  # p95 about 39 ms in both arms
    over = judge(control, canary, replace(INTERIM, p95_limit_ms=30.0))
    assert criterion(over, "latency").verdict == FAIL
    assert "over the 30 ms limit" in criterion(over, "latency").message
    under = judge(control, canary, replace(INTERIM, p95_limit_ms=60.0))
    assert criterion(under, "latency").verdict == PASS


def test_a_canary_5_points_less_accurate_fails_on_1000_labelled_requests():
    # a 10 % step: 1,000 labelled canary requests, 9,000 labelled control requests
    control = arm(10_000, labels=9_000, accuracy=0.85, seed=1)
    canary = arm(1_100, labels=1_000, accuracy=0.80, seed=2)
    judgement = judge(control, canary, INTERIM)
    quality = criterion(judgement, "quality")
    assert judgement.verdict == FAIL
    assert quality.verdict == FAIL
    assert quality.statistic == pytest.approx(0.05)


def test_1000_labels_per_arm_hold_a_5_point_drop_and_never_pass_it():
    control = arm(1_100, labels=1_000, accuracy=0.85, seed=1)
    canary = arm(1_100, labels=1_000, accuracy=0.80, seed=2)
    quality = criterion(judge(control, canary, INTERIM), "quality")
    assert quality.verdict == INCONCLUSIVE
    assert "beyond the 2.00% margin but not yet significant" in quality.message


def test_too_few_requests_is_inconclusive():
    judgement = judge(arm(3_800, 19, labels=2_000), arm(150, 0, labels=150), INTERIM)
    assert judgement.verdict == INCONCLUSIVE
    assert "fewer than the 200 needed: not enough traffic" in criterion(judgement, "errors").message
    assert criterion(judgement, "latency").verdict == INCONCLUSIVE


def test_an_arm_without_requests_is_inconclusive_never_pass():
    empty = ArmObservations(0, 0, [], [])
    for control, canary in [(arm(4_000, labels=2_000), empty), (empty, arm(4_000, labels=2_000))]:
        judgement = judge(control, canary, replace(INTERIM, quality=False))
        assert judgement.verdict == INCONCLUSIVE
        judged = [c.verdict for c in judgement.criteria if c.name != "quality"]
        assert judged == [INCONCLUSIVE, INCONCLUSIVE]
        assert criterion(judgement, "quality").verdict == "not judged"  # quality = false
        assert "saw no requests" in judgement.summary()


def test_no_labels_makes_quality_inconclusive():
    judgement = judge(arm(3_800, 19), arm(200, 1, seed=1), INTERIM)
    assert criterion(judgement, "quality").verdict == INCONCLUSIVE
    assert "no labels source" in criterion(judgement, "quality").message
    assert judgement.verdict == INCONCLUSIVE
    # a model without a feedback loop switches quality off instead
    without = judge(arm(3_800, 19), arm(200, 1, seed=1), replace(INTERIM, quality=False))
    assert without.verdict == PASS


def test_too_few_labels_make_quality_inconclusive():
    judgement = judge(arm(3_800, 19, labels=2_000), arm(200, 1, labels=60), INTERIM)
    assert "60 labels arrived for the canary" in criterion(judgement, "quality").message
    assert judgement.verdict == INCONCLUSIVE


@pytest.mark.parametrize(
    "broken",
    [
        lambda a: replace(a, latency_ms=[*list(a.latency_ms)[:-1], math.nan]),
        lambda a: replace(a, labelled_correct=[*list(a.labelled_correct)[:-1], math.nan]),
        lambda a: replace(a, requests=math.nan),
        lambda a: replace(a, errors=-1),
        lambda a: replace(a, latency_ms=[*list(a.latency_ms)[:-1], -3.0]),
    ],
    ids=["nan latency", "nan label", "nan requests", "negative errors", "negative latency"],
)
def test_nan_or_impossible_inputs_are_inconclusive(broken):
    control = arm(3_800, 19, labels=2_280, seed=1)
    canary = broken(arm(200, 1, labels=120, seed=2))
    judgement = judge(control, canary, INTERIM)
    assert judgement.verdict == INCONCLUSIVE, judgement.summary()


def test_the_verdict_is_the_worst_criterion():
    # errors fail, quality has no labels: fail beats inconclusive
    judgement = judge(arm(9_500, 0), arm(500, 10, seed=1), INTERIM)
    assert criterion(judgement, "quality").verdict == INCONCLUSIVE
    assert judgement.verdict == FAIL
    lines = judgement.summary().splitlines()
    assert lines[0] == "canary judge: fail"
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["errors", "latency", "quality"]


def test_the_boundary_holds_over_many_looks():
    # 4,000 no-harm Gaussian score paths, 60 looks each at growing, uneven information:
    # the always-valid boundary is crossed by at most alpha of them, a fixed z by many more.
    rng = np.random.default_rng(7)
    information = np.cumsum(rng.uniform(200, 2_000, 60))
    steps = rng.standard_normal((4_000, 60)) * np.sqrt(np.diff(information, prepend=0.0))
    z_paths = np.cumsum(steps, axis=1) / np.sqrt(information)
    bounds = np.array([always_valid_z(i, 0.04, 0.05) for i in information])
    assert (z_paths > bounds).any(axis=1).mean() <= 0.05
    assert (z_paths > 1.645).any(axis=1).mean() > 0.2


def test_newcombe_interval_stays_open_at_zero_errors():
    low, high = newcombe_interval(0, 200, 0, 3_800, 1.96)
    assert low < 0 < high
    assert high > 0.015  # 0 of 200 does not prove an error rate below 1.5 %


@pytest.mark.parametrize(
    "change",
    [{"alpha": 0.0}, {"min_requests": 0}, {"quality_margin": math.nan}, {"latency_effect": 0.7}],
)
def test_impossible_settings_are_a_config_error(change):
    with pytest.raises(ConfigError, match="judge"):
        JudgeSettings(**change)
