"""Quality and drift of array data (a loader's ``(X, y)``): dense numpy or sparse CSR.

The rows are the table checks' rows (same tests, limits and verdicts, judged by
:func:`pytest_mlci.data.drift.judge` and :func:`~pytest_mlci.data.drift.effect_rows`), so a
report reads the same whatever shape the data had.

Why nothing is made dense: a TF-IDF matrix of a million rows and ten thousand features holds
~10 million numbers but would take 80 GB dense. A sparse column is fully described by its
stored (nonzero) values and how many rows it leaves implicit, which are zeros. Every
statistic here is computed from those two: null counts and extremes per column with one
``reduceat`` over the CSC arrays; the KS statistic and Wasserstein distance from the two
step ECDFs evaluated at the stored values and at 0 (exact); PSI bins at quantiles read off
the implicit sorted column (negatives, then the zeros, then positives); duplicate rows from
a 128-bit hash of each row's (column, value) pairs. Dense arrays go through the same code in
blocks of columns, so memory stays bounded by a block, not the matrix.

Why rows are bounded: with 10,000 features one row per feature and test is a report nobody
reads. Passing features are summarised in one row per test; failing ones are listed up to
:data:`MAX_ROWS_PER_TEST`, the rest counted in a summary row that carries their verdict.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pytest_mlci.config import DatasetConfig
from pytest_mlci.data.drift import (
    SCIPY_EXACT_N,
    Thresholds,
    effect_rows,
    ks_p_value,
    numeric_rows,
    psi,
    sorted_finite,
)
from pytest_mlci.data.loaded import LoadedData
from pytest_mlci.data.quality import duplicate_row, label_balance
from pytest_mlci.data.results import FAIL, PASS, CheckRow, no_columns_row, worst

MAX_ROWS_PER_TEST = 20  # non-passing rows listed per test before a summary row
BLOCK_BYTES = 64 * 1024 * 1024  # dense columns read per block
_ALL = "<features>"
ROWS_PER_CHUNK = 100_000  # CSR rows hashed per step


# ------------------------------------------------------------------------- columns


def column_stats(X: Any) -> tuple[Any, Any, Any, Any]:
    """Per column: null (NaN) count, smallest and largest non-null value, implicit zeros.

    A column of only nulls has NaN extremes. Sparse columns count their implicit zeros
    in the extremes (a stored 3.0 among zeros: smallest 0, largest 3).
    """
    import numpy as np
    import scipy.sparse as sp

    n, p = X.shape
    nulls = np.zeros(p, dtype=np.int64)
    low = np.full(p, np.nan)
    high = np.full(p, np.nan)
    zeros = np.zeros(p, dtype=np.int64)
    if sp.issparse(X):
        csc = X.tocsc()
        stored = np.diff(csc.indptr)
        zeros = n - stored
        data = np.asarray(csc.data, dtype="float64")
        nan = np.isnan(data)
        filled = stored > 0
        starts = csc.indptr[:-1][filled]
        if len(starts):
            # consecutive starts of non-empty columns delimit exactly their segments
            nulls[filled] = np.add.reduceat(nan.astype(np.int64), starts)
            low[filled] = np.minimum.reduceat(np.where(nan, np.inf, data), starts)
            high[filled] = np.maximum.reduceat(np.where(nan, -np.inf, data), starts)
        low[np.isposinf(low)] = np.nan  # stored values all NaN (the sentinels remain)
        high[np.isneginf(high)] = np.nan
        implicit = zeros > 0
        low[implicit] = np.fmin(low[implicit], 0.0)
        high[implicit] = np.fmax(high[implicit], 0.0)
        return nulls, low, high, zeros
    width = max(1, BLOCK_BYTES // max(1, n * X.itemsize))
    for first in range(0, p, width):
        block = np.asarray(X[:, first : first + width], dtype="float64")
        part = slice(first, first + block.shape[1])
        nan = np.isnan(block)
        nulls[part] = nan.sum(axis=0)
        some = nulls[part] < n
        low[part] = np.where(some, np.where(nan, np.inf, block).min(axis=0), np.nan)
        high[part] = np.where(some, np.where(nan, -np.inf, block).max(axis=0), np.nan)
    return nulls, low, high, zeros


# ------------------------------------------------------------------------- quality


def array_quality(
    data: LoadedData, dataset: DatasetConfig, *, classification: bool
) -> list[CheckRow]:
    """Null rate per feature, constant features, duplicate rows and label share of ``y``."""
    import numpy as np

    n = data.rows
    names = data.feature_names
    nulls, low, high, _ = column_stats(data.X)
    rows: list[CheckRow] = []
    for j in np.flatnonzero(nulls):
        column = names[j]
        limit = dataset.allowed_null_rate(column)
        rate = float(nulls[j]) / n
        rows.append(
            CheckRow("quality", column, "null rate", rate, None, rate, limit,
                     FAIL if rate > limit else PASS, f"{int(nulls[j]):,} of {n:,} rows null")
        )  # fmt: skip
    if not rows:
        rows.append(CheckRow("quality", "<all>", "null rate", 0.0, None, 0.0, None, PASS))
    count = duplicate_count(data.X, data.y)
    rows.append(duplicate_row(count, n, dataset.max_duplicate_rate, "rows compared with y"))
    if n >= 2:
        allowed = set(dataset.allow_constant)
        constant = np.flatnonzero(np.isnan(low) | (low == high))
        for j in constant:
            if names[j] in allowed:
                continue
            what = "only nulls" if math.isnan(low[j]) else f"only the value {_plain(low[j])!r}"
            rows.append(
                CheckRow("quality", names[j], "constant", 0 if math.isnan(low[j]) else 1,
                         None, None, None, FAIL, what)
            )  # fmt: skip
    if classification:
        values, counts = np.unique(np.asarray(data.y), return_counts=True)
        tally = {_plain(v): int(c) for v, c in zip(values, counts, strict=True)}
        rows.append(label_balance("y", tally, dataset.min_label_share))
    return bounded(rows)


def duplicate_count(X: Any, y: Any = None) -> int:
    """How many rows repeat an earlier row exactly (X's values and, if given, y's label).

    Each row is hashed to 128 bits (two independent 64-bit sums of a mixed hash of every
    (column, value) pair it holds): sums do not depend on the order the pairs are visited,
    so CSR rows are hashed from their stored pairs alone and dense rows column block by
    column block. A zero adds nothing, so a dense row and the same sparse row hash alike.
    Two different rows share a 128-bit hash with probability ~n^2 / 2^129: never, in practice.
    """
    import numpy as np
    import scipy.sparse as sp

    n = X.shape[0]
    first = np.zeros(n, dtype=np.uint64)
    second = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        if sp.issparse(X):
            bounds = X.indptr
            step = max(1, ROWS_PER_CHUNK)
            for low in range(0, n, step):  # a chunk of rows at a time: small temporaries
                high = min(n, low + step)
                part = slice(bounds[low], bounds[high])
                pair1, pair2 = _pair_hashes(X.indices[part], X.data[part])
                counts = np.diff(bounds[low : high + 1])
                filled = np.flatnonzero(counts)
                if len(filled):
                    # CSR stores a row's pairs together: sum each row's run at once
                    starts = bounds[low:high][filled] - bounds[low]
                    first[low + filled] += np.add.reduceat(pair1, starts, dtype=np.uint64)
                    second[low + filled] += np.add.reduceat(pair2, starts, dtype=np.uint64)
        else:
            width = max(1, BLOCK_BYTES // max(1, n * X.itemsize))
            for start in range(0, X.shape[1], width):
                block = np.asarray(X[:, start : start + width], dtype="float64")
                index = np.broadcast_to(
                    np.arange(start, start + block.shape[1], dtype=np.int64), block.shape
                )
                pair1, pair2 = _pair_hashes(index, block)
                first += pair1.sum(axis=1, dtype=np.uint64)
                second += pair2.sum(axis=1, dtype=np.uint64)
        if y is not None:
            import pandas as pd

            codes = pd.factorize(np.asarray(y), use_na_sentinel=False)[0].astype(np.uint64)
            first = _mix(first ^ _mix(codes + np.uint64(0x51ED27)))
            second = _mix(second ^ _mix(codes + np.uint64(0xA0761D)))
    pairs = np.stack([first, second], axis=1)
    unique = np.unique(pairs, axis=0)
    return int(n - len(unique))


def _pair_hashes(index: Any, values: Any) -> tuple[Any, Any]:
    """Two independent 64-bit hashes of each (column, value) pair; 0 where the value is 0."""
    import numpy as np

    v = np.asarray(values, dtype="float64") + 0.0  # -0.0 becomes 0.0
    v = np.where(np.isnan(v), np.nan, v)  # one NaN bit pattern
    bits = v.view(np.uint64)
    column = np.asarray(index).astype(np.uint64)
    zero = v == 0
    one = _mix(bits ^ _mix(column * np.uint64(0x9E3779B97F4A7C15) + np.uint64(1)))
    two = _mix(bits + _mix(column * np.uint64(0xC2B2AE3D27D4EB4F) + np.uint64(2)))
    one[zero] = 0
    two[zero] = 0
    return one, two


def _mix(x: Any) -> Any:
    """splitmix64's finaliser: every input bit changes about half the output bits."""
    import numpy as np

    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


