"""The metric table: which metrics exist for which task, and how each is computed.

Names are listed without importing sklearn so that gates can be validated at collection
time for free; the computing functions import sklearn.metrics when first called.

Every metric takes ``(y_true, y_pred, y_score)`` where ``y_pred`` are hard predictions
(labels, or values for regression) and ``y_score`` is the positive-class probability for
binary classification, the class-probability matrix (columns in the candidate model's
``classes_`` order) for multiclass, and ``None`` for regression or a model without
``predict_proba``.

``top_<k>_accuracy`` (``top_3_accuracy``) is a family, not a table entry: ``k`` is read from
the name so that a gate line says what it checks. User metrics (``[tool.mlci.metrics]``) are
built by :func:`user_metric` around the project's own ``(y_true, y_score) -> float``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_mlci.errors import CheckFailed, ConfigError

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


def _average_precision(y_true, y_pred, y_score):
    import numpy as np
    from sklearn.metrics import average_precision_score

    if len(np.unique(y_true)) < 2:
        return float("nan")  # undefined without both classes: NaN fails, never passes
    return average_precision_score(y_true, y_score)


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
        Metric("average_precision", _average_precision, True, _BINARY, needs_score=True),
        Metric("log_loss", _log_loss, False, _BINARY, needs_score=True),
        Metric("brier_score", _brier, False, _BINARY, needs_score=True),
        Metric("expected_calibration_error", _ece, False, _BINARY, needs_score=True),
        Metric("mae", _mae, False, _REGRESSION),
        Metric("rmse", _rmse, False, _REGRESSION),
        Metric("r2", _r2, True, _REGRESSION),
        Metric("mape", _mape, False, _REGRESSION),
    )
}


TOP_K = re.compile(r"^top_(?P<k>[0-9]+)_accuracy$")
TOP_K_HINT = "top_<k>_accuracy (e.g. top_3_accuracy)"
_MULTICLASS = frozenset({"multiclass"})


def top_k_metric(k: int, labels: Any = None) -> Metric:
    """``top_<k>_accuracy``: the share of rows whose label is among the k highest scores.

    ``labels`` are the score columns' classes; without them sklearn infers the classes from
    the labels present, which a bootstrap resample missing a rare class would break.
    """

    def top_k(y_true, y_pred, y_score):
        from sklearn.metrics import top_k_accuracy_score

        if y_score is None:
            raise CheckFailed(
                f"top_{k}_accuracy needs class probabilities; the model has no predict_proba"
            )
        return top_k_accuracy_score(y_true, y_score, k=k, labels=labels)

    return Metric(f"top_{k}_accuracy", top_k, True, _MULTICLASS, needs_score=True)


def user_metric(
    name: str, function: Callable[[Any, Any], Any], spec: str, greater_is_better: bool = True
) -> Metric:
    """A project's ``function(y_true, y_score) -> float`` as a metric for every task.

    ``y_score`` is what the model scores (see the module docstring); where there are no scores
    (regression, a classifier without ``predict_proba``) it is the predictions. A function
    that raises or returns something other than a number is reported with the config key that
    names it.
    """
    where = f"[tool.mlci.metrics] {name} = '{spec}'"

    def call(y_true, y_pred, y_score):
        score = y_pred if y_score is None else y_score
        try:
            value = function(y_true, score)
        except Exception as exc:
            raise CheckFailed(f"user metric {where} raised {type(exc).__name__}: {exc}") from None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise CheckFailed(
                f"user metric {where} returned {value!r}; it must return a number"
            ) from None

    tasks = frozenset({"binary_classification", "multiclass", "regression"})
    return Metric(name, call, greater_is_better, tasks, needs_score=True)


def is_builtin(name: str) -> bool:
    """Whether ``name`` is one of ours (for any task), which a user metric may not shadow."""
    return name in METRICS or TOP_K.match(name) is not None


def metrics_for(task: str) -> dict[str, Metric]:
    """The table's metrics that make sense for ``task`` (``top_<k>_accuracy`` aside)."""
    return {name: m for name, m in METRICS.items() if task in m.tasks}


def get_metric(name: str, task: str) -> Metric:
    """Look a built-in metric up for ``task``; a typo is a :class:`ConfigError` with the closest
    name. ``top_<k>_accuracy`` comes back without class labels (see :func:`top_k_metric`)."""
    available = metrics_for(task)
    if name in available:
        return available[name]
    top_k = TOP_K.match(name)
    if top_k and task in _MULTICLASS:
        k = int(top_k["k"])
        if k < 1:
            raise ConfigError(f"'{name}': k must be at least 1", key=f"gates.{name}")
        return top_k_metric(k)
    names = list(available) + ([TOP_K_HINT] if task in _MULTICLASS else [])
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(names))}"
    raise ConfigError(f"unknown metric '{name}' for task {task}; {hint}", key=f"gates.{name}")
