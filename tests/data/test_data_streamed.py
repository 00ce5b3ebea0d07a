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