# ------------------------------------------------------------------------- drift


def array_drift(
    reference: LoadedData, current: LoadedData, dataset: DatasetConfig
) -> list[CheckRow]:
    """Drift rows of each compared feature (by name) of two array datasets, bounded."""
    if dataset.drift_domain_auc is not None:
        from pytest_mlci.errors import ConfigError

        raise ConfigError(
            "multivariate drift needs table data; remove it for a loader returning (X, y)",
            key=f"datasets.{dataset.name}.drift_domain_auc",
        )
    wanted = list(dataset.drift_columns) or [
        c for c in reference.feature_names if c not in dataset.drift_ignore
    ]
    in_ref = {name: j for j, name in enumerate(reference.feature_names)}
    in_cur = {name: j for j, name in enumerate(current.feature_names)}
    rows = [
        CheckRow("drift", name, "present", None, None, None, None, FAIL,
                 "missing from the reference or the current data")
        for name in wanted if name not in in_ref or name not in in_cur
    ]  # fmt: skip
    compared = [name for name in wanted if name in in_ref and name in in_cur]
    if not compared:
        return rows or [no_columns_row("drift")]
    ref_columns = ColumnReader(reference.X)
    cur_columns = ColumnReader(current.X)

    def one(name: str) -> list[CheckRow]:
        limits = Thresholds.for_column(dataset, name)
        ref_values, ref_zeros = ref_columns.column(in_ref[name])
        cur_values, cur_zeros = cur_columns.column(in_cur[name])
        if ref_zeros == 0 and cur_zeros == 0:  # dense, or no implicit zero: the table path
            return numeric_rows(name, sorted_finite(ref_values), sorted_finite(cur_values), limits)
        return sparse_numeric_rows(
            name, sorted_finite(ref_values), ref_zeros, sorted_finite(cur_values), cur_zeros,
            limits,
        )  # fmt: skip

    workers = min(len(compared), os.cpu_count() or 1) or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for column_rows in pool.map(one, compared):
            rows.extend(column_rows)
    return bounded(rows, compared=compared)


