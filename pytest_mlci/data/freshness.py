"""Freshness: the newest row (or, without a timestamp column, the file) is young enough.

Why: a scheduled job that keeps validating yesterday's export because today's never arrived
passes every other check. The age is measured against "now" in UTC; naive timestamps are read
as UTC. A newest timestamp more than an hour in the future is a failure too (a clock or
time-zone bug upstream), as is a timestamp column with no parseable value.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_mlci.data.results import FAIL, PASS, CheckRow

FUTURE_SKEW_S = 3600.0


def newest_timestamp(values: Any) -> float | None:
    """The newest value of a timestamp column as POSIX seconds (None when none parse)."""
    import pandas as pd

    parsed = pd.to_datetime(values, errors="coerce", utc=True)
    newest = parsed.max()
    if newest is pd.NaT or newest != newest:
        return None
    return float(newest.timestamp())


def newest_file_time(path: Path) -> float | None:
    """The newest modification time of ``path`` or, for a directory, of the files in it."""
    path = Path(path)
    if path.is_dir():
        times = [p.stat().st_mtime for p in path.rglob("*") if p.is_file()]
        return max(times) if times else None
    return path.stat().st_mtime if path.exists() else None


def check_freshness(
    newest: float | None, *, max_age_hours: float, source: str, now: float | None = None
) -> list[CheckRow]:
    """One row: the age of ``newest`` (POSIX seconds) against ``max_age_hours``."""
    now = time.time() if now is None else now
    if newest is None:
        return [
            CheckRow("freshness", source, "age", None, None, None, max_age_hours, FAIL,
                     "no timestamp could be read")
        ]  # fmt: skip
    age_hours = (now - newest) / 3600.0
    stamp = datetime.fromtimestamp(newest, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    if now - newest < -FUTURE_SKEW_S:
        verdict, detail = FAIL, f"newest {stamp} lies {-age_hours:.1f} h in the future"
    else:
        verdict = FAIL if age_hours > max_age_hours else PASS
        detail = f"newest {stamp}, {age_hours:.1f} h old"
    return [
        CheckRow("freshness", source, "age hours", age_hours, None, age_hours, max_age_hours,
                 verdict, detail)
    ]  # fmt: skip
