"""Fairness gaps equal fairlearn's; intervals fail a biased model; small groups are left out."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_mlci.evaluation.fairness import fairness_estimate, group_table


def data(rows: int = 6000, bias: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = rng.choice(["a", "b", "c"], size=rows, p=[0.5, 0.3, 0.2])
    y = (rng.random(rows) < 0.4).astype(int)
    pred = np.where(rng.random(rows) < 0.8, y, 1 - y)
    favoured = (groups == "b") & (rng.random(rows) < bias)
    return groups, y, np.where(favoured, 1, pred)


def estimate(name, groups, y, pred, base=None, min_group_size=30):
    return fairness_estimate(
        name, {"g": groups}, y, pred, base,
        min_group_size=min_group_size, resamples=300, confidence=0.95, seed=0,
    )  # fmt: skip


@pytest.mark.parametrize(
    "name",
    [
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
    ],
)
def test_point_estimates_equal_fairlearn(name):
    import fairlearn.metrics as fm

    groups, y, pred = data(bias=0.2)
    expected = getattr(fm, name)(y, pred, sensitive_features=groups)
    candidate, _, _ = estimate(f"fairness.{name}", groups, y, pred)
    assert candidate.value == pytest.approx(expected, abs=1e-12)
    assert candidate.low <= candidate.value <= candidate.high


def test_a_biased_model_fails_a_parity_gate_and_a_fair_one_passes():
    from pytest_mlci.gates import FAIL, PASS, parse_gate

    gate = parse_gate("fairness.demographic_parity_difference", "<= 0.05")
    fair = estimate(gate.metric, *data(bias=0.0))[0]
    biased = estimate(gate.metric, *data(bias=0.3))[0]
    assert gate.check(fair).verdict == PASS
    assert gate.check(biased).verdict == FAIL


def test_the_delta_against_the_baseline_is_paired():
    groups, y, fair = data(bias=0.0)
    _, _, biased = data(bias=0.3)
    candidate, delta, base = estimate(
        "fairness.demographic_parity_difference", groups, y, biased, fair
    )
    assert delta.value == pytest.approx(candidate.value - base)
    assert delta.low > 0  # the candidate is clearly less fair than production


def test_a_tiny_group_is_reported_but_left_out_of_the_gap():
    groups, y, pred = data()
    groups = groups.astype(object)
    groups[:5] = "tiny"
    pred = pred.copy()
    pred[:5] = 1  # the tiny group is selected every time: a huge but meaningless gap
    with_tiny = estimate("fairness.demographic_parity_difference", groups, y, pred)[0]
    assert with_tiny.value < 0.1
    table = group_table("g", groups, y, pred, min_group_size=30)
    assert table.excluded == ("tiny",)
    assert {row["group"] for row in table.rows} == {"a", "b", "c", "tiny"}


def test_fewer_than_two_sizeable_groups_is_nan_and_fails():
    from pytest_mlci.gates import FAIL, parse_gate

    groups, y, pred = data(rows=100)
    candidate = estimate(
        "fairness.demographic_parity_difference", groups, y, pred, min_group_size=90
    )[0]
    assert np.isnan(candidate.value)
    assert parse_gate("x", "<= 0.1").check(candidate).verdict == FAIL
