"""The opt-in domain classifier catches a joint shift the per-column checks cannot see."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pytest_mlci.config import DatasetConfig
from pytest_mlci.data import stats as streamed
from pytest_mlci.data.drift import check_drift, column_verdicts
from pytest_mlci.data.multivariate import COLUMN, TEST
from pytest_mlci.data.results import FAIL, INCONCLUSIVE, PASS


def correlated(n: int, rho: float, seed: int) -> pd.DataFrame:
    """x and y standard normal with correlation ``rho``; a categorical column that never moves.

    Flipping the sign of ``rho`` keeps every column's marginal distribution identical.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = rho * x + np.sqrt(1 - rho * rho) * rng.normal(size=n)
    return pd.DataFrame({"x": x, "y": y, "c": rng.choice(["a", "b", "c"], n)})


def dataset(**kwargs) -> DatasetConfig:
    return DatasetConfig(name="d", path=Path("current"), drift_domain_auc=0.6, **kwargs)


def domain_row(rows):
    [row] = [r for r in rows if r.column == COLUMN]
    return row


def test_a_flipped_correlation_fails_only_the_domain_classifier():
    reference, current = correlated(4000, 0.8, 1), correlated(4000, -0.8, 2)
    rows = check_drift(reference, current, dataset())
    verdicts = column_verdicts(rows)
    assert verdicts == {"x": PASS, "y": PASS, "c": PASS, COLUMN: FAIL}
    row = domain_row(rows)
    assert row.test == TEST and row.effect_size > 0.8 and row.p_value < 1e-10
    assert row.threshold == 0.6
    assert "4,000 reference + 4,000 current rows" in row.describe()


def test_no_drift_keeps_the_domain_classifier_quiet():
    rows = check_drift(correlated(4000, 0.8, 1), correlated(4000, 0.8, 2), dataset())
    row = domain_row(rows)
    assert row.verdict == PASS and 0.4 < row.effect_size < 0.56
    assert set(column_verdicts(rows).values()) == {PASS}


def test_too_few_rows_is_inconclusive_and_the_check_is_off_unless_configured():
    small = check_drift(correlated(150, 0.9, 1), correlated(150, -0.9, 2), dataset())
    assert domain_row(small).verdict == INCONCLUSIVE
    assert "too small to judge" in domain_row(small).detail
    plain = DatasetConfig(name="d", path=Path("current"))
    assert COLUMN not in column_verdicts(check_drift(correlated(500, 0.8, 1),
                                                     correlated(500, -0.8, 2), plain))  # fmt: skip


def test_the_streamed_path_samples_both_sides_and_fires_too(tmp_path, monkeypatch):
    monkeypatch.setattr(streamed, "BATCH_ROWS", 1000)  # the sample spans many batches
    folders = []
    for name, rho, seed in (("reference", 0.8, 1), ("current", -0.8, 2)):
        folder = tmp_path / name
        folder.mkdir()
        frame = correlated(6000, rho, seed)
        for i, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
            frame.iloc[part].to_parquet(folder / f"part-{i}.parquet")
        folders.append(folder)
    config = dataset(reference=folders[0])
    rows = streamed.streamed_drift(folders[0], folders[1], config)
    assert column_verdicts(rows)[COLUMN] == FAIL
    assert domain_row(rows).effect_size > 0.8


@pytest.mark.parametrize("value", ["0.5", "1.2"])
def test_a_domain_auc_outside_its_range_names_the_key_and_an_example(tmp_path, value):
    from pytest_mlci.config import load_config
    from pytest_mlci.errors import ConfigError

    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[tool.mlci]\nmodel = "m"\ntask = "regression"\ntarget = "y"\nartifact = "m.skops"\n'
        f'[tool.mlci.datasets.eval]\npath = "d.parquet"\ndrift_domain_auc = {value}\n'
    )
    with pytest.raises(
        ConfigError, match=r"datasets.eval.drift_domain_auc.*drift_domain_auc = 0.6"
    ):
        load_config(path)
    path.write_text(path.read_text().replace(f"= {value}", "= 0.65"))
    assert load_config(path).datasets["eval"].drift_domain_auc == 0.65
