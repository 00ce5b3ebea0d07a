"""Quality: null rates per column, duplicate rows, constant columns, label balance.

Why these four: each is a common way a pipeline breaks without breaking the schema. A
column that fills with nulls after an upstream rename, rows appended twice, a feature stuck at
one value, a label that lost its minority class: the model trains and scores, and is wrong.
Limits come from the dataset's config; by default nulls fail (fail closed). Duplicate rows
are reported with their rate and fail only above a declared ``max_duplicate_rate``: real data
sets repeat rows legitimately (one we met had 19 %), so a zero default failed honest data.

Why a tally: nulls, constants and labels only need counts, a minimum and a maximum (or two
distinct values) per column, and those add up across parts. So one :class:`QualityTally`
serves a whole frame in memory and a parquet dataset streamed batch by batch alike, and the
rows a user reads are the same in both modes. Duplicates are the exception: "does this row
repeat an earlier one" needs every row, so streaming counts them from 64-bit row hashes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pytest_mlci.config import DatasetConfig
from pytest_mlci.data.results import FAIL, PASS, CheckRow

_NONE = object()  # "no value seen yet" (None is a value a column can hold)


@dataclass
class QualityTally:
    """Per-column counts quality is judged from; ``add`` a frame or batch, in any order."""

    target: str | None = None
    rows: int = 0
    columns: list[str] = field(default_factory=list)
    nulls: dict[str, int] = field(default_factory=dict)
    low: dict[str, Any] = field(default_factory=dict)  # numeric columns: smallest value
    high: dict[str, Any] = field(default_factory=dict)  # numeric columns: largest value
    seen: dict[str, list[Any]] = field(default_factory=dict)  # others: up to 2 distinct values
    labels: dict[Any, int] = field(default_factory=dict)

    def add(self, frame: Any) -> None:
        """Count one pandas DataFrame (the whole data or one batch of it)."""
        self.rows += len(frame)
        for name in frame.columns:
            column = str(name)
            series = frame[name]
            if column not in self.nulls:
                self.columns.append(column)
                self.nulls[column] = 0
            values, nulls = _values_and_nulls(series)
            self.nulls[column] += nulls
            if _is_numeric(series):
                self._extremes(column, values, nulls)
            else:
                self._distinct(column, series, nulls)
        if self.target is not None and self.target in frame.columns:
            for key, count in frame[self.target].value_counts(dropna=True, sort=False).items():
                self.labels[key] = self.labels.get(key, 0) + int(count)

    def _extremes(self, column: str, values: Any, nulls: int) -> None:
        import numpy as np

        if nulls == len(values):
            return
        finite = values if nulls == 0 else values[~np.isnan(values)]
        low, high = finite.min(), finite.max()
        self.low[column] = min(self.low.get(column, low), low)
        self.high[column] = max(self.high.get(column, high), high)

    def _distinct(self, column: str, series: Any, nulls: int) -> None:
        seen = self.seen.setdefault(column, [])
        if len(seen) >= 2 or nulls == len(series):
            return
        for value in _two_distinct(series):
            if len(seen) < 2 and not any(_same(value, known) for known in seen):
                seen.append(value)

    def distinct(self, column: str) -> tuple[int, Any]:
        """(0, 1 or 2 meaning "two or more", one value) of ``column``'s non-null values."""
        if column in self.low:
            low, high = self.low[column], self.high[column]
            return (1 if low == high else 2), low
        seen = self.seen.get(column, [])
        return len(seen), (seen[0] if seen else None)