class ColumnReader:
    """One column of X at a time: a sparse column's stored values and its implicit zeros
    (from one CSC copy, made once), or a dense column as it is (and no implicit zeros)."""

    def __init__(self, X: Any) -> None:
        import scipy.sparse as sp

        self.sparse = bool(sp.issparse(X))
        self.X = X.tocsc() if self.sparse else X
        self.n = int(X.shape[0])

    def column(self, j: int) -> tuple[Any, int]:
        if not self.sparse:
            return self.X[:, j], 0
        start, end = self.X.indptr[j], self.X.indptr[j + 1]
        return self.X.data[start:end], self.n - int(end - start)


def sparse_numeric_rows(
    column: str,
    ref_nonzero: Any,
    ref_zeros: int,
    cur_nonzero: Any,
    cur_zeros: int,
    limits: Thresholds,
) -> list[CheckRow]:
    """The ks, psi and wasserstein rows of a column given as sorted nonzeros plus a zero count.

    Equal to :func:`~pytest_mlci.data.drift.numeric_rows` on the column with its zeros
    written out (the tests check it), without writing them out.
    """
    import numpy as np

    n1, n2 = len(ref_nonzero) + ref_zeros, len(cur_nonzero) + cur_zeros
    if n1 == 0 or n2 == 0:
        return numeric_rows(column, np.empty(0), np.empty(0), limits)
    if max(n1, n2) <= SCIPY_EXACT_N:  # small: scipy's exact p-value wants the samples
        return numeric_rows(
            column, _written_out(ref_nonzero, ref_zeros), _written_out(cur_nonzero, cur_zeros),
            limits,
        )  # fmt: skip
    d, w1 = ks_and_wasserstein_with_zeros(ref_nonzero, ref_zeros, cur_nonzero, cur_zeros)
    edges = np.unique(implicit_quantiles(ref_nonzero, ref_zeros, np.arange(1, 10) / 10))
    index = psi(
        binned_with_zeros(ref_nonzero, ref_zeros, edges),
        binned_with_zeros(cur_nonzero, cur_zeros, edges),
    )
    scale = std_with_zeros(ref_nonzero, ref_zeros)
    distance = w1 / scale if scale > 0 else (0.0 if w1 == 0 else math.inf)
    note = "sparse"
    if index >= limits.psi or distance >= limits.distance:
        p = ks_p_value(d, n1, n2)  # the verdict rests on it: scipy's exact distribution
    else:
        # Below both thresholds the p-value cannot change the verdict (pass); the exact
        # distribution costs ~10 ms a column, the asymptotic one microseconds.
        from scipy import stats

        p = float(stats.kstwobign.sf(d * math.sqrt(n1 * n2 / (n1 + n2))))
        note = "sparse; asymptotic p-value"
    return effect_rows(column, "ks", d, p, index, w1, scale, n1, n2, limits, note=note)


