"""Quality: null rates per column, duplicate rows, constant columns, label balance.

Why these four: each is a common way a pipeline breaks without breaking the schema. A
column that fills with nulls after an upstream rename, rows appended twice, a feature stuck at
one value, a label that lost its minority class: the model trains and scores, and is wrong.
Limits come from the dataset's config; by default nulls and duplicates fail (fail closed).
"""

from __future__ import annotations

from typing import Any

from pytest_mlci.config import DatasetConfig
from pytest_mlci.data.results import FAIL, PASS, CheckRow


def check_quality(frame: Any, dataset: DatasetConfig, *, classification: bool) -> list[CheckRow]:
    """Every quality row of ``frame`` (a pandas DataFrame) under ``dataset``'s limits."""
    rows = len(frame)
    if rows == 0:
        return [CheckRow("quality", "<frame>", "row count", 0, None, None, None, FAIL, "empty")]
    result = null_rates(frame, dataset)
    result.append(duplicate_rows(frame, dataset.max_duplicate_rate))
    result.extend(constant_columns(frame, allowed=dataset.allow_constant))
    target = dataset.target
    if classification and target and target in frame.columns:
        result.append(label_balance(frame[target], dataset.min_label_share))
    return result


def null_rates(frame: Any, dataset: DatasetConfig) -> list[CheckRow]:
    """A row per column that has nulls (or one row saying there are none)."""
    counts = frame.isna().sum()
    rows = len(frame)
    result = []
    for column, count in counts.items():
        limit = dataset.allowed_null_rate(str(column))
        if count == 0:
            continue
        rate = float(count) / rows
        verdict = FAIL if rate > limit else PASS
        result.append(
            CheckRow(
                "quality", str(column), "null rate", rate, None, rate, limit, verdict,
                f"{int(count):,} of {rows:,} rows null",
            )
        )  # fmt: skip
    if not result:
        result.append(CheckRow("quality", "<all>", "null rate", 0.0, None, 0.0, None, PASS))
    return result


def duplicate_rows(frame: Any, limit: float) -> CheckRow:
    """The share of rows that repeat an earlier row exactly."""
    import pandas as pd

    # Hash each row once (fast), then confirm exactly on the few rows whose hash repeats, so
    # a 64-bit collision can never count as a duplicate.
    hashes = pd.util.hash_pandas_object(frame, index=False)
    suspects = hashes.duplicated(keep=False).to_numpy()
    count = int(frame[suspects].duplicated().sum()) if suspects.any() else 0
    rate = count / len(frame)
    verdict = FAIL if rate > limit else PASS
    detail = f"{count:,} duplicate rows" if count else ""
    return CheckRow(
        "quality", "<frame>", "duplicate rows", rate, None, rate, limit, verdict, detail
    )


def constant_columns(frame: Any, *, allowed: tuple[str, ...] = ()) -> list[CheckRow]:
    """A failing row per column holding a single value (or none) that is not allowed to."""
    import pandas as pd

    result = []
    for column in frame.columns:
        if str(column) in allowed:
            continue
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            low, high = series.min(), series.max()  # cheaper than counting distinct values
            distinct = 0 if low != low else (1 if low == high else 2)
        else:
            distinct = min(int(series.nunique(dropna=True)), 2)
        if distinct < 2 and len(series) > 1:
            value = "" if distinct == 0 else _plain(series.dropna().iloc[0])
            what = "only nulls" if distinct == 0 else f"only the value {value!r}"
            result.append(
                CheckRow("quality", str(column), "constant", distinct, None, None, None, FAIL, what)
            )
    return result


def label_balance(labels: Any, min_share: float) -> CheckRow:
    """The rarest class's share against ``min_share``; fewer than two classes fails."""
    shares = labels.value_counts(normalize=True, dropna=True)
    if len(shares) < 2:
        only = "no labels" if len(shares) == 0 else f"only class {_plain(shares.index[0])!r}"
        return CheckRow(
            "quality", str(labels.name), "label balance", 0.0, None, 0.0, min_share, FAIL, only
        )
    rarest = shares.idxmin()
    share = float(shares.min())
    verdict = FAIL if share < min_share else PASS
    return CheckRow(
        "quality", str(labels.name), "label balance", share, None, share, min_share, verdict,
        f"rarest class {_plain(rarest)!r} is {share:.2%} of rows",
    )  # fmt: skip


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, so messages read 0, not np.int64(0)."""
    return value.item() if hasattr(value, "item") else value
