"""Every metric name a gate may use, for validation at collection time (no heavy imports).

Plain metrics (``roc_auc``) are estimated with the paired bootstrap; ``fairness.*`` needs the
evaluation dataset's ``protected`` columns; ``latency.*``, ``throughput.*``, ``size.*`` and
``memory.*`` are measured on this machine. ``top_<k>_accuracy`` (multiclass) takes k from its
name; the names of ``[tool.mlci.metrics]`` (user metrics) are valid for every task.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

from pytest_mlci.errors import ConfigError
from pytest_mlci.evaluation.cost import COST_METRICS
from pytest_mlci.evaluation.fairness import fairness_names
from pytest_mlci.evaluation.metrics import TOP_K, TOP_K_HINT, get_metric, metrics_for

CLASSIFICATION = ("binary_classification",)


def metric_names(task: str, user: Collection[str] = ()) -> list[str]:
    """The gate names available for ``task`` (with ``user`` metrics' names)."""
    names = list(metrics_for(task)) + ([TOP_K_HINT] if task == "multiclass" else [])
    if task in CLASSIFICATION:
        names += fairness_names()
    return names + list(COST_METRICS) + list(user)


def check_metric_name(
    name: str, task: str, *, protected: tuple[str, ...], user: Collection[str] = ()
) -> None:
    """Raise :class:`ConfigError` with the closest valid name for an unknown metric."""
    available = metric_names(task, user)
    if task == "multiclass" and TOP_K.match(name):
        get_metric(name, task)  # k must be at least 1
        return
    if task == "multiclass" and name.startswith("top") and name not in available:
        raise ConfigError(
            f"unknown metric '{name}' for task {task}; top-k accuracy is written "
            "top_<k>_accuracy, e.g. top_3_accuracy",
            key=f"gates.{name}",
        )
    if name not in available:
        close = difflib.get_close_matches(name, available, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(available)}"
        raise ConfigError(f"unknown metric '{name}' for task {task}; {hint}", key=f"gates.{name}")
    if name.startswith("fairness.") and not protected:
        raise ConfigError(
            f"gate on '{name}' needs the protected attributes of the evaluation data; add "
            "protected = ['<column>'] to [tool.mlci.datasets.eval]",
            key=f"gates.{name}",
        )
