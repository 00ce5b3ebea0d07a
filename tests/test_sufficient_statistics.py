"""Additive statistics and the hash-seeded Poisson bootstrap (no Spark: numpy only).

What must hold for the Spark engine to be trusted: the statistics of some rows do not depend on
how the rows were split or ordered, the metrics computed from them equal the local engine's, the
intervals agree with the local bootstrap within Monte-Carlo error, and a worse model still fails.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from pytest_mlci.evaluation import sufficient
from pytest_mlci.evaluation.compare import BootstrapSettings, Predictions, bootstrap_metric
from pytest_mlci.evaluation.metrics import get_metric
from pytest_mlci.gates import parse_gate

ROWS = 50_000
RESAMPLES = 500
CONFIDENCE = 0.95
CLASSES = ("cat", "dog", "fox")
#: Metrics whose point estimate is a ratio of exact sums: equal to sklearn's to float rounding.
EXACT = 1e-9
#: ROC AUC / average precision from FINE_BINS quantile bins of the scores.
BINNED = 2e-4
#: Why 25% of the interval's width: each endpoint is a 2.5% quantile of 500 resamples, whose
#: Monte-Carlo standard error is sqrt(0.025 * 0.975 / 500) / density ~ 3% of the 95% width for
#: a normal-shaped distribution; two independent bootstraps differ by ~4.3% of the width (one
#: SE of the difference), and Poisson vs multinomial resampling, DeLong/Tango/Wilson vs the
#: percentile interval and coarse score bins add well under that at 50k rows. 25% is ~6 SE:
#: far from flaky, yet a wrong scale (a missing sqrt, unpaired deltas, a wrong n) is caught.
WIDTH_SHARE = 0.25
#: Score bin edges come from a sample of the scores, as the Spark engine's do (EDGE_SAMPLE_ROWS).
EDGE_SAMPLE = 20_000


# ----------------------------------------------------------------------------- data


def _binary(rows: int, seed: int, noise: tuple[float, float] = (1.0, 1.3)) -> dict:
    """Labels 0/1 and two models' scores: the candidate (noise[0]) and the baseline."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.4).astype(np.int64)
    models = []
    for scale in noise:
        logit = 1.5 * (2 * y - 1) + scale * rng.normal(size=rows)
        score = 1.0 / (1.0 + np.exp(-logit))
        models.append(Predictions((score >= 0.5).astype(np.int64), score))
    return {"y": y, "models": models, "frame": _frame(rng, rows, y)}


