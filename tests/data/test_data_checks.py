"""Each data check fails when it should and passes (or is inconclusive) when it should."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pytest_mlci.config import DatasetConfig
from pytest_mlci.data.drift import check_drift, column_verdicts, judge, ks_and_wasserstein
from pytest_mlci.data.freshness import check_freshness, newest_timestamp
from pytest_mlci.data.quality import check_quality
from pytest_mlci.data.results import FAIL, INCONCLUSIVE, PASS, overall
from pytest_mlci.data.volume import PreviousCount, check_volume


def dataset(**kwargs) -> DatasetConfig:
    return DatasetConfig(name="eval", path=Path("current.parquet"), **kwargs)


def frames(n: int, *, shift: float = 0.0, seed: int = 0, new_category: float = 0.0):
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "k": rng.poisson(3, size=n),
            "c": rng.choice(["a", "b", "c"], size=n),
        }
    )
    current = pd.DataFrame(
        {
            "x": rng.normal(shift, 1, size=n),
            "k": rng.poisson(3, size=n),
            "c": rng.choice(["a", "b", "c"], size=n),
        }
    )
    if new_category:
        current.loc[: int(n * new_category), "c"] = "zzz"
    return reference, current


# ------------------------------------------------------------------------- volume


def test_a_50_percent_drop_fails_against_the_previously_validated_count():
    previous = PreviousCount(1000, "2026-12-01 09:00 UTC")
    [row] = check_volume(500, previous=previous, tolerance=0.2, memory=Path("m.json"))
    assert row.verdict == FAIL
    assert row.effect_size == pytest.approx(-0.5)
    assert (
        "500 rows vs 1,000 (previously validated count of 2026-12-01 09:00 UTC), -50.0%, "
        "allowed +-20%; if the new size is right, declare expected_rows or delete m.json"
    ) in row.describe()


def test_volume_within_tolerance_of_expected_rows_passes():
    [row] = check_volume(1100, expected=1000, previous=PreviousCount(10), tolerance=0.2)
    assert row.verdict == PASS and "(expected_rows)" in row.detail


def test_the_first_validation_passes_and_names_the_count_it_keeps():
    [row] = check_volume(4500, tolerance=0.2)
    assert row.verdict == PASS
    assert row.detail.startswith("first validated count: 4,500 rows")


def test_an_empty_dataset_never_passes_volume():
    assert check_volume(0, expected=1000)[0].verdict == FAIL
    assert check_volume(0)[0].verdict == FAIL  # not even the first time


# ------------------------------------------------------------------------ quality


def test_a_null_rate_breach_names_the_column_and_the_rate():
    frame = pd.DataFrame({"a": [1.0, None, None, 4.0] * 25, "b": range(100), "y": [0, 1] * 50})
    rows = check_quality(frame, dataset(null_rates={"a": 0.1}), classification=True)
    [breach] = [r for r in rows if r.verdict == FAIL]
    assert breach.column == "a" and breach.test == "null rate"
    assert breach.statistic == pytest.approx(0.5) and breach.threshold == 0.1


def test_allowed_nulls_duplicates_constants_and_label_balance():
    frame = pd.DataFrame(
        {
            "a": [1.0, None, 2.0, None] * 25,
            "b": range(100),
            "country": ["nl"] * 100,
            "y": [0, 1] * 50,
        }
    )
    ok = dataset(max_null_rate=0.5, allow_constant=("country",), target="y")
    assert overall(check_quality(frame, ok, classification=True)) == PASS
    strict = dataset(max_null_rate=0.5, target="y")
    failed = [r for r in check_quality(frame, strict, classification=True) if r.verdict == FAIL]
    assert [(r.column, r.test) for r in failed] == [("country", "constant")]
    duplicated = pd.concat([frame, frame.head(10)])
    rows = check_quality(duplicated, ok, classification=True)
    [dup] = [r for r in rows if r.test == "duplicate rows"]  # no limit declared: reported
    assert dup.verdict == PASS and dup.statistic == pytest.approx(10 / 110)
    assert "10 duplicate rows (9.1%), reported only: set max_duplicate_rate" in dup.detail
    limited = dataset(max_null_rate=0.5, allow_constant=("country",), target="y",
                      max_duplicate_rate=0.05)  # fmt: skip
    rows = check_quality(duplicated, limited, classification=True)
    [dup] = [r for r in rows if r.test == "duplicate rows"]
    assert dup.verdict == FAIL and "10 duplicate rows" in dup.detail and dup.threshold == 0.05


def test_a_label_that_lost_its_minority_class_fails():
    frame = pd.DataFrame({"x": range(1000), "y": [0] * 998 + [1] * 2})
    rows = check_quality(frame, dataset(target="y"), classification=True)
    [balance] = [r for r in rows if r.test == "label balance"]
    assert balance.verdict == FAIL and balance.statistic == pytest.approx(0.002)
    one_class = check_quality(frame.assign(y=0), dataset(target="y"), classification=True)
    assert [r.detail for r in one_class if r.test == "label balance"] == ["only class 0"]


# ---------------------------------------------------------------------- freshness


def test_stale_data_fails_and_fresh_data_passes():
    now = time.time()
    stamps = pd.Series(pd.to_datetime([now - 50 * 3600, now - 48 * 3600], unit="s"))
    newest = newest_timestamp(stamps)
    assert check_freshness(newest, max_age_hours=36, source="ts", now=now)[0].verdict == FAIL
    assert check_freshness(newest, max_age_hours=72, source="ts", now=now)[0].verdict == PASS


def test_unparseable_or_future_timestamps_fail():
    assert newest_timestamp(pd.Series(["not a date", None])) is None
    assert check_freshness(None, max_age_hours=1, source="ts")[0].verdict == FAIL
    future = time.time() + 86400
    [row] = check_freshness(future, max_age_hours=1, source="ts")
    assert row.verdict == FAIL and "in the future" in row.detail


# -------------------------------------------------------------------------- drift


@pytest.mark.parametrize("seed", range(3))
def test_exact_ks_equals_scipy_to_1e_12_with_ties_and_unequal_sizes(seed):
    rng = np.random.default_rng(seed)
    a = np.round(rng.normal(size=30_000), 2)
    b = np.round(rng.normal(0.05, 1.1, size=17_000), 2)
    d, w1 = ks_and_wasserstein(np.sort(a), np.sort(b))
    assert abs(d - stats.ks_2samp(a, b).statistic) <= 1e-12
    assert w1 == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)


def test_a_shifted_column_fails_and_the_others_pass():
    reference, current = frames(5000, shift=0.6)
    verdicts = column_verdicts(check_drift(reference, current, dataset()))
    assert verdicts == {"x": FAIL, "k": PASS, "c": PASS}


def test_a_trivial_shift_on_a_huge_sample_is_significant_but_passes():
    reference, current = frames(400_000, shift=0.03)
    rows = check_drift(reference[["x"]], current[["x"]], dataset())
    ks = rows[0]
    assert ks.test == "ks" and ks.p_value < 1e-6  # the test alone would cry wolf
    assert ks.verdict == PASS


def test_a_sample_too_small_to_judge_is_inconclusive_never_pass_or_fail():
    reference, current = frames(60, shift=3.0)
    verdicts = column_verdicts(check_drift(reference, current, dataset()))
    assert set(verdicts.values()) == {INCONCLUSIVE}


def test_a_large_effect_the_test_cannot_confirm_is_inconclusive():
    assert judge(0.5, 0.2, 0.3, alpha=0.01, enough=True) == INCONCLUSIVE
    assert judge(0.5, 0.2, 0.001, alpha=0.01, enough=True) == FAIL
    assert judge(math.nan, 0.2, 0.001, alpha=0.01, enough=True) == FAIL


def test_unseen_categories_fail_and_per_column_thresholds_apply():
    reference, current = frames(5000, new_category=0.05)
    rows = check_drift(reference, current, dataset())
    [unseen] = [r for r in rows if r.test == "unseen"]
    assert unseen.verdict == FAIL and unseen.statistic == pytest.approx(0.05, abs=0.001)
    reference, current = frames(5000, shift=0.6)
    lenient = dataset(drift_thresholds={"x": {"psi": 5.0, "distance": 5.0}})
    assert column_verdicts(check_drift(reference, current, lenient))["x"] == PASS


def test_a_column_missing_or_all_null_fails():
    reference, current = frames(1000)
    rows = check_drift(reference, current.drop(columns=["k"]).assign(x=np.nan), dataset())
    verdicts = column_verdicts(rows)
    assert verdicts["k"] == FAIL and verdicts["x"] == FAIL


def test_the_reference_cache_gives_identical_rows_and_follows_the_reference(tmp_path):
    import numpy as np
    import pandas as pd

    from pytest_mlci.config import DatasetConfig
    from pytest_mlci.data.drift import ReferenceCache, check_drift

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=5000), "y": rng.normal(size=5000)})
    current = pd.DataFrame({"x": rng.normal(0.5, 1, 5000), "y": rng.normal(size=5000)})
    dataset = DatasetConfig(name="d", path=tmp_path / "c", reference=tmp_path / "r")
    exact = check_drift(reference, current, dataset)
    cache = ReferenceCache(tmp_path / "cache", "digest-1")
    assert check_drift(reference, current, dataset, cache=cache) == exact  # fills the cache
    assert len(list((tmp_path / "cache" / "digest-1").glob("*.npy"))) == 2
    assert check_drift(reference, current, dataset, cache=cache) == exact  # reads it
    changed = reference.assign(x=reference["x"] + 3)
    other = ReferenceCache(tmp_path / "cache", "digest-2")  # a changed file, another digest
    assert check_drift(changed, current, dataset, cache=other) != exact


@pytest.mark.parametrize("grid", [1, 7, 64, 4096])
@pytest.mark.parametrize("kind", ["continuous", "rounded", "counts", "shifted"])
def test_ks_and_wasserstein_equal_scipy_however_the_line_is_cut(monkeypatch, grid, kind):
    """Intervals in closed form and merged ones, ties across cuts, unequal sizes, tiny samples."""
    from pytest_mlci.data import drift

    monkeypatch.setattr(drift, "GRID_POINTS", grid)
    rng = np.random.default_rng(grid)
    for n1, n2 in [(1, 1), (3, 50), (2000, 700), (9000, 12000)]:
        draw = {
            "continuous": lambda n: rng.normal(size=n),
            "rounded": lambda n: np.round(rng.normal(size=n), 1),
            "counts": lambda n: rng.poisson(3, n).astype(float),
            "shifted": lambda n: rng.lognormal(0, 1, n),
        }[kind]
        a, b = draw(n1), draw(n2) + (0.3 if kind == "shifted" else 0.0)
        d, w1 = ks_and_wasserstein(np.sort(a), np.sort(b))
        assert abs(d - stats.ks_2samp(a, b).statistic) <= 1e-12
        assert w1 == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9, abs=1e-15)
