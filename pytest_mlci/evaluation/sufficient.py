"""Metrics and paired intervals from additive statistics, with a Poisson bootstrap.

Why additive: data spread over many machines cannot be resampled row by row, but a metric
that is a function of sums (confusion counts, score histograms per class, sums of errors) can
be computed from the sums of each part. The **Poisson bootstrap** makes resampling additive
too: instead of drawing n rows with replacement (a multinomial over all rows, which needs them
in one place), every row is given an independent Poisson(1) weight per resample, and each
resample's statistics are weighted sums. For large n the two bootstraps agree (Hanley and
MacGibbon 2006; Chamandy et al. 2012, "Estimating uncertainty for massive data streams").

Why weights from a hash of the row: a row's weight in resample ``b`` is the Poisson(1)
inverse CDF of a 64-bit mix of (the row's content hash, ``b``, the seed). So the weights,
and the interval, do not depend on how the rows were split into partitions or in what order
they arrive; rerunning gives the same interval. Identical rows get identical weights; they
then move together, which makes the interval very slightly wider (conservative).

What is accumulated per resample (resample 0 has every weight 1: the point estimates):

* classification: each model's confusion matrix (label x prediction);
* binary scores: each model's counts per label in ``COARSE_BINS`` score bins (ROC AUC and
  average precision), its log-loss and Brier sums, and ten equal-width calibration bins;
* regression: sums of y, y^2 and each model's squared, absolute and relative errors.

Both models share each row's weights, so every resampled delta is paired. ROC AUC and average
precision from binned scores count a positive and a negative in the same bin as half a
correct pair; the point estimate uses ``FINE_BINS`` bins (an AUC within about 1e-4 of the
exact one on our tests) and each resample is shifted by the fine-minus-coarse difference of
its model, so the interval is centred where the fine estimate is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pytest_mlci.gates import Estimate

COARSE_BINS = 256
FINE_BINS = 1 << 16
CALIBRATION_BINS = 10
#: rows weighted at once: the (rows x resamples) weight matrix is 16 MB at 500 resamples
CHUNK_ROWS = 4096
SUPPORTED = {
    "binary_classification": ("accuracy", "precision", "recall", "f1", "roc_auc",
                              "average_precision", "log_loss", "brier_score",
                              "expected_calibration_error"),
    "multiclass": ("accuracy", "precision", "recall", "f1"),
    "regression": ("mae", "rmse", "r2", "mape"),
}  # fmt: skip
_GOLDEN = 0x9E3779B97F4A7C15
TABLE_BITS = 20
_TABLE: list[Any] = []


def _poisson_table(bits: int = TABLE_BITS) -> Any:
    """Poisson(1) inverse CDF tabulated at ``2**bits`` evenly spaced uniforms (uint8).

    Why a table: a lookup by the top bits of a 64-bit hash costs one gather per weight, where
    a search of the CDF costs a branchy binary search; the table's quantisation moves each
    Poisson probability by less than ``2**-bits`` (1e-6), far below any bootstrap's error.
    """
    import numpy as np

    pmf = [math.exp(-1.0) / math.factorial(k) for k in range(30)]
    cdf = np.cumsum(pmf)
    centres = (np.arange(1 << bits, dtype=np.float64) + 0.5) / (1 << bits)
    return np.searchsorted(cdf, centres, side="right").astype(np.uint8)


def poisson_weights(keys: Any, resamples: int, seed: int) -> Any:
    """(rows, resamples + 1) float32 weights: column 0 all ones, then Poisson(1) per resample.

    The weight of a row in resample ``b`` is a function of (row key, b, seed) only: the key is
    mixed once (splitmix64's finaliser), then multiplied by an odd 64-bit number drawn for
    ``(seed, b)`` and its top ``TABLE_BITS`` bits looked up in the Poisson table
    (multiply-shift hashing: one multiply per weight, so 500 resamples stay cheap).
    """
    import numpy as np

    if not _TABLE:
        _TABLE.append(_poisson_table())
    with np.errstate(over="ignore"):
        mixed = _mix(keys.astype(np.uint64) ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF))
        x = mixed[:, None] * _multipliers(resamples, seed)[None, :]
        x >>= np.uint64(64 - TABLE_BITS)
    weights = np.empty((len(keys), resamples + 1), dtype=np.float32)
    weights[:, 0] = 1.0
    weights[:, 1:] = _TABLE[0][x]
    return weights


def _multipliers(resamples: int, seed: int) -> Any:
    """One odd 64-bit multiplier per resample, fixed by (seed, resample)."""
    import numpy as np

    with np.errstate(over="ignore"):
        index = np.arange(1, resamples + 1, dtype=np.uint64) * np.uint64(_GOLDEN)
        salted = index + np.uint64((seed * 0xD1B54A32D192ED03) & 0xFFFFFFFFFFFFFFFF)
        return _mix(salted) | np.uint64(1)


def _mix(x: Any) -> Any:
    """splitmix64's finaliser: uint64 values to well-spread uint64 values (wraps on purpose)."""
    import numpy as np

    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def row_keys(frame: Any) -> Any:
    """A 64-bit content hash per row (pandas' row hash): the same wherever the row lands."""
    import pandas as pd

    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


@dataclass(frozen=True)
class Layout:
    """What is accumulated, agreed by the driver and every executor before the pass.

    ``score_edges`` are the coarse and fine bin edges of each model's positive-class score
    (from a sample scored on the driver); ``classes`` the label order of the confusion
    matrices (0, 1 for binary tasks).
    """

    task: str
    models: int
    classes: tuple[Any, ...]
    resamples: int
    seed: int
    scored: bool = False
    coarse_edges: tuple[Any, ...] = ()
    fine_edges: tuple[Any, ...] = ()
    offsets: dict[str, int] = field(default_factory=dict)
    width: int = 0

    @classmethod
    def build(cls, task: str, models: int, classes: Any, resamples: int, seed: int,
              coarse_edges: tuple[Any, ...] = (),
              fine_edges: tuple[Any, ...] = ()) -> Layout:  # fmt: skip
        """Column offsets of every statistic in the per-resample row."""
        offsets: dict[str, int] = {}
        width = 0

        def block(name: str, size: int) -> None:
            nonlocal width
            offsets[name] = width
            width += size

        block("rows", 1)
        k = len(classes) + 1  # the last index holds labels no model class names
        for m in range(models):
            if task == "regression":
                for name in ("sq", "abs", "rel"):
                    block(f"{name}{m}", 1)
            else:
                block(f"confusion{m}", k * k)
            if coarse_edges:
                block(f"bins{m}", 2 * (len(coarse_edges[m]) + 1))
                block(f"losses{m}", 2)  # log loss, Brier
                block(f"calibration{m}", 3 * CALIBRATION_BINS)
        if task == "regression":
            block("y", 1)
            block("y2", 1)
        return cls(task, models, tuple(classes), resamples, seed, bool(coarse_edges),
                   tuple(coarse_edges), tuple(fine_edges), offsets, width)  # fmt: skip


@dataclass
class Statistics:
    """The additive statistics of some rows: merge by adding (partitions, files, machines)."""

    resampled: Any  # (resamples + 1, layout.width)
    fine: Any  # (models, 2, fine bins + 1) unweighted score counts per label, or empty

    def merge(self, other: Statistics) -> Statistics:
        return Statistics(self.resampled + other.resampled, self.fine + other.fine)


def empty(layout: Layout) -> Statistics:
    import numpy as np

    # models differ in how many distinct scores (so fine edges) they have: pad to the widest
    fine_width = max(len(edges) + 1 for edges in layout.fine_edges) if layout.fine_edges else 0
    return Statistics(
        np.zeros((layout.resamples + 1, layout.width)),
        np.zeros((layout.models if layout.fine_edges else 0, 2, fine_width)),
    )


def accumulate(layout: Layout, y: Any, predictions: list[Any], keys: Any) -> Statistics:
    """The statistics of some rows: labels ``y`` (0/1 for binary tasks, class labels for
    multiclass, values for regression), each model's ``Predictions`` and the row keys."""
    import numpy as np
    from scipy import sparse

    stats = empty(layout)
    n = len(y)
    if n == 0:
        return stats
    rows_index, cols_index, values = _row_features(layout, y, predictions)
    features = sparse.csr_matrix((values, (rows_index, cols_index)), shape=(n, layout.width))
    for start in range(0, n, CHUNK_ROWS):
        stop = min(n, start + CHUNK_ROWS)
        weights = poisson_weights(keys[start:stop], layout.resamples, layout.seed)
        stats.resampled += (features[start:stop].T @ weights).T
    if layout.fine_edges:
        labels = np.asarray(y).astype(np.int64)
        for m, preds in enumerate(predictions):
            which = np.searchsorted(layout.fine_edges[m], preds.y_score, side="left")
            bins = len(layout.fine_edges[m]) + 1
            counts = np.bincount(labels * bins + which, minlength=2 * bins).reshape(2, -1)
            stats.fine[m, :, :bins] += counts
    return stats


def _row_features(layout: Layout, y: Any, predictions: list[Any]) -> tuple[Any, Any, Any]:
    """(row, column, value) triplets of each row's additive features."""
    import numpy as np

    n = len(y)
    rows = np.arange(n)
    parts_r, parts_c, parts_v = [rows], [np.full(n, layout.offsets["rows"])], [np.ones(n)]

    def add(column: Any, value: Any) -> None:
        parts_r.append(rows)
        parts_c.append(np.broadcast_to(column, n))
        parts_v.append(np.broadcast_to(np.asarray(value, dtype=float), n))

    if layout.task == "regression":
        truth = np.asarray(y, dtype=float)
        add(layout.offsets["y"], truth)
        add(layout.offsets["y2"], truth * truth)
        scale = np.maximum(np.abs(truth), np.finfo(np.float64).eps)  # sklearn's MAPE guard
        for m, preds in enumerate(predictions):
            error = np.asarray(preds.y_pred, dtype=float) - truth
            add(layout.offsets[f"sq{m}"], error * error)
            add(layout.offsets[f"abs{m}"], np.abs(error))
            add(layout.offsets[f"rel{m}"], np.abs(error) / scale)
        return np.concatenate(parts_r), np.concatenate(parts_c), np.concatenate(parts_v)
    k = len(layout.classes) + 1
    label_index = _class_index(layout, y)
    for m, preds in enumerate(predictions):
        predicted = _class_index(layout, preds.y_pred)
        add(layout.offsets[f"confusion{m}"] + label_index * k + predicted, 1.0)
        if layout.scored:
            score = np.asarray(preds.y_score, dtype=float)
            edges = layout.coarse_edges[m]
            which = np.searchsorted(edges, score, side="left")
            positive = np.asarray(y).astype(np.int64)
            add(layout.offsets[f"bins{m}"] + positive * (len(edges) + 1) + which, 1.0)
            clipped = np.clip(score, 1e-15, 1 - 1e-15)  # sklearn's log_loss clipping
            loss = -(positive * np.log(clipped) + (1 - positive) * np.log(1 - clipped))
            add(layout.offsets[f"losses{m}"], loss)
            add(layout.offsets[f"losses{m}"] + 1, (score - positive) ** 2)
            bucket = np.minimum((score * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1)
            base = layout.offsets[f"calibration{m}"] + 3 * bucket
            add(base, 1.0)
            add(base + 1, positive)
            add(base + 2, score)
    return np.concatenate(parts_r), np.concatenate(parts_c), np.concatenate(parts_v)


def _class_index(layout: Layout, values: Any) -> Any:
    import numpy as np

    values = np.asarray(values)
    if layout.task == "binary_classification":
        return values.astype(np.int64)
    lookup = {label: i for i, label in enumerate(layout.classes)}
    return np.fromiter((lookup.get(v, len(layout.classes)) for v in values.tolist()),
                       dtype=np.int64, count=len(values))  # fmt: skip


# --------------------------------------------------------------------------- metrics


def metric_values(layout: Layout, stats: Statistics, name: str, model: int) -> Any:
    """``name`` of model ``model`` for every resample (index 0: the point estimate)."""
    import numpy as np

    table = stats.resampled
    n = table[:, layout.offsets["rows"]]
    with np.errstate(divide="ignore", invalid="ignore"):
        if layout.task == "regression":
            sq, ab, rel = (table[:, layout.offsets[f"{s}{model}"]] for s in ("sq", "abs", "rel"))
            if name == "mae":
                return ab / n
            if name == "rmse":
                return np.sqrt(sq / n)
            if name == "mape":
                return rel / n
            total = table[:, layout.offsets["y2"]] - table[:, layout.offsets["y"]] ** 2 / n
            return 1.0 - sq / total  # r2
        if name in ("roc_auc", "average_precision"):
            values = _ranked(layout, table, name, model)
            fine = _fine_point(layout, stats, name, model)
            return values + (fine - values[0])  # centred on the fine estimate
        if name in ("log_loss", "brier_score"):
            return table[:, layout.offsets[f"losses{model}"] + (name == "brier_score")] / n
        if name == "expected_calibration_error":
            cells = table[:, layout.offsets[f"calibration{model}"] :][:, : 3 * CALIBRATION_BINS]
            cells = cells.reshape(len(table), CALIBRATION_BINS, 3)
            return np.abs(cells[:, :, 1] - cells[:, :, 2]).sum(axis=1) / n
        k = len(layout.classes) + 1
        start = layout.offsets[f"confusion{model}"]
        confusion = table[:, start : start + k * k].reshape(len(table), k, k)
        return _from_confusion(layout, confusion, name)


def _from_confusion(layout: Layout, confusion: Any, name: str) -> Any:
    """accuracy, or precision/recall/f1 (binary: of class 1; multiclass: macro over the
    classes present in the labels or predictions, as sklearn's ``average='macro'``)."""
    import numpy as np

    total = confusion.sum(axis=(1, 2))
    correct = np.trace(confusion, axis1=1, axis2=2)
    if name == "accuracy":
        return correct / total
    true_positive = np.diagonal(confusion, axis1=1, axis2=2)
    predicted = confusion.sum(axis=1)
    actual = confusion.sum(axis=2)
    precision = np.where(predicted > 0, true_positive / np.where(predicted > 0, predicted, 1), 0)
    recall = np.where(actual > 0, true_positive / np.where(actual > 0, actual, 1), 0)
    both = precision + recall
    f1 = np.where(both > 0, 2 * precision * recall / np.where(both > 0, both, 1), 0)
    chosen = {"precision": precision, "recall": recall, "f1": f1}[name]
    if layout.task == "binary_classification":
        return chosen[:, 1]
    present = (confusion[0].sum(axis=0) + confusion[0].sum(axis=1)) > 0
    present[-1] = False  # labels no class names: never a class of their own
    return chosen[:, present].mean(axis=1)


def _ranked(layout: Layout, table: Any, name: str, model: int) -> Any:
    """ROC AUC or average precision of every resample from its coarse score bins."""
    edges = layout.coarse_edges[model]
    start = layout.offsets[f"bins{model}"]
    counts = table[:, start : start + 2 * (len(edges) + 1)].reshape(len(table), 2, -1)
    return ranked_metric(counts[:, 0, :], counts[:, 1, :], name)


def _fine_point(layout: Layout, stats: Statistics, name: str, model: int) -> float:
    counts = stats.fine[model, :, : len(layout.fine_edges[model]) + 1]
    return float(ranked_metric(counts[None, 0, :], counts[None, 1, :], name)[0])


def ranked_metric(negatives: Any, positives: Any, name: str) -> Any:
    """ROC AUC or average precision from per-bin (weighted) counts, bins in ascending score.

    Rows in one bin are tied: a positive and a negative there count half (as tied scores do
    in ROC AUC), and for average precision a bin is one threshold.
    """
    import numpy as np

    negatives = np.asarray(negatives, dtype=float)
    positives = np.asarray(positives, dtype=float)
    total_pos = positives.sum(axis=1)
    total_neg = negatives.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "roc_auc":
            below = np.cumsum(negatives, axis=1) - negatives  # negatives in lower bins
            pairs = (positives * (below + 0.5 * negatives)).sum(axis=1)
            auc = pairs / (total_pos * total_neg)
            return np.where((total_pos > 0) & (total_neg > 0), auc, np.nan)
        # average precision: thresholds from the highest bin down
        tp = np.cumsum(positives[:, ::-1], axis=1)
        fp = np.cumsum(negatives[:, ::-1], axis=1)
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        gained = positives[:, ::-1] / total_pos[:, None]
        ap = (gained * precision).sum(axis=1)
        return np.where((total_pos > 0) & (total_neg > 0), ap, np.nan)


def estimates(
    layout: Layout, stats: Statistics, name: str, confidence: float
) -> tuple[Estimate, Estimate | None, float | None]:
    """Candidate estimate, paired delta (or None) and the baseline's point value."""
    from pytest_mlci.evaluation.compare import percentile_interval

    alpha = (1.0 - confidence) / 2.0
    candidate = metric_values(layout, stats, name, 0)
    estimate = percentile_interval(float(candidate[0]), candidate[1:], alpha)
    if layout.models < 2:
        return estimate, None, None
    baseline = metric_values(layout, stats, name, 1)
    delta = candidate - baseline
    return estimate, percentile_interval(float(delta[0]), delta[1:], alpha), float(baseline[0])


def score_edges(scores: Any, bins: int) -> Any:
    """Bin edges at the quantiles of a sample of scores (unique, ascending)."""
    import numpy as np

    scores = np.sort(np.asarray(scores, dtype=float))
    scores = scores[~np.isnan(scores)]
    if len(scores) == 0:
        return np.array([0.5])
    # nearest-rank quantiles of the sorted sample: one sort, however many bins are asked for
    ranks = np.minimum((np.arange(1, bins) / bins * len(scores)).astype(np.int64), len(scores) - 1)
    return np.unique(scores[ranks])
