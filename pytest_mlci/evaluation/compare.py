"""Paired bootstrap: candidate and baseline are resampled on the *same* rows.

Pairing matters: both models see the same hard and easy rows in each resample, so the
interval of the delta is far narrower than comparing two independent intervals, and a
one-point difference can be told apart from noise with a realistic evaluation set. The
resampling is seeded, so a verdict is reproducible run to run.

An exact fast path avoids calling sklearn once per resample: precision, recall and f1
depend only on how many rows fall in each cell of (label, candidate prediction, baseline
prediction). Resampling rows with replacement is then the same as drawing those cell counts
from a multinomial, which costs nothing per row: a million rows cost what a thousand do.

Every other metric falls back to recomputing the metric function on resampled rows.

Two metrics use analytic intervals instead of the bootstrap:

* accuracy: the paired difference is judged with Tango's score interval (the interval that
  inverts McNemar's test) and the candidate alone with Wilson's. A percentile bootstrap
  collapses to [0, 0] when a small sample happens to hold no row where the models disagree,
  and would then pass a model that is in truth worse; a score interval stays open.
* ROC AUC: DeLong's variance of the AUC and of the paired AUC difference, from the
  placement values of each row (two rank passes instead of a thousand resamples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_mlci.evaluation.metrics import Metric
from pytest_mlci.gates import Estimate

COUNT_METRICS = ("accuracy", "precision", "recall", "f1")


@dataclass(frozen=True)
class Predictions:
    """What one model said about the evaluation rows."""

    y_pred: Any
    y_score: Any = None
    #: how the labels were obtained (see pytest_mlci.evaluation.scoring), for the report
    how: str = ""


@dataclass(frozen=True)
class BootstrapSettings:
    """How many resamples, which interval, which seed."""

    resamples: int = 500
    confidence: float = 0.95
    seed: int = 0


def bootstrap_metric(
    metric: Metric,
    y_true: Any,
    candidate: Predictions,
    baseline: Predictions | None,
    settings: BootstrapSettings = BootstrapSettings(),
) -> tuple[Estimate, Estimate | None]:
    """Estimate the candidate's metric and, given a baseline, the paired delta.

    Returns percentile intervals at ``settings.confidence``. The delta is candidate minus
    baseline, so for a greater-is-better metric a positive delta is an improvement.
    """
    import numpy as np

    y_true = np.asarray(y_true)
    point = float(metric.fn(y_true, candidate.y_pred, candidate.y_score))
    base_point = float(metric.fn(y_true, baseline.y_pred, baseline.y_score)) if baseline else None
    rng = np.random.default_rng(settings.seed)
    z = _z(settings.confidence)
    if metric.name == "accuracy":
        return _accuracy_score_intervals(y_true, candidate, baseline, point, base_point, z)
    if metric.name == "roc_auc" and _binary(y_true, candidate, None):
        return _delong_intervals(y_true, candidate, baseline, z)
    if metric.name in COUNT_METRICS and _binary(y_true, candidate, baseline):
        cand_samples, base_samples = _count_metric_samples(
            metric.name, y_true, candidate, baseline, settings.resamples, rng
        )
    else:
        cand_samples, base_samples = _generic_samples(
            metric, y_true, candidate, baseline, settings.resamples, rng
        )
    alpha = (1.0 - settings.confidence) / 2.0
    candidate_est = percentile_interval(point, cand_samples, alpha)
    if base_samples is None or base_point is None:
        return candidate_est, None
    return candidate_est, percentile_interval(
        point - base_point, cand_samples - base_samples, alpha
    )


def _z(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - (1 - confidence) / 2))


def _accuracy_score_intervals(
    y_true: Any,
    candidate: Predictions,
    baseline: Predictions | None,
    point: float,
    base_point: float | None,
    z: float,
) -> tuple[Estimate, Estimate | None]:
    import numpy as np

    right = np.asarray(candidate.y_pred) == y_true
    n = len(y_true)
    low, high = wilson_interval(int(right.sum()), n, z)
    candidate_est = Estimate(point, low, high)
    if baseline is None or base_point is None:
        return candidate_est, None
    base_right = np.asarray(baseline.y_pred) == y_true
    b = int(np.sum(right & ~base_right))  # only the candidate is right
    c = int(np.sum(~right & base_right))  # only the baseline is right
    d_low, d_high = tango_interval(b, c, n, z)
    return candidate_est, Estimate(point - base_point, d_low, d_high)


def wilson_interval(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson's score interval for a proportion (sound near 0 and 1, unlike the Wald one)."""
    import math

    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def tango_interval(b: int, c: int, n: int, z: float) -> tuple[float, float]:
    """Tango's (1998) score interval for a difference of paired proportions, (b - c) / n.

    ``b`` counts rows only the first model gets right, ``c`` rows only the second does. The
    interval holds every difference the score test (McNemar's at zero) does not reject; with
    no discordant rows at all it is about ±z²/(n + z²), not a point.
    """
    import math

    from scipy.optimize import brentq

    if n == 0:
        return float("nan"), float("nan")

    def score(delta: float) -> float:
        a = 2.0 * n
        bb = -b - c + (2.0 * n - b + c) * delta
        cc = -c * delta * (1.0 - delta)
        q = (math.sqrt(max(bb * bb - 4.0 * a * cc, 0.0)) - bb) / (2.0 * a)
        variance = n * (2.0 * q + delta * (1.0 - delta))
        if variance <= 0:
            return math.copysign(math.inf, (b - c) - n * delta) if (b - c) != n * delta else 0.0
        return ((b - c) - n * delta) / math.sqrt(variance)

    estimate = (b - c) / n
    edge = 1.0 - 1e-12
    low = -1.0 if score(-edge) <= z else brentq(lambda d: score(d) - z, -edge, estimate)
    high = 1.0 if score(edge) >= -z else brentq(lambda d: score(d) + z, estimate, edge)
    return float(low), float(high)