def _written_out(nonzero: Any, zeros: int) -> Any:
    """A small column with its zeros as values, sorted (only below SCIPY_EXACT_N rows)."""
    import numpy as np

    return np.sort(np.concatenate([nonzero, np.zeros(zeros)]))


def ks_and_wasserstein_with_zeros(
    a: Any, zeros_a: int, b: Any, zeros_b: int
) -> tuple[float, float]:
    """Exact KS D and Wasserstein-1 of two samples, each sorted nonzeros plus implicit zeros.

    Both ECDFs are step functions that only change at a stored value or at 0, so the gap is
    evaluated there (``side='right'``, as scipy's ECDFs count ties) and its area summed over
    the steps between consecutive points.
    """
    import numpy as np

    n1, n2 = len(a) + zeros_a, len(b) + zeros_b
    points = np.unique(np.concatenate([a, b, [0.0]]))
    at_or_above_zero = points >= 0
    cdf_a = (np.searchsorted(a, points, side="right") + zeros_a * at_or_above_zero) / n1
    cdf_b = (np.searchsorted(b, points, side="right") + zeros_b * at_or_above_zero) / n2
    gap = np.abs(cdf_a - cdf_b)
    return float(gap.max()), float(np.dot(gap[:-1], np.diff(points)))


def implicit_quantiles(nonzero: Any, zeros: int, q: Any) -> Any:
    """``np.quantile`` (linear) of the sorted column negatives, zeros, positives, unwritten."""
    import numpy as np

    negatives = int(np.searchsorted(nonzero, 0.0, side="left"))
    n = len(nonzero) + zeros
    position = np.asarray(q, dtype="float64") * (n - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    t = position - low

    def element(index: Any) -> Any:
        shifted = np.clip(index - zeros, 0, max(len(nonzero) - 1, 0))
        direct = np.clip(index, 0, max(len(nonzero) - 1, 0))
        values = nonzero if len(nonzero) else np.zeros(1)
        return np.where(
            index < negatives, values[direct], np.where(index < negatives + zeros, 0.0,
                                                        values[shifted])
        )  # fmt: skip

    a, b = element(low), element(high)
    diff = b - a
    result = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
    return np.where(a == b, a, result)


def binned_with_zeros(nonzero: Any, zeros: int, edges: Any) -> Any:
    """Counts in (-inf, e1], ..., (ek, inf) of the column with its implicit zeros."""
    import numpy as np

    cumulative = np.searchsorted(nonzero, edges, side="right") + zeros * (edges >= 0)
    return np.diff(np.concatenate([[0], cumulative, [len(nonzero) + zeros]]))


def std_with_zeros(nonzero: Any, zeros: int) -> float:
    """Population standard deviation of the column with its implicit zeros."""
    import numpy as np

    n = len(nonzero) + zeros
    mean = float(np.sum(nonzero)) / n
    squares = float(np.sum((nonzero - mean) ** 2)) + zeros * mean * mean
    return math.sqrt(squares / n)


# ------------------------------------------------------------------------- rows


def bounded(rows: list[CheckRow], *, compared: list[str] | None = None) -> list[CheckRow]:
    """At most :data:`MAX_ROWS_PER_TEST` non-passing per-feature rows per test; the rest
    summarised.

    Passing per-feature rows fold into one summary row per test (drift: one ``features``
    row saying how many of the ``compared`` features are within their limits). Non-passing
    rows beyond the limit become a summary row carrying the worst verdict among them, so
    nothing is hidden from the verdict, only from the listing.
    """
    kept: list[CheckRow] = []
    listed: dict[tuple[str, str], int] = {}
    hidden: dict[tuple[str, str], list[str]] = {}
    passing: dict[tuple[str, str], int] = {}
    failing_features: set[str] = set()
    for row in rows:
        key = (row.check, row.test)
        if row.column in ("<all>", "<frame>", "y", _ALL):
            kept.append(row)
        elif row.verdict == PASS:
            passing[key] = passing.get(key, 0) + 1
        else:
            failing_features.add(row.column)
            if listed.get(key, 0) < MAX_ROWS_PER_TEST:
                listed[key] = listed.get(key, 0) + 1
                kept.append(row)
            else:
                hidden.setdefault(key, []).append(row.verdict)
    for (check, test), verdicts in hidden.items():
        kept.append(
            CheckRow(check, _ALL, test, len(verdicts), None, None, None, worst(verdicts),
                     f"and {len(verdicts):,} more not listed")
        )  # fmt: skip
    if compared is not None:
        passed = len(set(compared) - failing_features)
        kept.append(
            CheckRow("drift", _ALL, "features", len(compared), None, None, None,
                     worst(r.verdict for r in rows),
                     f"{passed:,} of {len(compared):,} features within their limits")
        )  # fmt: skip
    else:
        for (check, test), count in passing.items():
            kept.append(
                CheckRow(check, _ALL, test, count, None, None, None, PASS,
                         f"{count:,} features within their limits")
            )  # fmt: skip
    return kept


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
