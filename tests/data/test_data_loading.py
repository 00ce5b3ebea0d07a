"""Bad data gets a named failure with the file (and column), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pytest_mlci.config import DatasetConfig
from pytest_mlci.data.loading import read_table
from pytest_mlci.data.validate import DatasetChecks
from pytest_mlci.errors import DataError

SCHEMA = """
import pandera.pandas as pa


class Rows(pa.DataFrameModel):
    x: float
    c: str
"""


def test_an_empty_file_is_named(tmp_path: Path):
    for name in ("empty.csv", "empty.parquet"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(DataError, match=rf"{name}: the file is empty \(0 bytes\)"):
            read_table(tmp_path / name)
    (tmp_path / "header.csv").write_text("x,c\n")
    with pytest.raises(DataError, match=r"header.csv: the dataset is empty \(0 rows\)"):
        read_table(tmp_path / "header.csv")


def test_a_corrupt_parquet_file_is_named(tmp_path: Path):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    with pytest.raises(DataError, match=r"bad\.parquet: cannot be read as parquet"):
        read_table(tmp_path / "bad.parquet")


def test_a_missing_column_is_named_with_the_columns_present(tmp_path: Path):
    pd.DataFrame({"x": [1.0], "c": ["a"]}).to_parquet(tmp_path / "d.parquet")
    with pytest.raises(DataError, match=r"d.parquet: missing column 'ts' \(the file has: x, c\)"):
        read_table(tmp_path / "d.parquet", columns=["ts"])


def test_a_csv_with_another_delimiter_is_read_or_named(tmp_path: Path):
    (tmp_path / "semi.csv").write_text("x;c\n1.5;a\n2.5;b\n")
    assert list(read_table(tmp_path / "semi.csv").columns) == ["x", "c"]
    (tmp_path / "colon.csv").write_text("x:c\n1.5:a\n2.5:b\n")
    with pytest.raises(DataError, match=r"colon.csv: one column named 'x:c'.*':' as its delim"):
        read_table(tmp_path / "colon.csv")


def test_a_wrong_dtype_and_a_missing_column_fail_the_schema_by_name(tmp_path: Path):
    (tmp_path / "rows_schema.py").write_text(SCHEMA)
    (tmp_path / "d.csv").write_text("x,c\nabc,a\n1.0,b\n")
    dataset = DatasetConfig(name="d", path=tmp_path / "d.csv", schema="rows_schema:Rows")
    rows = DatasetChecks(dataset, root=tmp_path).schema()
    assert [(r.column, r.verdict) for r in rows] == [("x", "fail")]
    assert "dtype" in rows[0].test
    (tmp_path / "d.csv").write_text("x\n1.0\n")
    [missing] = DatasetChecks(dataset, root=tmp_path).schema()
    assert missing.column == "c" and "column_in_dataframe" in missing.test