def _is_numeric(series: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def _values_and_nulls(series: Any) -> tuple[Any, int]:
    """The column's numpy values (numeric columns only, else None) and its null count."""
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return series.to_numpy(), 0  # numpy integers and booleans cannot hold a null
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = series.to_numpy()
        return values, int(np.count_nonzero(np.isnan(values)))
    if isinstance(dtype, pd.CategoricalDtype):
        return None, int(np.count_nonzero(series.cat.codes.to_numpy() < 0))
    nulls = int(series.isna().sum())
    if _is_numeric(series):  # nullable extension integers and floats
        return series.to_numpy(dtype="float64", na_value=math.nan), nulls
    return None, nulls


def _two_distinct(series: Any) -> list[Any]:
    """Up to two distinct non-null values of a non-numeric column, without counting them all."""
    import numpy as np
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        present = np.flatnonzero(np.bincount(codes[codes >= 0]))[:2]
        return [_plain(series.cat.categories[i]) for i in present]
    values = series.dropna().to_numpy()
    if len(values) == 0:
        return []
    first = values[0]
    other = np.flatnonzero(values != first)
    return [_plain(first)] + ([_plain(values[other[0]])] if len(other) else [])


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def check_quality(frame: Any, dataset: DatasetConfig, *, classification: bool) -> list[CheckRow]:
    """Every quality row of ``frame`` (a pandas DataFrame) under ``dataset``'s limits."""
    if len(frame) == 0:
        return [CheckRow("quality", "<frame>", "row count", 0, None, None, None, FAIL, "empty")]
    tally = QualityTally(target=dataset.target if classification else None)
    tally.add(frame)
    return quality_rows(tally, duplicate_rows(frame, dataset.max_duplicate_rate), dataset)


def quality_rows(
    tally: QualityTally, duplicates: CheckRow, dataset: DatasetConfig
) -> list[CheckRow]:
    """The quality rows of a finished tally (shared by the in-memory and streamed paths)."""
    if tally.rows == 0:
        return [CheckRow("quality", "<frame>", "row count", 0, None, None, None, FAIL, "empty")]
    result = null_rates(tally, dataset)
    result.append(duplicates)
    result.extend(constant_columns(tally, allowed=dataset.allow_constant))
    if tally.target is not None and tally.target in tally.nulls:
        result.append(label_balance(tally.target, tally.labels, dataset.min_label_share))
    return result


def null_rates(tally: QualityTally, dataset: DatasetConfig) -> list[CheckRow]:
    """A row per column that has nulls (or one row saying there are none)."""
    rows = tally.rows
    result = []
    for column in tally.columns:
        count = tally.nulls[column]
        if count == 0:
            continue
        limit = dataset.allowed_null_rate(column)
        rate = float(count) / rows
        verdict = FAIL if rate > limit else PASS
        result.append(
            CheckRow(
                "quality", column, "null rate", rate, None, rate, limit, verdict,
                f"{int(count):,} of {rows:,} rows null",
            )
        )  # fmt: skip
    if not result:
        result.append(CheckRow("quality", "<all>", "null rate", 0.0, None, 0.0, None, PASS))
    return result


def duplicate_rows(frame: Any, limit: float | None) -> CheckRow:
    """The share of rows that repeat an earlier row exactly (judged only against a limit)."""
    count = count_duplicates(frame)
    return duplicate_row(count, len(frame), limit)


def duplicate_row(count: int, rows: int, limit: float | None, note: str = "") -> CheckRow:
    """The duplicate-rows row for ``count`` repeats among ``rows`` rows.

    Without a ``limit`` (no ``max_duplicate_rate`` declared) the rate is reported and passes:
    whether repeated rows are wrong depends on the data, which only its owner can say.
    """
    rate = count / rows if rows else 0.0
    verdict = FAIL if limit is not None and rate > limit else PASS
    detail = f"{count:,} duplicate rows ({rate:.1%})" if count else ""
    if count and limit is None:
        detail += ", reported only: set max_duplicate_rate to fail above a limit"
    detail = "; ".join(part for part in (detail, note) if part)
    return CheckRow(
        "quality", "<frame>", "duplicate rows", rate, None, rate, limit, verdict, detail
    )


def count_duplicates(frame: Any) -> int:
    """How many rows repeat an earlier row exactly (as ``DataFrame.duplicated`` counts).

    Why not hash every row: a duplicate row repeats every one of its values, so a row whose
    value in *some* column is unique in that column cannot be a duplicate. Columns are
    visited most-likely-unique first (floats), each narrowing the candidate rows to those
    whose value repeats; with continuous features one sort of one column usually leaves no
    candidate at all. The few rows left are compared exactly by pandas.
    """
    import numpy as np
    import pandas as pd

    candidates: Any = None  # None: every row
    order = sorted(frame.columns, key=lambda c: _duplicate_rank(frame[c].dtype))
    for name in order:
        series = frame[name] if candidates is None else frame[name].iloc[candidates]
        repeats = _repeats(series)
        candidates = np.flatnonzero(repeats) if candidates is None else candidates[repeats]
        if len(candidates) < 2:
            return 0
    rows = frame if candidates is None else frame.iloc[candidates]
    return int(pd.DataFrame(rows).duplicated().sum())


def _duplicate_rank(dtype: Any) -> int:
    import numpy as np

    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return 0
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return 1
    return 2


def _repeats(series: Any) -> Any:
    """A mask of the values that occur more than once in ``series`` (nulls count as equal)."""
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        values = series.to_numpy()
    else:  # factorize's codes are equal exactly when duplicated() calls the values equal
        values = pd.factorize(series, use_na_sentinel=True)[0]
    ordered = np.sort(values)
    equal = ordered[1:] == ordered[:-1]
    nan = values.dtype.kind == "f"
    nan_rows = np.isnan(values) if nan else None
    repeated_nan = nan and int(np.count_nonzero(nan_rows)) > 1
    if not equal.any():
        return nan_rows if repeated_nan else np.zeros(len(values), dtype=bool)
    mask = np.isin(values, np.unique(ordered[1:][equal]))
    return mask | nan_rows if repeated_nan else mask


def constant_columns(tally: QualityTally, *, allowed: tuple[str, ...] = ()) -> list[CheckRow]:
    """A failing row per column holding a single value (or none) that is not allowed to."""
    result = []
    for column in tally.columns:
        if column in allowed or tally.rows < 2:
            continue
        distinct, value = tally.distinct(column)
        if distinct < 2:
            what = "only nulls" if distinct == 0 else f"only the value {_plain(value)!r}"
            result.append(
                CheckRow("quality", column, "constant", distinct, None, None, None, FAIL, what)
            )
    return result


def label_balance(target: str, counts: dict[Any, int], min_share: float) -> CheckRow:
    """The rarest class's share against ``min_share``; fewer than two classes fails."""
    total = sum(counts.values())
    if len(counts) < 2:
        only = "no labels" if not counts else f"only class {_plain(next(iter(counts)))!r}"
        return CheckRow("quality", target, "label balance", 0.0, None, 0.0, min_share, FAIL, only)
    rarest = min(counts, key=lambda key: counts[key])
    share = counts[rarest] / total
    verdict = FAIL if share < min_share else PASS
    return CheckRow(
        "quality", target, "label balance", share, None, share, min_share, verdict,
        f"rarest class {_plain(rarest)!r} is {share:.2%} of rows",
    )  # fmt: skip


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, so messages read 0, not np.int64(0)."""
    return value.item() if hasattr(value, "item") else value
