"""Read a declared dataset (CSV, parquet, or a directory of parquet files) into a DataFrame.

Every way a file can be wrong ends in a :class:`DataError` that names the file and says what
to do, never a pandas or pyarrow traceback: a user's broken file is not our bug.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from pytest_mlci.errors import DataError


def read_table(path: Path, *, columns: list[str] | None = None) -> Any:
    """Load ``path`` as a pandas DataFrame; raise :class:`DataError` naming what is wrong."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found; run `dvc repro` or fix the dataset 'path'")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")
    try:
        if path.is_dir() or path.suffix.lower() in (".parquet", ".pq"):
            if columns is not None:
                _require_columns(path, _parquet_columns(path), columns)
            frame = pd.read_parquet(path, columns=columns)
        elif path.suffix.lower() in (".csv", ".tsv", ".txt"):
            frame = _read_csv(path)
            if columns is not None:
                _require_columns(path, [str(c) for c in frame.columns], columns)
                frame = frame[columns]
        else:
            raise DataError(f"{path}: unknown data format; use .csv or .parquet")
    except DataError:
        raise
    except KeyError as exc:
        raise DataError(f"{path}: missing column {exc}") from None
    except Exception as exc:  # pyarrow/pandas raise many types for corrupt files
        raise DataError(f"{path}: cannot be read as {_kind(path)} ({_first_line(exc)})") from None
    if len(frame) == 0:
        raise DataError(f"{path}: the dataset is empty (0 rows)")
    return frame


def _read_csv(path: Path) -> Any:
    import pandas as pd

    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        sample = handle.read(64 * 1024)
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    frame = pd.read_csv(path, sep=delimiter)
    if len(frame.columns) == 1:
        header = str(frame.columns[0])
        other = next((d for d in ",;\t|:" if d in header), None)
        if other is not None:
            raise DataError(
                f"{path}: one column named {header!r}; the file seems to use {other!r} as "
                "its delimiter, which could not be detected; use ',' (or ';', tab, '|')"
            )
    return frame


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.dataset as ds

    return list(ds.dataset(str(path), format="parquet").schema.names)


def _require_columns(path: Path, present: list[str], wanted: list[str]) -> None:
    """A missing column is named, with the columns the file does have."""
    missing = [c for c in wanted if c not in present]
    if missing:
        have = ", ".join(present[:20]) + (" ..." if len(present) > 20 else "")
        raise DataError(f"{path}: missing column {missing[0]!r} (the file has: {have})")


def _kind(path: Path) -> str:
    return "parquet" if path.is_dir() or path.suffix.lower() in (".parquet", ".pq") else "CSV"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
