"""Every metric name a gate may use, for validation at collection time (no heavy imports).

Plain metrics (``roc_auc``) are estimated with the paired bootstrap; ``fairness.*`` needs the
evaluation dataset's ``protected`` columns; ``latency.*``, ``throughput.*``, ``size.*`` and
``memory.*`` are measured on this machine.
"""

from __future__ import annotations

import difflib

from pytest_mlci.errors import ConfigError
from pytest_mlci.evaluation.cost import COST_METRICS
from pytest_mlci.evaluation.fairness import fairness_names
from pytest_mlci.evaluation.metrics import metrics_for

CLASSIFICATION = ("binary_classification",)


def metric_names(task: str) -> list[str]:
    """The gate names available for ``task``."""
    names = list(metrics_for(task))
    if task in CLASSIFICATION:
        names += fairness_names()
    return names + list(COST_METRICS)


def check_metric_name(name: str, task: str, *, protected: tuple[str, ...]) -> None:
    """Raise :class:`ConfigError` with the closest valid name for an unknown metric."""
    available = metric_names(task)
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
