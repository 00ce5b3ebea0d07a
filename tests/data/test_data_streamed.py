"""Streamed (parquet batches) and exact (in memory) drift agree within the documented bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pytest_mlci.config import DatasetConfig
from pytest_mlci.data import stats as streamed
from pytest_mlci.data.drift import check_drift, column_verdicts
from pytest_mlci.data.validate import DatasetChecks


def write_parts(frame: pd.DataFrame, folder: Path, parts: int = 3) -> Path:
    """A directory of parquet files, as a partitioned export would be."""
    folder.mkdir()
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[chunk].to_parquet(folder / f"part-{i}.parquet")
    return folder


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    rng = np.random.default_rng(7)
    n = 120_000

    def frame(shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "normal": rng.normal(shift, 1, n),
                "skewed": rng.lognormal(shift, 1, n),
                "counts": rng.poisson(3 + 3 * shift, n),
                "flat": rng.normal(0, 1, n),
                "channel": rng.choice(
                    ["web", "app", "store"], n, p=[0.5, 0.3 + shift / 3, 0.2 - shift / 3]
                ),
            }
        )

    base = tmp_path_factory.mktemp("streamed")
    reference, current = frame(0.0), frame(0.3)
    return (
        reference,
        current,
        write_parts(reference, base / "reference"),
        write_parts(current, base / "current"),
    )


def test_streamed_and_exact_agree_within_the_documented_bounds(pair, monkeypatch):
    monkeypatch.setattr(streamed, "BATCH_ROWS", 10_000)  # many batches: merging is exercised
    reference, current, ref_dir, cur_dir = pair
    dataset = DatasetConfig(name="d", path=cur_dir, reference=ref_dir)
    exact = {(r.column, r.test): r for r in check_drift(reference, current, dataset)}
    approx = {(r.column, r.test): r for r in streamed.streamed_drift(ref_dir, cur_dir, dataset)}
    assert exact.keys() == approx.keys()
    for (column, test), row in approx.items():
        truth = exact[(column, test)]
        if test == "ks":
            bound = float(row.detail.split("KS within ")[1].split(" ")[0])
            assert truth.statistic - bound - 1e-9 <= row.statistic <= truth.statistic + 1e-9
        elif test == "psi":
            assert row.statistic == pytest.approx(truth.statistic, abs=0.01)
        elif test == "wasserstein":
            assert row.effect_size == pytest.approx(truth.effect_size, rel=0.02, abs=0.002)
        elif test in ("chi2", "unseen"):
            assert row.statistic == pytest.approx(truth.statistic, rel=1e-9)
    assert column_verdicts(list(approx.values())) == column_verdicts(list(exact.values()))


def test_stream_always_uses_batches_and_metadata_row_counts(pair):
    _, _, ref_dir, cur_dir = pair
    dataset = DatasetConfig(
        name="d", path=cur_dir, reference=ref_dir, stream="always", drift_ignore=("flat",)
    )
    checks = DatasetChecks(dataset, root=ref_dir.parent)
    assert checks.streamed
    [volume] = checks.volume()
    assert volume.statistic == 120_000 and volume.verdict == "pass"
    verdicts = column_verdicts(checks.drift())
    assert verdicts["normal"] == "fail" and "flat" not in verdicts
    assert checks._frames == {}  # nothing was loaded into a DataFrame


def messy(n: int = 9000) -> pd.DataFrame:
    """Nulls, a constant column, a rare label, and rows repeated across file boundaries."""
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "x": rng.normal(size=n),
            "k": rng.poisson(3, n),
            "country": ["nl"] * n,
            "channel": rng.choice(["web", "app", None], n, p=[0.6, 0.3, 0.1]),
            "y": (rng.random(n) < 0.004).astype(int),
        }
    )
    frame.loc[frame.index[::7], "x"] = np.nan
    return pd.concat([frame, frame.iloc[100:160], frame.iloc[5000:5005]], ignore_index=True)


def test_streamed_quality_equals_the_in_memory_rows_without_loading_a_frame(tmp_path, monkeypatch):
    from pytest_mlci.data.quality import check_quality

    monkeypatch.setattr(streamed, "BATCH_ROWS", 1000)  # duplicates sit in other batches
    frame = messy()
    folder = write_parts(frame, tmp_path / "current", parts=4)
    config = DatasetConfig(name="d", path=folder, stream="always", target="y", max_null_rate=0.05,
                           max_duplicate_rate=0.0)  # fmt: skip
    checks = DatasetChecks(config, root=tmp_path, task="binary_classification")
    rows = checks.quality()
    exact = check_quality(frame, config, classification=True)
    assert checks._frames == {}
    seen = {(r.column, r.test): (r.statistic, r.verdict) for r in rows}
    assert seen == {(r.column, r.test): (r.statistic, r.verdict) for r in exact}
    assert seen[("x", "null rate")][1] == "fail" and seen[("country", "constant")][1] == "fail"
    assert seen[("y", "label balance")][1] == "fail"
    [dup] = [r for r in rows if r.test == "duplicate rows"]
    assert dup.verdict == "fail" and "65 duplicate rows" in dup.detail
    assert "row hashes" in dup.detail


def test_streamed_duplicates_beyond_the_hash_budget_are_an_estimate_that_says_so(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(streamed, "MAX_HASHED_ROWS", 4000)  # keep about 44% of the hashes
    rng = np.random.default_rng(5)
    unique = pd.DataFrame({"x": rng.normal(size=8000), "k": rng.poisson(3, 8000)})
    frame = pd.concat([unique, unique.iloc[:1000]], ignore_index=True)  # 1,000 duplicates
    folder = write_parts(frame, tmp_path / "current")
    config = DatasetConfig(name="d", path=folder, max_duplicate_rate=0.01)
    rows = streamed.streamed_quality(folder, config, classification=False)
    [dup] = [r for r in rows if r.test == "duplicate rows"]
    assert dup.verdict == "fail" and "estimated from" in dup.detail
    assert dup.statistic == pytest.approx(1000 / 9000, abs=0.03)


SCHEMA = """
import pandera.pandas as pa

class Rows(pa.DataFrameModel):
    x: float = pa.Field(nullable=True)
    k: int = pa.Field(ge=0)
"""


def test_streamed_schema_checks_every_batch_and_reports_file_row_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(streamed, "BATCH_ROWS", 1000)
    (tmp_path / "streamed_rows_schema.py").write_text(SCHEMA)
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=6000), "k": rng.poisson(3, 6000)})
    frame.loc[[4321, 4322, 5999], "k"] = -1  # late rows, in later batches and files
    folder = write_parts(frame, tmp_path / "current")
    config = DatasetConfig(
        name="d", path=folder, schema="streamed_rows_schema:Rows", stream="always"
    )
    checks = DatasetChecks(config, root=tmp_path)
    [row] = checks.schema()
    assert row.verdict == "fail" and row.column == "k" and row.statistic == 3
    assert "at rows 4321, 4322, 5999" in row.detail
    assert checks._frames == {}
    frame.loc[[4321, 4322, 5999], "k"] = 1
    (folder / "part-2.parquet").unlink()
    frame.iloc[4000:].to_parquet(folder / "part-2.parquet")
    [ok] = DatasetChecks(config, root=tmp_path).schema()
    assert ok.verdict == "pass" and "6,000 rows" in ok.detail
