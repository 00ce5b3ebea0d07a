"""Read a declared dataset (CSV/TSV, JSON lines, parquet, or a directory of parquet files) into
a DataFrame, and choose the model's input columns from it.

Every way a file can be wrong ends in a :class:`DataError` that names the file and says what
to do, never a pandas or pyarrow traceback: a user's broken file is not our bug.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mlci.errors import DataError

if TYPE_CHECKING:
    from pytest_mlci.config import DatasetConfig

JSON_LINES = (".jsonl", ".ndjson")
DELIMITED = (".csv", ".tsv", ".txt")


def read_dataset(
    dataset: DatasetConfig, path: Path | None = None, *, columns: list[str] | None = None
) -> Any:
    """Load one of ``dataset``'s files (its ``path`` unless told) with its CSV options."""
    return read_table(
        dataset.path if path is None else path,
        columns=columns,
        sep=dataset.sep,
        names=list(dataset.columns) if dataset.columns else None,
        names_key=f"datasets.{dataset.name}.columns",
    )


def model_input(frame: Any, dataset: DatasetConfig, target: str) -> Any:
    """The columns the model is given: ``features`` in that order, else every column but the
    target and ``drop``. The frame itself keeps them all, so checks and fairness still see the
    target and protected columns."""
    present = [str(c) for c in frame.columns]
    for key in ("features", "drop"):
        for column in getattr(dataset, key):
            if column not in present:
                have = ", ".join(present[:20]) + (" ..." if len(present) > 20 else "")
                raise DataError(
                    f"{dataset.path}: datasets.{dataset.name}.{key} names column {column!r}, "
                    f"which the file does not have (it has: {have})"
                )
    if dataset.features:
        return frame[list(dataset.features)]
    return frame.drop(columns=[target, *(c for c in dataset.drop if c != target)], errors="ignore")


def read_table(
    path: Path,
    *,
    columns: list[str] | None = None,
    sep: str | None = None,
    names: list[str] | None = None,
    names_key: str = "columns",
) -> Any:
    """Load ``path`` as a pandas DataFrame; raise :class:`DataError` naming what is wrong.

    ``sep`` fixes a CSV's delimiter (else it is sniffed); ``names`` names the columns of a
    headerless CSV, whose every line is then data. Neither applies to other formats.
    """
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
        elif path.suffix.lower() in DELIMITED + JSON_LINES:
            if path.suffix.lower() in JSON_LINES:
                frame = pd.read_json(path, lines=True)
            else:
                frame = _read_csv(path, sep=sep, names=names, names_key=names_key)
            if columns is not None:
                _require_columns(path, [str(c) for c in frame.columns], columns)
                frame = frame[columns]
        else:
            raise DataError(f"{path}: unknown data format; use .csv, .tsv, .jsonl or .parquet")
    except DataError:
        raise
    except KeyError as exc:
        raise DataError(f"{path}: missing column {exc}") from None
    except Exception as exc:  # pyarrow/pandas raise many types for corrupt files
        raise DataError(f"{path}: cannot be read as {_kind(path)} ({_first_line(exc)})") from None
    if len(frame) == 0:
        raise DataError(f"{path}: the dataset is empty (0 rows)")
    return frame


def _read_csv(
    path: Path, *, sep: str | None, names: list[str] | None, names_key: str = "columns"
) -> Any:
    import pandas as pd

    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        sample = handle.read(64 * 1024)
    delimiter = sep
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    if names is None:
        frame = pd.read_csv(path, sep=delimiter)
    else:
        frame = pd.read_csv(path, sep=delimiter, header=None)
        if len(frame.columns) != len(names):
            raise DataError(
                f"{path}: the file has {len(frame.columns)} columns but {names_key} names "
                f"{len(names)} ({', '.join(names)}); list one name per column"
            )
        frame.columns = names
    if len(frame.columns) == 1 and sep is None:
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
    if path.is_dir() or path.suffix.lower() in (".parquet", ".pq"):
        return "parquet"
    return "JSON lines" if path.suffix.lower() in JSON_LINES else "CSV"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