def _multiclass(rows: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    labels = np.array(CLASSES, dtype=object)
    y = labels[rng.choice(3, size=rows, p=[0.5, 0.3, 0.2])]
    models = []
    for right in (0.8, 0.75):
        wrong = labels[rng.integers(0, 3, rows)]
        models.append(Predictions(np.where(rng.random(rows) < right, y, wrong)))
    return {"y": y, "models": models, "frame": _frame(rng, rows, y)}


def _regression(rows: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    y = rng.gamma(4.0, 2.5, rows) + 1.0  # away from 0: MAPE stays finite
    models = [Predictions(y + rng.normal(0.0, scale, rows)) for scale in (1.0, 1.1)]
    return {"y": y, "models": models, "frame": _frame(rng, rows, y)}


def _frame(rng, rows: int, y) -> pd.DataFrame:
    """The rows as a table: a unique id, a feature and the label (what row_keys hashes)."""
    return pd.DataFrame({"id": np.arange(rows), "x": rng.normal(size=rows), "y": y})


DATA = {"binary_classification": _binary, "multiclass": _multiclass, "regression": _regression}


def _layout(task: str, data: dict, resamples: int = RESAMPLES, seed: int = 0):
    coarse: tuple = ()
    fine: tuple = ()
    classes: tuple = (0, 1)
    if task == "binary_classification":
        samples = [p.y_score[:EDGE_SAMPLE] for p in data["models"]]
        coarse = tuple(sufficient.score_edges(s, sufficient.COARSE_BINS) for s in samples)
        fine = tuple(sufficient.score_edges(s, sufficient.FINE_BINS) for s in samples)
    elif task == "multiclass":
        classes = CLASSES
    return sufficient.Layout.build(
        task, len(data["models"]), classes, resamples, seed, coarse, fine
    )


def _take(data: dict, index) -> tuple:
    models = [
        Predictions(p.y_pred[index], None if p.y_score is None else p.y_score[index])
        for p in data["models"]
    ]
    return data["y"][index], models, sufficient.row_keys(data["frame"].iloc[index])


def _accumulate(layout, data: dict, index):
    y, models, keys = _take(data, index)
    return sufficient.accumulate(layout, y, models, keys)


@pytest.fixture(scope="module")
def large():
    """Each task's 50k rows with their statistics (computed once for the module)."""
    out = {}
    for task, make in DATA.items():
        data = make(ROWS, seed=7)
        layout = _layout(task, data)
        data["layout"] = layout
        data["stats"] = _accumulate(layout, data, np.arange(ROWS))
        out[task] = data
    return out


# ----------------------------------------------------------------------------- reference
# sklearn takes ~50 ms per call on 50k rows for these (seconds per 500 resamples, and minutes for
# string labels), so the local bootstrap below runs with numpy equivalents of the same metric:
# the resampling and the interval are the local engine's, and each equivalent is asserted equal
# to the sklearn metric on the full data before it is used.


def _fast_log_loss(y, pred, score):
    p = np.clip(np.asarray(score, dtype=float), 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _fast_brier(y, pred, score):
    return float(np.mean((np.asarray(score, dtype=float) - y) ** 2))


def _average_precision_of_ranks(y, pred, rank):
    """sklearn's average precision (a step sum over distinct thresholds) of scores given as
    dense ranks 0..k-1: average precision depends on the order of the scores only, and integer
    ranks are bins already, so each resample costs two bincounts instead of a sort."""
    positives = np.bincount(rank, weights=y)[::-1]
    rows = np.bincount(rank)[::-1]
    used = rows > 0  # a threshold no row of this resample sits at adds no recall
    tp, seen = np.cumsum(positives)[used], np.cumsum(rows)[used]
    return float(np.sum(positives[used] * tp / seen) / tp[-1])


def _regression_twin(name):
    def fn(y, pred, score):
        error = pred - y
        if name == "mae":
            return float(np.mean(np.abs(error)))
        if name == "rmse":
            return float(np.sqrt(np.mean(error * error)))
        if name == "mape":
            return float(np.mean(np.abs(error) / np.maximum(np.abs(y), np.finfo(float).eps)))
        return float(1 - np.sum(error * error) / np.sum((y - y.mean()) ** 2))

    return fn


def _macro(kind):
    """Macro precision/recall/f1 over class codes 0..2 (the labels coded by their index)."""

    def fn(y, pred, score):
        confusion = np.bincount(y * 3 + pred, minlength=9).reshape(3, 3).astype(float)
        hit = np.diag(confusion)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.nan_to_num(hit / confusion.sum(axis=0))
            recall = np.nan_to_num(hit / confusion.sum(axis=1))
            f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
        present = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
        return float({"precision": precision, "recall": recall, "f1": f1}[kind][present].mean())

    return fn


def _codes(labels):
    return np.searchsorted(CLASSES, np.asarray(labels, dtype=str))


FAST = {
    ("binary_classification", "log_loss"): _fast_log_loss,
    ("binary_classification", "brier_score"): _fast_brier,
    ("binary_classification", "average_precision"): _average_precision_of_ranks,
    **{("regression", name): _regression_twin(name) for name in ("mae", "rmse", "r2", "mape")},
    **{("multiclass", kind): _macro(kind) for kind in ("precision", "recall", "f1")},
}


def _reference(task: str, name: str, data: dict) -> tuple:
    """(metric, y, candidate, baseline) for the local engine: its own metric, or a numpy twin
    shown equal to it on the full data. Multiclass labels go in as class codes (a one-to-one
    relabelling, so every count and metric is unchanged; strings cost sklearn a minute here)."""
    metric = get_metric(name, task)
    fast = FAST.get((task, name))
    y, models = data["y"], data["models"]
    if fast is None:  # accuracy, roc_auc (analytic), binary counts (multinomial), ECE (numpy)
        return (metric, y, *models)
    if task == "multiclass":
        coded = [Predictions(_codes(m.y_pred)) for m in models]
        for model, twin in zip(models, coded, strict=True):
            expected = metric.fn(y, model.y_pred, None)
            assert fast(_codes(y), twin.y_pred, None) == pytest.approx(expected, abs=1e-12)
        return (dataclasses.replace(metric, fn=fast), _codes(y), *coded)
    if name == "average_precision":  # scores as dense ranks over both models: same order
        ranks = np.unique(np.concatenate([m.y_score for m in models]), return_inverse=True)[1]
        ranked = [Predictions(m.y_pred, r) for m, r in zip(models, np.split(ranks, 2), strict=True)]
        for model, twin in zip(models, ranked, strict=True):
            expected = metric.fn(y, model.y_pred, model.y_score)
            assert fast(y, None, twin.y_score) == pytest.approx(expected, abs=1e-12)
        return (dataclasses.replace(metric, fn=fast), y, *ranked)
    for model in models:
        expected = metric.fn(y, model.y_pred, model.y_score)
        assert fast(y, model.y_pred, model.y_score) == pytest.approx(expected, abs=1e-12)
    return (dataclasses.replace(metric, fn=fast), y, *models)


# ----------------------------------------------------------------------------- 1. additivity


@pytest.mark.parametrize("task", list(DATA))
def test_statistics_do_not_depend_on_partitions_or_row_order(task):
    rows = 11_000  # more than two CHUNK_ROWS: parts straddle the chunk boundaries
    data = DATA[task](rows, seed=3)
    layout = _layout(task, data, resamples=60)
    whole = _accumulate(layout, data, np.arange(rows))

    rng = np.random.default_rng(11)
    order = rng.permutation(rows)
    parts = np.split(order, [1_234, 1_234 + 6_500])  # 1234, 6500, 3266 rows
    merged = sufficient.empty(layout)
    for part in (parts[2], parts[0], parts[1]):  # parts arrive in any order
        merged = merged.merge(_accumulate(layout, data, part))
    np.testing.assert_allclose(merged.resampled, whole.resampled, rtol=1e-10, atol=1e-8)
    np.testing.assert_array_equal(merged.fine, whole.fine)

    shuffled = sufficient.empty(layout)
    for part in parts:
        shuffled = shuffled.merge(_accumulate(layout, data, rng.permutation(part)))
    np.testing.assert_allclose(shuffled.resampled, whole.resampled, rtol=1e-10, atol=1e-8)
    # the resamples really vary (a zero weight matrix would pass the checks above)
    assert np.ptp(whole.resampled[1:, layout.offsets["rows"]]) > 0
    assert whole.resampled[0, layout.offsets["rows"]] == rows


def test_an_empty_part_adds_nothing():
    data = _binary(100, seed=1)
    layout = _layout("binary_classification", data, resamples=20)
    stats = _accumulate(layout, data, np.arange(100))
    nothing = _accumulate(layout, data, np.arange(0))
    merged = nothing.merge(stats)
    np.testing.assert_array_equal(merged.resampled, stats.resampled)
    np.testing.assert_array_equal(merged.fine, stats.fine)


# ----------------------------------------------------------------------------- 2. agreement

CASES = (
    [("binary_classification", name) for name in sufficient.SUPPORTED["binary_classification"]]
    + [("multiclass", name) for name in sufficient.SUPPORTED["multiclass"]]
    + [("regression", name) for name in sufficient.SUPPORTED["regression"]]
)


@pytest.mark.parametrize(("task", "name"), CASES)
def test_points_and_intervals_agree_with_the_local_engine(large, task, name):
    data = large[task]
    layout, stats = data["layout"], data["stats"]
    baseline = data["models"][1]
    reference = _reference(task, name, data)
    local_candidate, local_delta = bootstrap_metric(
        *reference, BootstrapSettings(RESAMPLES, CONFIDENCE, seed=0)
    )
    metric = get_metric(name, task)
    estimate, delta, base_point = sufficient.estimates(layout, stats, name, CONFIDENCE)

    point_tolerance = BINNED if name in ("roc_auc", "average_precision") else EXACT
    assert estimate.value == pytest.approx(local_candidate.value, abs=point_tolerance)
    assert delta.value == pytest.approx(local_delta.value, abs=2 * point_tolerance)
    assert base_point == pytest.approx(
        float(metric.fn(data["y"], baseline.y_pred, baseline.y_score)), abs=point_tolerance
    )
    for ours, local in ((estimate, local_candidate), (delta, local_delta)):
        width = local.high - local.low
        assert width > 0
        assert ours.low <= ours.value <= ours.high or name == "expected_calibration_error"
        assert ours.low == pytest.approx(local.low, abs=WIDTH_SHARE * width)
        assert ours.high == pytest.approx(local.high, abs=WIDTH_SHARE * width)


def test_multiclass_uses_every_class():
    """The string labels are the confusion matrix's rows: a 4x4 matrix (3 classes + unknown)."""
    data = _multiclass(300, seed=2)
    layout = _layout("multiclass", data, resamples=10)
    assert layout.classes == CLASSES
    stats = _accumulate(layout, data, np.arange(300))
    start = layout.offsets["confusion0"]
    confusion = stats.resampled[0, start : start + 16].reshape(4, 4)
    assert confusion[:3, :3].sum() == 300
    assert confusion[3].sum() == confusion[:, 3].sum() == 0
    for i, label in enumerate(CLASSES):
        assert confusion[i].sum() == np.sum(data["y"] == label)


# ----------------------------------------------------------------------------- 3. gates


def test_a_clearly_worse_candidate_fails_its_baseline_gate():
    data = _binary(ROWS, seed=5, noise=(2.0, 1.0))  # candidate noisier: lower ROC AUC
    layout = _layout("binary_classification", data)
    stats = _accumulate(layout, data, np.arange(ROWS))
    candidate, delta, base_point = sufficient.estimates(layout, stats, "roc_auc", CONFIDENCE)
    assert base_point - candidate.value > 0.03
    assert delta.high < 0  # the whole interval below zero
    outcome = parse_gate("roc_auc", ">= baseline").check(candidate, delta)
    assert outcome.verdict == "fail", outcome.message


def test_the_same_model_twice_is_a_tie_and_no_improvement():
    data = _binary(ROWS, seed=6)
    data["models"][1] = data["models"][0]
    layout = _layout("binary_classification", data)
    stats = _accumulate(layout, data, np.arange(ROWS))
    for name in ("roc_auc", "f1", "log_loss"):
        candidate, delta, _ = sufficient.estimates(layout, stats, name, CONFIDENCE)
        assert delta.low <= 0 <= delta.high
        outcome = parse_gate(name, ">= baseline + 0.01").check(candidate, delta)
        assert outcome.verdict != "pass", outcome.message


def test_two_equally_good_models_give_an_interval_around_zero():
    data = _binary(ROWS, seed=8, noise=(1.0, 1.0))  # same quality, independent errors
    layout = _layout("binary_classification", data)
    stats = _accumulate(layout, data, np.arange(ROWS))
    candidate, delta, _ = sufficient.estimates(layout, stats, "roc_auc", CONFIDENCE)
    assert delta.low < 0 < delta.high
    assert parse_gate("roc_auc", ">= baseline + 0.01").check(candidate, delta).verdict == "fail"
    assert parse_gate("roc_auc", ">= baseline").check(candidate, delta).verdict == "inconclusive"


# ----------------------------------------------------------------------------- 4. weights


@pytest.fixture(scope="module")
def keys():
    return np.random.default_rng(0).integers(0, 2**63, size=200_000, dtype=np.uint64)


def test_poisson_weights_have_the_poisson_moments(keys):
    weights = sufficient.poisson_weights(keys, 50, seed=3)
    assert weights.shape == (len(keys), 51)
    assert weights.dtype == np.float32
    assert np.all(weights[:, 0] == 1.0)
    draws = weights[:, 1:].astype(np.float64)
    assert np.all(draws == np.round(draws)) and draws.min() == 0
    # 10M draws: the standard errors are ~3e-4 (mean), ~5e-4 (variance), ~1.5e-4 (P(0))
    assert draws.mean() == pytest.approx(1.0, abs=0.005)
    assert draws.var() == pytest.approx(1.0, abs=0.01)
    assert np.mean(draws == 0) == pytest.approx(math.exp(-1), abs=0.003)
    assert np.mean(draws == 1) == pytest.approx(math.exp(-1), abs=0.003)
    assert np.mean(draws == 2) == pytest.approx(math.exp(-1) / 2, abs=0.003)
    # every resample on its own, too (200k draws: SE ~2.2e-3 for the mean)
    assert np.abs(draws.mean(axis=0) - 1).max() < 0.015


def test_poisson_weights_depend_on_key_and_seed_only(keys):
    sample = keys[:20_000]
    first = sufficient.poisson_weights(sample, 40, seed=9)
    np.testing.assert_array_equal(first, sufficient.poisson_weights(sample.copy(), 40, seed=9))
    order = np.random.default_rng(1).permutation(len(sample))
    np.testing.assert_array_equal(
        first[order], sufficient.poisson_weights(sample[order], 40, seed=9)
    )
    np.testing.assert_array_equal(first[:5_000], sufficient.poisson_weights(sample[:5_000], 40, 9))
    other = sufficient.poisson_weights(sample, 40, seed=10)
    # two independent Poisson(1) draws are equal with probability sum p_k^2 ~ 0.31
    assert np.mean(other[:, 1:] != first[:, 1:]) > 0.6
    np.testing.assert_array_equal(other[:, 0], first[:, 0])


def test_resample_columns_are_not_copies(keys):
    draws = sufficient.poisson_weights(keys[:50_000], 40, seed=4)[:, 1:].astype(np.float64)
    same = (draws[:, :, None] == draws[:, None, :]).mean(axis=0)
    off_diagonal = ~np.eye(40, dtype=bool)
    assert same[off_diagonal].max() < 0.4  # ~0.31 for independent columns
    correlation = np.corrcoef(draws, rowvar=False)[off_diagonal]
    assert np.abs(correlation).max() < 0.03  # SE ~0.0045 at 50k rows, 780 pairs


def test_duplicate_rows_share_their_weights():
    frame = pd.DataFrame({"a": [1, 2, 1, 3], "b": ["x", "y", "x", "x"]})
    keys = sufficient.row_keys(frame)
    assert keys[0] == keys[2] and len(set(keys.tolist())) == 3
    weights = sufficient.poisson_weights(keys, 30, seed=0)
    np.testing.assert_array_equal(weights[0], weights[2])


# ----------------------------------------------------------------------------- 5. one class


def test_one_class_only_gives_nan_roc_auc_that_fails_the_gate():
    data = _binary(2_000, seed=4)
    data["y"] = np.zeros(2_000, dtype=np.int64)
    layout = _layout("binary_classification", data, resamples=100)
    stats = _accumulate(layout, data, np.arange(2_000))
    assert np.isnan(sufficient.metric_values(layout, stats, "roc_auc", 0)[0])
    candidate, delta, base_point = sufficient.estimates(layout, stats, "roc_auc", CONFIDENCE)
    assert math.isnan(candidate.value) and math.isnan(delta.value) and math.isnan(base_point)
    for expression, subject in ((">= 0.5", None), (">= baseline - 0.5", delta)):
        outcome = parse_gate("roc_auc", expression).check(candidate, subject)
        assert outcome.verdict == "fail"
        assert "NaN" in outcome.message
    # the local engine says the same
    local, _ = bootstrap_metric(
        get_metric("roc_auc", "binary_classification"), data["y"], data["models"][0], None
    )
    assert math.isnan(local.value)


def test_models_with_different_numbers_of_distinct_scores_are_both_ranked_exactly():
    """A tree model has a few hundred distinct scores, a linear one thousands: their fine edges
    differ in length (found by `mlci run` on Spark comparing a degraded retrain with
    production). Each model's ROC AUC and average precision must still be its own."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    data = _binary(ROWS, seed=11)
    coarse_scores = np.round(data["models"][0].y_score, 2)  # about 100 distinct values
    data["models"][0] = Predictions((coarse_scores >= 0.5).astype(np.int64), coarse_scores)
    layout = _layout("binary_classification", data)
    assert len(layout.fine_edges[0]) < len(layout.fine_edges[1])
    stats = _accumulate(layout, data, np.arange(ROWS))
    for name, exact in (("roc_auc", roc_auc_score), ("average_precision", average_precision_score)):
        candidate, delta, base = sufficient.estimates(layout, stats, name, CONFIDENCE)
        y = data["y"]
        assert candidate.value == pytest.approx(exact(y, coarse_scores), abs=1e-9)
        assert base == pytest.approx(exact(y, data["models"][1].y_score), abs=2e-4)
        assert delta.low < candidate.value - base < delta.high
