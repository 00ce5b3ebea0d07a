"""Fairness: per-group metrics and the gaps between groups, with paired intervals.

The per-group table comes from fairlearn's ``MetricFrame``. The gaps are computed here from
confusion cells with fairlearn's definitions (tests check they equal fairlearn's
``demographic_parity_difference`` and friends to 1e-12), because the same cells give the
intervals by the same exact trick as the count metrics: every quantity here
depends only on how many rows fall in each cell of (group, label, candidate prediction,
baseline prediction), so a row resample is a multinomial draw of those cell counts.

A group with fewer rows than ``min_group_size`` in the evaluation data is reported but left
out of every gap: a handful of rows would otherwise decide the verdict by noise.

Gate names:
``fairness.demographic_parity_difference`` / ``_ratio``, ``fairness.equalized_odds_difference``,
``fairness.equal_opportunity_difference``, and ``fairness.gap.<metric>`` for the largest
difference of accuracy, precision, recall, f1 or selection_rate between groups. With several
protected attributes a gate is judged on the worst of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_mlci.evaluation.compare import percentile_interval
from pytest_mlci.gates import Estimate

FAIRNESS_METRICS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
)
GAP_METRICS = ("accuracy", "precision", "recall", "f1", "selection_rate")
LOWER_IS_BETTER = {
    "demographic_parity_difference": True,
    "demographic_parity_ratio": False,
    "equalized_odds_difference": True,
    "equal_opportunity_difference": True,
}


def fairness_names() -> list[str]:
    """Every valid ``fairness.*`` gate name."""
    return [f"fairness.{n}" for n in FAIRNESS_METRICS] + [f"fairness.gap.{m}" for m in GAP_METRICS]


@dataclass(frozen=True)
class GroupTable:
    """Per-group counts and metrics for one protected attribute (a report table)."""

    attribute: str
    rows: list[dict[str, Any]]
    excluded: tuple[str, ...]


def group_table(
    attribute: str, groups: Any, y_true: Any, y_pred: Any, min_group_size: int
) -> GroupTable:
    """fairlearn's MetricFrame by group: count, selection rate, accuracy, recall, precision."""
    from fairlearn.metrics import MetricFrame, count, selection_rate
    from sklearn.metrics import accuracy_score, precision_score, recall_score

    frame = MetricFrame(
        metrics={
            "count": count,
            "selection_rate": selection_rate,
            "accuracy": accuracy_score,
            "recall": lambda t, p: recall_score(t, p, zero_division=0),
            "precision": lambda t, p: precision_score(t, p, zero_division=0),
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    table = frame.by_group.reset_index()
    rows = []
    excluded = []
    for record in table.to_dict(orient="records"):
        group = str(record.pop(table.columns[0]))
        small = int(record["count"]) < min_group_size
        if small:
            excluded.append(group)
        rows.append({"group": group, **{k: float(v) for k, v in record.items()}, "excluded": small})
    return GroupTable(attribute, rows, tuple(excluded))


def fairness_estimate(
    name: str,
    groups_by_attribute: dict[str, Any],
    y_true: Any,
    candidate_pred: Any,
    baseline_pred: Any | None,
    *,
    min_group_size: int,
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[Estimate, Estimate | None, float | None]:
    """Candidate estimate, paired delta (or None) and baseline point, worst attribute first."""
    import numpy as np

    worst: tuple[Estimate, Estimate | None, float | None] | None = None
    for groups in groups_by_attribute.values():
        result = _one_attribute(
            name, np.asarray(groups), y_true, candidate_pred, baseline_pred,
            min_group_size, resamples, confidence, seed,
        )  # fmt: skip
        if worst is None or _worse(name, result[0].value, worst[0].value):
            worst = result
    if worst is None:
        nan = float("nan")
        return Estimate(nan, nan, nan), None, None
    return worst


def _worse(name: str, value: float, than: float) -> bool:
    import math

    if math.isnan(value):
        return True
    lower_better = LOWER_IS_BETTER.get(name.removeprefix("fairness."), True)
    return value > than if lower_better else value < than


def _one_attribute(
    name: str,
    groups: Any,
    y_true: Any,
    candidate_pred: Any,
    baseline_pred: Any | None,
    min_group_size: int,
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[Estimate, Estimate | None, float | None]:
    import numpy as np

    labels, group_index = np.unique(groups.astype(str), return_inverse=True)
    sizes = np.bincount(group_index, minlength=len(labels))
    kept = np.flatnonzero(sizes >= min_group_size)
    nan = float("nan")
    if len(kept) < 2:  # no gap can be measured: fail closed with NaN
        return Estimate(nan, nan, nan), None, None
    y = np.asarray(y_true).astype(np.int64)
    cand = np.asarray(candidate_pred).astype(np.int64)
    base = np.asarray(baseline_pred).astype(np.int64) if baseline_pred is not None else None
    k = len(labels)
    cell = group_index * 8 + y * 4 + cand * 2 + (base if base is not None else 0)
    counts = np.bincount(cell, minlength=8 * k)
    n = int(counts.sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, counts / n, size=resamples)
    short = name.removeprefix("fairness.")
    cand_point = float(_statistic(short, counts[None, :], k, kept, model=1)[0])
    cand_samples = _statistic(short, draws, k, kept, model=1)
    alpha = (1 - confidence) / 2
    candidate = percentile_interval(cand_point, cand_samples, alpha)
    if base is None:
        return candidate, None, None
    base_point = float(_statistic(short, counts[None, :], k, kept, model=0)[0])
    base_samples = _statistic(short, draws, k, kept, model=0)
    delta = percentile_interval(cand_point - base_point, cand_samples - base_samples, alpha)
    return candidate, delta, base_point


def _statistic(name: str, draws: Any, k: int, kept: Any, *, model: int) -> Any:
    """The fairness statistic per resample row of ``draws`` (shape: resamples × 8k cells).

    ``model`` 1 reads the candidate's prediction bit, 0 the baseline's.
    """
    import numpy as np

    cells = draws.reshape(draws.shape[0], k, 2, 2, 2)  # group, label, cand, base
    # axes: resample, group, label, candidate, baseline; sum out the other model's prediction
    other_axis = 3 if model == 0 else 4
    by_label_pred = cells.sum(axis=other_axis)  # resamples, group, label, pred
    by_label_pred = by_label_pred[:, kept]
    tn = by_label_pred[..., 0, 0].astype(float)
    fp = by_label_pred[..., 0, 1].astype(float)
    fn = by_label_pred[..., 1, 0].astype(float)
    tp = by_label_pred[..., 1, 1].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = tn + fp + fn + tp
        selection = (tp + fp) / total
        tpr = tp / (tp + fn)
        fpr = fp / (fp + tn)
        if name == "demographic_parity_difference":
            return _spread(selection)
        if name == "demographic_parity_ratio":
            return np.nanmin(selection, axis=1) / np.nanmax(selection, axis=1)
        if name == "equal_opportunity_difference":
            return _spread(tpr)
        if name == "equalized_odds_difference":
            return np.maximum(_spread(tpr), _spread(fpr))
        if name.startswith("gap."):
            metric = name.removeprefix("gap.")
            per_group = {
                "selection_rate": selection,
                "accuracy": (tp + tn) / total,
                "recall": np.where(tp + fn > 0, tp / (tp + fn), 0.0),
                "precision": np.where(tp + fp > 0, tp / (tp + fp), 0.0),
                "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0),
            }[metric]
            return _spread(per_group)
    raise KeyError(name)


def _spread(per_group: Any) -> Any:
    import numpy as np

    return np.nanmax(per_group, axis=1) - np.nanmin(per_group, axis=1)
