"""The metric table: which metrics exist for which task, and how each is computed.

Names are listed without importing sklearn so that gates can be validated at collection
time for free; the computing functions import sklearn.metrics when first called.

Every metric takes ``(y_true, y_pred, y_score)`` where ``y_pred`` are hard predictions
(labels, or values for regression) and ``y_score`` is the positive-class probability for
binary classification (``None`` for other tasks).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_mlci.errors import ConfigError

MetricFn = Callable[[Any, Any, Any], float]


@dataclass(frozen=True)
class Metric:
    """A named metric: its function, direction and the tasks it applies to."""

    name: str
    fn: MetricFn
    greater_is_better: bool
    tasks: frozenset[str]
    needs_score: bool = False


def _accuracy(y_true, y_pred, y_score):
    from sklearn.metrics import accuracy_score

    return accuracy_score(y_true, y_pred)


def _f1(y_true, y_pred, y_score):
    from sklearn.metrics import f1_score

    return f1_score(y_true, y_pred, average=_average(y_true), zero_division=0)


def _precision(y_true, y_pred, y_score):
    from sklearn.metrics import precision_score

    return precision_score(y_true, y_pred, average=_average(y_true), zero_division=0)


def _recall(y_true, y_pred, y_score):
    from sklearn.metrics import recall_score

    return recall_score(y_true, y_pred, average=_average(y_true), zero_division=0)


def _roc_auc(y_true, y_pred, y_score):
    import numpy as np
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y_true)) < 2:
        return float("nan")  # undefined on one class: a NaN fails the gate, never passes
    return roc_auc_score(y_true, y_score)


def _log_loss(y_true, y_pred, y_score):
    from sklearn.metrics import log_loss

    return log_loss(y_true, y_score, labels=[0, 1])


def _brier(y_true, y_pred, y_score):
    from sklearn.metrics import brier_score_loss

    return brier_score_loss(y_true, y_score)


def _ece(y_true, y_pred, y_score, bins: int = 10):
    """Expected calibration error: |observed rate - mean score| over 10 equal-width bins,
    weighted by each bin's share of rows (sklearn has the curve, not this summary)."""
    import numpy as np

    score = np.asarray(y_score, dtype=float)
    truth = np.asarray(y_true, dtype=float)
    which = np.minimum((score * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    observed = np.bincount(which, weights=truth, minlength=bins)
    predicted = np.bincount(which, weights=score, minlength=bins)
    used = counts > 0
    return float(np.sum(np.abs(observed[used] - predicted[used])) / len(score))


def _mae(y_true, y_pred, y_score):
    from sklearn.metrics import mean_absolute_error

    return mean_absolute_error(y_true, y_pred)


def _rmse(y_true, y_pred, y_score):
    import numpy as np
    from sklearn.metrics import mean_squared_error

    return float(np.sqrt(mean_squared_error(y_true, y_pred)))


def _r2(y_true, y_pred, y_score):
    from sklearn.metrics import r2_score

    return r2_score(y_true, y_pred)


def _mape(y_true, y_pred, y_score):
    from sklearn.metrics import mean_absolute_percentage_error

    return mean_absolute_percentage_error(y_true, y_pred)


def _average(y_true) -> str:
    import numpy as np

    return "binary" if len(np.unique(y_true)) <= 2 else "macro"


_CLASSIFICATION = frozenset({"binary_classification", "multiclass"})
_BINARY = frozenset({"binary_classification"})
_REGRESSION = frozenset({"regression"})

METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("accuracy", _accuracy, True, _CLASSIFICATION),
        Metric("f1", _f1, True, _CLASSIFICATION),
        Metric("precision", _precision, True, _CLASSIFICATION),
        Metric("recall", _recall, True, _CLASSIFICATION),
        Metric("roc_auc", _roc_auc, True, _BINARY, needs_score=True),
        Metric("log_loss", _log_loss, False, _BINARY, needs_score=True),
        Metric("brier_score", _brier, False, _BINARY, needs_score=True),
        Metric("expected_calibration_error", _ece, False, _BINARY, needs_score=True),
        Metric("mae", _mae, False, _REGRESSION),
        Metric("rmse", _rmse, False, _REGRESSION),
        Metric("r2", _r2, True, _REGRESSION),
        Metric("mape", _mape, False, _REGRESSION),
    )
}


def metrics_for(task: str) -> dict[str, Metric]:
    """The metrics that make sense for ``task``."""
    return {name: m for name, m in METRICS.items() if task in m.tasks}


def get_metric(name: str, task: str) -> Metric:
    """Look a metric up for ``task``; a typo is a :class:`ConfigError` with the closest name."""
    available = metrics_for(task)
    if name in available:
        return available[name]
    close = difflib.get_close_matches(name, list(available), n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(available))}"
    raise ConfigError(f"unknown metric '{name}' for task {task}; {hint}", key=f"gates.{name}")
