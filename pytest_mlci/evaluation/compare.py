"""Paired bootstrap: candidate and baseline are resampled on the *same* rows.

Pairing matters: both models see the same hard and easy rows in each resample, so the
interval of the delta is far narrower than comparing two independent intervals, and a
one-point difference can be told apart from noise with a realistic evaluation set. The
resampling is seeded, so a verdict is reproducible run to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_mlci.evaluation.metrics import Metric
from pytest_mlci.gates import Estimate


@dataclass(frozen=True)
class Predictions:
    """What one model said about the evaluation rows."""

    y_pred: Any
    y_score: Any = None


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
    n = len(y_true)
    point = float(metric.fn(y_true, candidate.y_pred, candidate.y_score))
    base_point = float(metric.fn(y_true, baseline.y_pred, baseline.y_score)) if baseline else None
    rng = np.random.default_rng(settings.seed)
    cand_samples = np.empty(settings.resamples)
    delta_samples = np.empty(settings.resamples) if baseline else None
    for i in range(settings.resamples):
        idx = rng.integers(0, n, n)
        value = metric.fn(y_true[idx], _take(candidate.y_pred, idx), _take(candidate.y_score, idx))
        cand_samples[i] = value
        if baseline is not None and delta_samples is not None:
            base = metric.fn(y_true[idx], _take(baseline.y_pred, idx), _take(baseline.y_score, idx))
            delta_samples[i] = value - base
    alpha = (1.0 - settings.confidence) / 2.0
    candidate_est = _interval(point, cand_samples, alpha)
    if baseline is None or delta_samples is None or base_point is None:
        return candidate_est, None
    return candidate_est, _interval(point - base_point, delta_samples, alpha)


def _take(values: Any, idx: Any) -> Any:
    return None if values is None else values[idx]


def _interval(point: float, samples: Any, alpha: float) -> Estimate:
    import numpy as np

    if np.isnan(samples).any() or np.isnan(point):
        return Estimate(float("nan"), float("nan"), float("nan"))
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return Estimate(point, float(low), float(high))
