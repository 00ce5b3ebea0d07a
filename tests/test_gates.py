"""Gates: parsing, and verdicts that fail when they should (not only pass)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_mlci.errors import ConfigError
from pytest_mlci.evaluation.compare import BootstrapSettings, Predictions, bootstrap_metric
from pytest_mlci.evaluation.metrics import get_metric
from pytest_mlci.gates import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    Estimate,
    Reference,
    parse_expression,
    parse_gate,
)


@pytest.mark.parametrize(
    ("metric", "expression", "reference", "value", "text"),
    [
        ("roc_auc", ">= 0.8", Reference.ABSOLUTE, 0.8, "roc_auc >= 0.8"),
        ("f1", ">= baseline - 0.01", Reference.BASELINE, -0.01, "f1 >= baseline - 0.01"),
        ("rmse", "<= baseline + 2", Reference.BASELINE, 2.0, "rmse <= baseline + 2"),
        ("f1", ">= baseline", Reference.BASELINE, 0.0, "f1 >= baseline"),
        ("latency.p95_ms", "<= 50", Reference.ABSOLUTE, 50.0, "latency.p95_ms <= 50"),
    ],
)
def test_expressions_parse_and_print_back(metric, expression, reference, value, text):
    gate = parse_gate(metric, expression)
    assert (gate.reference, gate.value, gate.text) == (reference, value, text)
    assert parse_expression(text) == gate


@pytest.mark.parametrize("expression", ["0.8", ">= ", "=> 0.8", ">= baseline * 2", "== 1"])
def test_malformed_expressions_say_how_to_write_one(expression):
    with pytest.raises(ConfigError, match=r"write e\.g\."):
        parse_gate("f1", expression)


def test_absolute_gate_passes_fails_and_is_inconclusive():
    gate = parse_gate("roc_auc", ">= 0.8")
    assert gate.check(Estimate(0.85, 0.82, 0.88)).verdict == PASS
    assert gate.check(Estimate(0.75, 0.72, 0.78)).verdict == FAIL
    assert gate.check(Estimate(0.80, 0.78, 0.82)).verdict == INCONCLUSIVE


def test_lower_is_better_gates_use_the_upper_bound():
    gate = parse_gate("rmse", "<= 3")
    assert gate.check(Estimate(2.5, 2.4, 2.9)).verdict == PASS
    assert gate.check(Estimate(3.5, 3.1, 3.9)).verdict == FAIL
    assert gate.check(Estimate(3.0, 2.8, 3.2)).verdict == INCONCLUSIVE


def test_baseline_gate_judges_the_delta_and_fails_closed_without_one():
    gate = parse_gate("f1", ">= baseline - 0.01")
    candidate = Estimate(0.7, 0.68, 0.72)
    assert gate.check(candidate, Estimate(0.0, -0.005, 0.004)).verdict == PASS
    assert gate.check(candidate, Estimate(-0.05, -0.06, -0.03)).verdict == FAIL
    assert gate.check(candidate, Estimate(-0.01, -0.02, 0.0)).verdict == INCONCLUSIVE
    assert gate.check(candidate, None).verdict == FAIL


def test_nan_never_passes():
    gate = parse_gate("roc_auc", ">= 0.5")
    assert gate.check(Estimate(math.nan)).verdict == FAIL
    assert gate.check(Estimate(0.9, math.nan, 0.95)).verdict == FAIL


def test_point_estimates_without_interval_compare_directly():
    gate = parse_gate("latency.p95_ms", "<= 50")
    assert gate.check(Estimate(42.0)).verdict == PASS
    assert gate.check(Estimate(51.0)).verdict == FAIL


def _labels_and_scores(rows: int, seed: int, noise: float):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    score = np.clip(y * 0.6 + rng.normal(0.2, noise, rows), 0, 1)
    return y, Predictions((score >= 0.5).astype(int), score)


def test_identical_models_pass_a_non_inferiority_gate():
    y, preds = _labels_and_scores(5000, seed=1, noise=0.3)
    metric = get_metric("accuracy", "binary_classification")
    candidate, delta = bootstrap_metric(metric, y, preds, preds, BootstrapSettings(300))
    assert delta.value == 0.0 and -0.001 < delta.low < 0 < delta.high < 0.001
    assert parse_gate("accuracy", ">= baseline - 0.01").check(candidate, delta).verdict == PASS


def test_a_clearly_worse_model_fails_the_paired_comparison():
    y, good = _labels_and_scores(20000, seed=2, noise=0.3)
    rng = np.random.default_rng(3)
    flip = rng.random(len(y)) < 0.06  # about 3 points of accuracy lost, net
    worse_pred = np.where(flip, 1 - good.y_pred, good.y_pred)
    worse = Predictions(worse_pred, good.y_score)
    metric = get_metric("accuracy", "binary_classification")
    candidate, delta = bootstrap_metric(metric, y, worse, good, BootstrapSettings(300))
    assert delta.high < -0.01
    assert parse_gate("accuracy", ">= baseline - 0.01").check(candidate, delta).verdict == FAIL


def test_a_tiny_evaluation_set_is_inconclusive():
    y, good = _labels_and_scores(200, seed=4, noise=0.3)
    right = np.flatnonzero(good.y_pred == y)
    wrong = np.flatnonzero(good.y_pred != y)
    changed = good.y_pred.copy()
    changed[right[:3]] = 1 - changed[right[:3]]  # three new mistakes ...
    changed[wrong[:1]] = 1 - changed[wrong[:1]]  # ... one fixed: one point worse on 200 rows
    other = Predictions(changed, good.y_score)
    metric = get_metric("accuracy", "binary_classification")
    candidate, delta = bootstrap_metric(metric, y, other, good, BootstrapSettings(500))
    assert delta.value == pytest.approx(-0.01)
    gate = parse_gate("accuracy", ">= baseline - 0.01")
    assert gate.check(candidate, delta).verdict == INCONCLUSIVE


def test_resampling_is_seeded_so_verdicts_reproduce():
    y, preds = _labels_and_scores(1000, seed=6, noise=0.4)
    metric = get_metric("roc_auc", "binary_classification")
    first = bootstrap_metric(metric, y, preds, None, BootstrapSettings(200, seed=9))
    second = bootstrap_metric(metric, y, preds, None, BootstrapSettings(200, seed=9))
    assert first == second


def test_unknown_metric_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown metric 'acuracy'.*did you mean 'accuracy'"):
        get_metric("acuracy", "binary_classification")
    with pytest.raises(ConfigError, match="unknown metric 'rmse' for task binary"):
        get_metric("rmse", "binary_classification")


@pytest.mark.parametrize("name", ["accuracy", "precision", "recall", "f1"])
def test_the_count_fast_path_equals_sklearn_on_a_resample(name):
    from pytest_mlci.evaluation.compare import _from_cells

    y, preds = _labels_and_scores(3000, seed=7, noise=0.5)
    idx = np.random.default_rng(8).integers(0, len(y), len(y))
    cells = np.bincount((y * 4 + preds.y_pred * 2)[idx], minlength=8)
    label, pred = (np.arange(8) >> 2) & 1, (np.arange(8) >> 1) & 1
    fast = _from_cells(name, cells[None, :], label, pred, len(y))[0]
    metric = get_metric(name, "binary_classification")
    assert fast == pytest.approx(metric.fn(y[idx], preds.y_pred[idx], None), abs=1e-12)


def test_no_discordant_rows_in_a_small_sample_is_inconclusive_not_a_pass():
    """200 rows where both models agree everywhere say little about a 1-point difference."""
    y, preds = _labels_and_scores(200, seed=12, noise=0.3)
    metric = get_metric("accuracy", "binary_classification")
    candidate, delta = bootstrap_metric(metric, y, preds, preds, BootstrapSettings(300))
    assert delta.low == pytest.approx(-(1.96**2) / (200 + 1.96**2), abs=1e-3)
    gate = parse_gate("accuracy", ">= baseline - 0.01")
    assert gate.check(candidate, delta).verdict == INCONCLUSIVE


def test_tango_interval_agrees_with_mcnemar_at_zero():
    from scipy.stats import chi2

    from pytest_mlci.evaluation.compare import tango_interval

    b, c, n = 30, 12, 1000
    low, high = tango_interval(b, c, n, 1.959964)
    mcnemar_p = chi2.sf((b - c) ** 2 / (b + c), df=1)
    assert (low > 0) == (mcnemar_p < 0.05)  # excludes 0 exactly when McNemar rejects
    assert low < (b - c) / n < high


def test_delong_matches_sklearn_and_the_bootstrap():
    from sklearn.metrics import roc_auc_score

    from pytest_mlci.evaluation.compare import _delong_intervals, _generic_samples

    y, good = _labels_and_scores(4000, seed=13, noise=0.4)
    _, other = _labels_and_scores(4000, seed=14, noise=0.5)
    other = Predictions(
        other.y_pred, np.clip(good.y_score + np.random.default_rng(1).normal(0, 0.2, 4000), 0, 1)
    )
    candidate, delta = _delong_intervals(y, good, other, 1.959964)
    assert candidate.value == pytest.approx(roc_auc_score(y, good.y_score), abs=1e-12)
    metric = get_metric("roc_auc", "binary_classification")
    boot_c, boot_b = _generic_samples(metric, y, good, other, 400, np.random.default_rng(0))
    boot_low, boot_high = np.quantile(boot_c - boot_b, [0.025, 0.975])
    assert delta.low == pytest.approx(boot_low, abs=0.005)
    assert delta.high == pytest.approx(boot_high, abs=0.005)