def _delong_intervals(
    y_true: Any, candidate: Predictions, baseline: Predictions | None, z: float
) -> tuple[Estimate, Estimate | None]:
    """DeLong et al. (1988): AUC variance from per-row placement values; paired covariance."""
    import numpy as np

    y = np.asarray(y_true).astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        nan = float("nan")
        return Estimate(nan, nan, nan), (Estimate(nan, nan, nan) if baseline else None)
    scores = [np.asarray(candidate.y_score, dtype=float)]
    if baseline is not None:
        scores.append(np.asarray(baseline.y_score, dtype=float))
    v10 = []
    v01 = []
    for s in scores:
        positive, negative = _placements(s, y, m, n)
        v10.append(positive)
        v01.append(negative)
    aucs = [float(v.mean()) for v in v10]
    s10 = np.atleast_2d(np.cov(np.vstack(v10)))
    s01 = np.atleast_2d(np.cov(np.vstack(v01)))
    covariance = s10 / m + s01 / n
    half = z * float(np.sqrt(max(covariance[0, 0], 0.0)))
    candidate_est = Estimate(aucs[0], max(0.0, aucs[0] - half), min(1.0, aucs[0] + half))
    if baseline is None:
        return candidate_est, None
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    delta = aucs[0] - aucs[1]
    half = z * float(np.sqrt(max(variance, 0.0)))
    return candidate_est, Estimate(delta, delta - half, delta + half)


def _placements(score: Any, positive: Any, m: int, n: int) -> tuple[Any, Any]:
    """Per positive: share of negatives scored lower; per negative: share of positives higher
    (ties count one half), from midranks."""
    from scipy.stats import rankdata

    all_ranks = rankdata(score)
    pos_ranks = rankdata(score[positive])
    neg_ranks = rankdata(score[~positive])
    v10 = (all_ranks[positive] - pos_ranks) / n
    v01 = 1.0 - (all_ranks[~positive] - neg_ranks) / m
    return v10, v01


def _binary(y_true: Any, candidate: Predictions, baseline: Predictions | None) -> bool:
    import numpy as np

    arrays = [y_true, candidate.y_pred] + ([baseline.y_pred] if baseline else [])
    return all(np.isin(np.unique(a), (0, 1)).all() for a in arrays)


def _count_metric_samples(
    name: str,
    y_true: Any,
    candidate: Predictions,
    baseline: Predictions | None,
    resamples: int,
    rng: Any,
) -> tuple[Any, Any]:
    """Resample the 8 cells of (label, candidate, baseline) as a multinomial; exact."""
    import numpy as np

    y = y_true.astype(np.int64)
    cand = np.asarray(candidate.y_pred).astype(np.int64)
    base = np.asarray(baseline.y_pred).astype(np.int64) if baseline else np.zeros_like(y)
    cells = np.bincount(y * 4 + cand * 2 + base, minlength=8)
    n = int(cells.sum())
    draws = rng.multinomial(n, cells / n, size=resamples)  # (resamples, 8)
    label, c_pred, b_pred = (np.arange(8) >> 2) & 1, (np.arange(8) >> 1) & 1, np.arange(8) & 1
    cand_samples = _from_cells(name, draws, label, c_pred, n)
    base_samples = _from_cells(name, draws, label, b_pred, n) if baseline else None
    return cand_samples, base_samples


def _from_cells(name: str, draws: Any, label: Any, pred: Any, n: int) -> Any:
    import numpy as np

    tp = draws[:, (label == 1) & (pred == 1)].sum(axis=1).astype(float)
    tn = draws[:, (label == 0) & (pred == 0)].sum(axis=1).astype(float)
    fp = draws[:, (label == 0) & (pred == 1)].sum(axis=1).astype(float)
    fn = draws[:, (label == 1) & (pred == 0)].sum(axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "accuracy":
            return (tp + tn) / n
        if name == "precision":
            return np.where(tp + fp > 0, tp / (tp + fp), 0.0)  # sklearn's zero_division=0
        if name == "recall":
            return np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)


def _generic_samples(
    metric: Metric,
    y_true: Any,
    candidate: Predictions,
    baseline: Predictions | None,
    resamples: int,
    rng: Any,
) -> tuple[Any, Any]:
    import numpy as np

    n = len(y_true)
    cand_samples = np.empty(resamples)
    base_samples = np.empty(resamples) if baseline else None
    for i in range(resamples):
        idx = rng.integers(0, n, n)
        cand_samples[i] = metric.fn(
            y_true[idx], _take(candidate.y_pred, idx), _take(candidate.y_score, idx)
        )
        if baseline is not None and base_samples is not None:
            base_samples[i] = metric.fn(
                y_true[idx], _take(baseline.y_pred, idx), _take(baseline.y_score, idx)
            )
    return cand_samples, base_samples


def _take(values: Any, idx: Any) -> Any:
    return None if values is None else values[idx]


def percentile_interval(point: float, samples: Any, alpha: float) -> Estimate:
    """The point estimate with the ``alpha`` and ``1 - alpha`` quantiles of its resamples;
    NaN anywhere gives NaN (which fails every gate)."""
    import numpy as np

    if np.isnan(samples).any() or np.isnan(point):
        return Estimate(float("nan"), float("nan"), float("nan"))
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return Estimate(point, float(low), float(high))
