"""A dataset `loader`: a table, or (X, y) as numpy or scipy sparse, through every data check.

The loader is the user's code, so every wrong thing it can return is named in one line with
the config key; the checks on arrays give the table checks' rows and verdicts, and a sparse
matrix is never made dense (the densifying methods raise during these tests).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from mlci_local.cli import cli
from pytest_mlci.config import DatasetConfig, load_config
from pytest_mlci.data.arrays import (
    duplicate_count,
    implicit_quantiles,
    sparse_numeric_rows,
)
from pytest_mlci.data.drift import Thresholds, numeric_rows, sorted_finite
from pytest_mlci.data.loaded import load_data
from pytest_mlci.data.results import FAIL, PASS, overall
from pytest_mlci.data.validate import DatasetChecks, validate_dataset
from pytest_mlci.errors import ConfigError, DataError

LOADER = '''\
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp


def table(path):
    return pd.read_parquet(path)


def arrays(path):
    with open(path, "rb") as handle:
        return pickle.load(handle)


def dense(path):
    X, y, names = arrays(path)
    return X.toarray(), y


def unnamed(path):
    X, y, names = arrays(path)
    return X, y


def returns(path):
    """What tests/data/test_loaders.py asks it to return, by the file's name."""
    return WRONG[Path(path).stem]


def broken(path):
    raise FileNotFoundError(f"no features next to {path}")


NOT_A_FUNCTION = 42
WRONG = {
    "list": [np.zeros((3, 2)), np.zeros(3)],
    "four": (np.zeros((3, 2)), np.zeros(3), ["a", "b"], "extra"),
    "flat": (np.zeros(3), np.zeros(3)),
    "strings": (np.array([["a"], ["b"]]), np.zeros(2)),
    "y2d": (np.zeros((3, 2)), np.zeros((3, 2))),
    "mismatch": (np.zeros((1000, 2)), np.zeros(999)),
    "names": (np.zeros((3, 2)), np.zeros(3), ["only one"]),
    "twice": (np.zeros((3, 2)), np.zeros(3), ["a", "a"]),
    "none": None,
    "xlist": ([[1, 2]], [0]),
    "empty": (np.zeros((0, 2)), np.zeros(0)),
}
'''


def sparse_data(rows: int, features: int, *, seed: int, shift: float = 0.0):
    """TF-IDF-like data: ~2 % nonzeros and a document-length feature (so rows differ), a
    label learnable from the words."""
    rng = np.random.default_rng(seed)
    X = sp.random(rows, features, density=0.02, format="lil", random_state=rng)
    X[:, features - 1] = rng.uniform(1, 2, size=(rows, 1))  # a length feature: rows differ
    X = X.tocsr()
    X.data = np.where(X.indices == features - 1, X.data, rng.exponential(1.0 + shift, X.nnz))
    weights = np.random.default_rng(99).normal(size=features)  # the same "truth" each call
    weights[-1] = 0.0
    signal = X @ weights
    y = (signal + rng.normal(scale=0.3, size=rows) > np.median(signal)).astype("int64")
    return X.tocsr(), y, [f"tok_{i}" for i in range(features)]


def project(root: Path, dataset: str, *, task: str = "binary_classification") -> Path:
    """A project with the loader module and one dataset table ``dataset`` (TOML lines)."""
    (root / "data").mkdir(exist_ok=True)
    (root / "features.py").write_text(LOADER)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [tool.mlci]
            model = "loaded"
            task = "{task}"
            target = "label"
            artifact = "models/model.skops"

            [tool.mlci.datasets.eval]
            """
        )
        + textwrap.dedent(dataset)
    )
    return root / "pyproject.toml"


def save(root: Path, name: str, value) -> None:
    import pickle

    (root / "data").mkdir(exist_ok=True)
    with open(root / "data" / name, "wb") as handle:
        pickle.dump(value, handle)


def checks(config_file: Path) -> DatasetChecks:
    config = load_config(config_file)
    return DatasetChecks(config.datasets["eval"], root=config.root, task=config.task)


@pytest.fixture
def no_densifying(monkeypatch):
    """Every way to make a scipy sparse matrix dense raises while the test runs."""
    refuse_densifying(monkeypatch)


def refuse_densifying(monkeypatch) -> None:
    """From now on, ``toarray``, ``todense`` and ``.A`` of scipy sparse feature matrices raise.

    Small ones (sklearn's metrics binarise labels into an n x 2 sparse matrix and write that
    out) may still be made dense: what must never be is a matrix of features.
    """
    originals = {}

    def refuse(self, *args, **kwargs):
        rows, columns = self.shape
        if columns > 2 and rows * columns > 10_000:
            raise AssertionError(f"a sparse {rows} x {columns} matrix was made dense")
        return originals[type(self), "toarray"](self, *args, **kwargs)

    for kind in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.csc_array):
        originals[kind, "toarray"] = kind.toarray
        monkeypatch.setattr(kind, "toarray", refuse)
        monkeypatch.setattr(kind, "todense", refuse)
        if hasattr(kind, "A"):
            monkeypatch.setattr(kind, "A", property(refuse))


# ------------------------------------------------------------------------------ config


def test_a_loader_that_is_not_module_function_is_a_config_error(tmp_path):
    config = project(tmp_path, 'path = "data/eval.pkl"\nloader = "features.arrays"\n')
    with pytest.raises(ConfigError, match=r"datasets.eval.loader'.*is not 'module:function'"):
        load_config(config)


def test_csv_options_with_a_loader_are_refused(tmp_path):
    config = project(tmp_path, 'path = "data/eval.csv"\nloader = "features:table"\nsep = ";"\n')
    with pytest.raises(ConfigError, match=r"datasets.eval.sep.*does not apply with 'loader'"):
        load_config(config)


# ------------------------------------------------------------------------------ shapes


def test_a_loader_returning_a_table_gets_every_table_check(tmp_path):
    from tests.conftest import make_frame

    make_frame(600, seed=1).to_parquet(tmp_path / "ref.parquet")
    config_file = project(
        tmp_path,
        """\
        path = "data/eval.parquet"
        reference = "ref.parquet"
        loader = "features:table"
        drop = ["group"]
        """,
    )
    make_frame(500, seed=2).to_parquet(tmp_path / "data" / "eval.parquet")
    outcome = validate_dataset(load_config(config_file).datasets["eval"], root=tmp_path,
                               task="binary_classification")  # fmt: skip
    assert outcome.error is None and overall(outcome.rows) == PASS, outcome
    assert outcome.shape == "500 rows x 6 columns" and outcome.row_count == 500
    loaded = load_data(load_config(config_file).datasets["eval"], root=tmp_path)
    assert loaded.is_table and list(loaded.X.columns) == ["x0", "x1", "x2", "x3"]


def test_numpy_arrays_get_generated_names_and_pass_clean_checks(tmp_path):
    X, y, _ = sparse_data(3000, 12, seed=1)
    save(tmp_path, "ref.pkl", sparse_data(3000, 12, seed=2))
    save(tmp_path, "eval.pkl", (X, y, None))
    config_file = project(
        tmp_path, 'path = "data/eval.pkl"\nreference = "data/ref.pkl"\nloader = "features:dense"\n'
    )
    runner = checks(config_file)
    loaded = runner.loaded()
    assert isinstance(loaded.X, np.ndarray) and loaded.feature_names[:2] == ("f0", "f1")
    assert loaded.describe() == "3,000 rows x 12 features (dense)"
    for check in ("volume", "quality", "drift"):
        rows = runner.run(check)
        assert overall(rows) == PASS, [r.describe() for r in rows]


def test_csr_with_names_passes_clean_checks_without_being_made_dense(tmp_path, no_densifying):
    save(tmp_path, "eval.pkl", sparse_data(12_000, 300, seed=1))
    save(tmp_path, "ref.pkl", sparse_data(12_000, 300, seed=2))
    config_file = project(
        tmp_path, 'path = "data/eval.pkl"\nreference = "data/ref.pkl"\nloader = "features:arrays"\n'
    )
    outcome = validate_dataset(load_config(config_file).datasets["eval"], root=tmp_path,
                               task="binary_classification")  # fmt: skip
    assert outcome.error is None
    assert overall(outcome.rows) == PASS, [r.describe() for r in outcome.rows if r.verdict != PASS]
    assert outcome.shape == "12,000 rows x 300 features (sparse)"
    summary = [r for r in outcome.rows if r.test == "features"]
    assert summary[0].detail == "300 of 300 features within their limits"
    assert len(outcome.rows) < 10  # 300 passing features: one summary row, not 1,200 rows


@pytest.mark.parametrize("shape", ["sparse", "dense"])
def test_quality_catches_a_nan_a_constant_feature_and_duplicated_rows(tmp_path, shape):
    X, y, names = sparse_data(4000, 50, seed=3)
    X = X.tolil()
    X[117, 4] = np.nan
    X[:, 9] = 0.0  # a feature that never fires
    X = sp.vstack([X.tocsr(), X.tocsr()[:40]]).tocsr()
    y = np.concatenate([y, y[:40]])
    save(tmp_path, "eval.pkl", (X if shape == "sparse" else X.toarray(), y, names))
    config_file = project(
        tmp_path, 'path = "data/eval.pkl"\nloader = "features:arrays"\nmax_duplicate_rate = 0.0\n'
    )
    rows = {(r.column, r.test): r for r in checks(config_file).run("quality")}
    assert rows[("tok_4", "null rate")].verdict == FAIL
    assert rows[("tok_4", "null rate")].detail == "1 of 4,040 rows null"
    assert rows[("tok_9", "constant")].detail == "only the value 0.0"
    duplicates = rows[("<frame>", "duplicate rows")]
    assert duplicates.verdict == FAIL and duplicates.detail.startswith("40 duplicate rows")
    assert rows[("y", "label balance")].verdict == PASS


def test_quality_allows_what_the_config_allows(tmp_path):
    X, y, names = sparse_data(2000, 20, seed=4)
    X = X.tolil()
    X[:, 3] = 0.0
    save(tmp_path, "eval.pkl", (X.tocsr(), y, names))
    config_file = project(
        tmp_path,
        'path = "data/eval.pkl"\nloader = "features:arrays"\nallow_constant = ["tok_3"]\n'
        "max_duplicate_rate = 0.01\n",
    )
    rows = checks(config_file).run("quality")
    assert overall(rows) == PASS, [r.describe() for r in rows]


@pytest.mark.parametrize("loader", ["arrays", "dense"])
def test_drift_catches_a_drifted_feature_and_names_it(tmp_path, loader):
    X, y, names = sparse_data(6000, 40, seed=5)
    reference = sparse_data(6000, 40, seed=6)
    X = X.tolil()
    rng = np.random.default_rng(0)
    X[:, 7] = rng.exponential(3.0, size=(6000, 1))  # tok_7 now fires in every row, larger
    save(tmp_path, "eval.pkl", (X.tocsr(), y, names))
    save(tmp_path, "ref.pkl", reference)
    config_file = project(
        tmp_path,
        f'path = "data/eval.pkl"\nreference = "data/ref.pkl"\nloader = "features:{loader}"\n',
    )
    rows = checks(config_file).run("drift")
    failing = {r.column for r in rows if r.verdict == FAIL}
    assert failing == ({"tok_7", "<features>"} if loader == "arrays" else {"f7", "<features>"})
    summary = next(r for r in rows if r.test == "features")
    assert summary.detail == "39 of 40 features within their limits"


def test_volume_counts_a_loaders_rows_against_the_last_validated_count(tmp_path):
    """A reference of another size is no expectation; the last passing count is."""
    save(tmp_path, "eval.pkl", sparse_data(1000, 10, seed=1))
    save(tmp_path, "ref.pkl", sparse_data(4000, 10, seed=2))
    config_file = project(
        tmp_path, 'path = "data/eval.pkl"\nreference = "data/ref.pkl"\nloader = "features:arrays"\n'
    )
    first = checks(config_file)
    (row,) = first.run("volume")
    assert row.verdict == PASS and row.detail.startswith("first validated count: 1,000 rows")
    first.remember_volume()
    save(tmp_path, "eval.pkl", sparse_data(500, 10, seed=1))
    (row,) = checks(config_file).run("volume")
    assert row.verdict == FAIL
    assert row.detail.startswith("500 rows vs 1,000 (previously validated count of ")


def test_a_schema_with_an_array_loader_is_a_config_error(tmp_path):
    save(tmp_path, "eval.pkl", sparse_data(100, 5, seed=1))
    config_file = project(
        tmp_path, 'path = "data/eval.pkl"\nloader = "features:arrays"\nschema = "s:S"\n'
    )
    with pytest.raises(ConfigError, match=r"datasets.eval.schema'.*returns \(X, y\); remove"):
        checks(config_file).run("schema")


# ------------------------------------------------------------------------------ exactness


@pytest.mark.parametrize("seed", range(4))
def test_sparse_drift_equals_the_table_statistics_on_the_written_out_column(seed):
    rng = np.random.default_rng(seed)
    n1, n2 = 12_000, 15_000
    a = np.where(rng.random(n1) < 0.3, rng.normal(size=n1), 0.0)
    b = np.where(rng.random(n2) < 0.2 + 0.05 * seed, rng.normal(0.2 * seed, size=n2), 0.0)
    limits = Thresholds(0.2, 0.25, 0.01, 200, 0.01)
    table = numeric_rows("c", sorted_finite(a), sorted_finite(b), limits)
    nz_a, nz_b = np.sort(a[a != 0]), np.sort(b[b != 0])
    sparse = sparse_numeric_rows("c", nz_a, n1 - len(nz_a), nz_b, n2 - len(nz_b), limits)
    assert [r.test for r in sparse] == [r.test for r in table]
    for mine, theirs in zip(sparse, table, strict=True):
        assert mine.verdict == theirs.verdict
        for field in ("statistic", "effect_size"):
            expected = getattr(theirs, field)
            assert getattr(mine, field) == (expected and pytest.approx(expected, rel=1e-9))
        # exact where the verdict rests on it, else Kolmogorov's asymptotic distribution
        exact = "asymptotic" not in sparse[0].detail
        close = (
            pytest.approx(theirs.p_value, rel=1e-9)
            if exact
            else pytest.approx(theirs.p_value, abs=0.02)
        )
        assert mine.p_value == (close if theirs.p_value is not None else None)
    q = np.linspace(0, 1, 11)
    assert implicit_quantiles(nz_a, n1 - len(nz_a), q) == pytest.approx(np.quantile(a, q))


def test_duplicate_rows_of_csr_are_counted_as_pandas_counts_them():
    X, y, _ = sparse_data(3000, 30, seed=9)
    X = sp.vstack([X, X[[5, 5, 80]]]).tocsr()
    y = np.concatenate([y, y[[5, 5, 80]]])
    dense = pd.DataFrame(X.toarray())
    assert duplicate_count(X) == int(dense.duplicated().sum())
    assert duplicate_count(X) == duplicate_count(X.toarray())
    dense["y"] = y
    assert duplicate_count(X, y) == int(dense.duplicated().sum())


# ------------------------------------------------------------------------------ errors


WRONG_RETURNS = [
    ("list", r"returned a list; return a DataFrame or \(X, y\)"),
    ("four", r"returned a tuple of 4 items; return \(X, y\) or \(X, y, feature_names\)"),
    ("flat", r"X has shape \(3,\); return a 2-D array \(rows x features\)"),
    ("strings", "X holds <U1 values; the features must be numbers"),
    ("y2d", r"y has shape \(3, 2\); return a 1-D array of labels"),
    ("mismatch", "X has 1,000 rows but y has 999; they must describe the same rows"),
    ("names", "feature_names has 1 names but X has 2 features"),
    ("twice", "feature name 'a' appears twice"),
    ("none", r"returned None; return a DataFrame or \(X, y\)"),
    ("xlist", "X is a list; return a DataFrame, a 2-D numpy array or a scipy sparse matrix"),
]


@pytest.mark.parametrize(("stem", "message"), WRONG_RETURNS)
def test_every_malformed_return_is_named_with_the_key(tmp_path, stem, message):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / f"{stem}.bin").write_bytes(b"x")
    config_file = project(tmp_path, f'path = "data/{stem}.bin"\nloader = "features:returns"\n')
    dataset = load_config(config_file).datasets["eval"]
    with pytest.raises(ConfigError, match=message) as caught:
        load_data(dataset, root=tmp_path)
    assert str(caught.value).startswith("key 'datasets.eval.loader': 'features:returns' on ")


@pytest.mark.parametrize(
    ("loader", "error", "message"),
    [
        ("features:broken", DataError, r"datasets.eval.loader 'features:broken' failed on .*"
                                       r"eval.bin: FileNotFoundError: no features next to"),
        ("features:NOT_A_FUNCTION", ConfigError, "'features:NOT_A_FUNCTION' is not a function"),
        ("nowhere:load", ConfigError, "cannot import 'nowhere'"),
        ("features:returns", DataError, "returned 0 rows"),
    ],
)  # fmt: skip
def test_a_loader_that_fails_is_one_line_naming_it(tmp_path, loader, error, message):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "eval.bin").write_bytes(b"x")
    if loader == "features:returns":
        (tmp_path / "data" / "empty.bin").write_bytes(b"x")
        config_file = project(tmp_path, f'path = "data/empty.bin"\nloader = "{loader}"\n')
    else:
        config_file = project(tmp_path, f'path = "data/eval.bin"\nloader = "{loader}"\n')
    with pytest.raises(error, match=message):
        load_data(load_config(config_file).datasets["eval"], root=tmp_path)


def test_validate_data_exits_cleanly_on_a_malformed_loader(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "list.bin").write_bytes(b"x")
    project(tmp_path, 'path = "data/list.bin"\nloader = "features:returns"\nexpected_rows = 3\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate-data"])
    assert result.exit_code == 2, result.output
    assert "returned a list; return a DataFrame or (X, y)" in result.output
    assert "Traceback" not in result.output


def test_validate_data_exits_1_naming_a_loader_that_raises(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "eval.bin").write_bytes(b"x")
    project(tmp_path, 'path = "data/eval.bin"\nloader = "features:broken"\nexpected_rows = 3\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate-data"])
    assert result.exit_code == 1, result.output
    assert "'features:broken' failed on" in result.output
    assert "FileNotFoundError: no features next to" in result.output
    assert "Traceback" not in result.output


def test_a_data_item_with_a_malformed_loader_fails_without_a_traceback(pytester):
    (pytester.path / "data").mkdir()
    (pytester.path / "data" / "mismatch.bin").write_bytes(b"x")
    project(pytester.path, 'path = "data/mismatch.bin"\nloader = "features:returns"\n'
            "expected_rows = 1000\n")  # fmt: skip
    result = pytester.runpytest("--mlci", "-p", "no:cacheprovider", "-m", "mlci_data")
    result.stdout.fnmatch_lines(["*X has 1,000 rows but y has 999*"])
    assert "Traceback" not in result.stdout.str()
    assert result.ret == 1


def test_a_dataset_config_with_a_loader_needs_no_file_format(tmp_path):
    save(tmp_path, "eval.pkl", sparse_data(50, 4, seed=1))
    (tmp_path / "features.py").write_text(LOADER)
    dataset = DatasetConfig("eval", tmp_path / "data" / "eval.pkl", loader="features:arrays",
                            target="label")  # fmt: skip
    loaded = load_data(dataset, root=tmp_path)
    assert loaded.sparse and loaded.feature_names[-1] == "tok_3" and len(loaded) == 50


def test_the_densifying_guard_itself_refuses(no_densifying):
    X, _, _ = sparse_data(1000, 50, seed=1)
    with pytest.raises(AssertionError, match="a sparse 1000 x 50 matrix was made dense"):
        X.toarray()
    with pytest.raises(AssertionError, match="made dense"):
        X.todense()


def test_the_run_data_stage_shows_the_shape_and_fails_on_a_bad_matrix(tmp_path):
    from mlci_local.pipeline import Pipeline
    from pytest_mlci.errors import CheckFailed

    save(tmp_path, "eval.pkl", sparse_data(12_000, 300, seed=1))
    save(tmp_path, "ref.pkl", sparse_data(12_000, 300, seed=2))
    config_file = project(
        tmp_path,
        'path = "data/eval.pkl"\nreference = "data/ref.pkl"\nloader = "features:arrays"\n'
        "max_duplicate_rate = 0.01\n",  # 600 repeated rows of 12,600 are 4.8%
    )
    status, note = Pipeline(load_config(config_file), echo=lambda line: None).stage_data()
    assert (status, note) == (
        "ok",
        "eval 12,000 rows x 300 features (sparse), volume/quality/drift ok",
    )
    X, y, names = sparse_data(12_000, 300, seed=1)
    save(tmp_path, "eval.pkl", (sp.vstack([X, X[:600]]).tocsr(), np.concatenate([y, y[:600]]),
                                names))  # fmt: skip
    with pytest.raises(CheckFailed, match=r"<frame>: duplicate rows .* 600 duplicate rows"):
        Pipeline(load_config(config_file), echo=lambda line: None).stage_data()


SCHEMA = """\
import pandera.pandas as pa


class Schema(pa.DataFrameModel):
    x0: float = pa.Field(ge=-10, le=10)
    label: int = pa.Field(isin=[0, 1])
"""


def test_a_table_loader_gets_its_schema_checked_by_the_item_and_the_hook(tmp_path, monkeypatch):
    from pytest_mlci.precommit.check_data_schema import main
    from tests.conftest import make_frame

    frame = make_frame(300, seed=1)
    frame.loc[5, "x0"] = 99.0
    (tmp_path / "data").mkdir()
    frame.to_parquet(tmp_path / "data" / "eval.bin")  # a name read_table does not know
    (tmp_path / "schema.py").write_text(SCHEMA)
    config_file = project(
        tmp_path, 'path = "data/eval.bin"\nloader = "features:table"\nschema = "schema:Schema"\n'
    )
    rows = checks(config_file).run("schema")
    assert overall(rows) == FAIL and rows[0].column == "x0"
    monkeypatch.chdir(tmp_path)
    assert main([str(tmp_path / "data" / "eval.bin")]) == 1
    frame.loc[5, "x0"] = 0.0
    frame.to_parquet(tmp_path / "data" / "eval.bin")
    assert main([str(tmp_path / "data" / "eval.bin")]) == 0
    assert overall(checks(config_file).run("schema")) == PASS


def test_freshness_reads_a_table_loaders_timestamp_and_names_a_missing_one(tmp_path):
    from tests.conftest import make_frame

    frame = make_frame(100, seed=1)
    frame["seen"] = pd.Timestamp.now(tz="UTC")
    (tmp_path / "data").mkdir()
    frame.to_parquet(tmp_path / "data" / "eval.bin")
    config_file = project(
        tmp_path,
        'path = "data/eval.bin"\nloader = "features:table"\ntimestamp = "seen"\n'
        "max_age_hours = 1\n",
    )
    assert overall(checks(config_file).run("freshness")) == PASS
    config_file.write_text(config_file.read_text().replace('"seen"', '"updated"'))
    with pytest.raises(DataError, match="the loader's table has no timestamp column 'updated'"):
        checks(config_file).run("freshness")


def test_reports_stay_bounded_with_many_failing_features(tmp_path):
    X, y, names = sparse_data(3000, 80, seed=7)
    X = X.tolil()
    rng = np.random.default_rng(1)
    for column in range(60):  # 60 features drift, 20 do not
        X[:, column] = rng.exponential(4.0, size=(3000, 1))
    save(tmp_path, "eval.pkl", (X.tocsr(), y, names))
    save(tmp_path, "ref.pkl", sparse_data(3000, 80, seed=8))
    config_file = project(
        tmp_path, 'path = "data/eval.pkl"\nreference = "data/ref.pkl"\nloader = "features:arrays"\n'
    )
    rows = checks(config_file).run("drift")
    assert overall(rows) == FAIL
    listed = [r for r in rows if r.test == "ks" and r.column != "<features>"]
    assert len(listed) == 20 and all(r.verdict == FAIL for r in listed)
    summary = {(r.test, r.detail) for r in rows if r.column == "<features>"}
    assert ("ks", "and 40 more not listed") in summary
    assert ("features", "20 of 80 features within their limits") in summary
    assert len(rows) < 100  # not 320


def test_a_dataframe_x_with_labels_is_a_table_with_y_as_its_target(tmp_path):
    from tests.conftest import make_frame

    frame = make_frame(400, seed=1)
    save(tmp_path, "eval.pkl", (frame.drop(columns="label"), frame["label"].to_numpy(), None))
    (tmp_path / "schema.py").write_text(SCHEMA)
    config_file = project(
        tmp_path,
        'path = "data/eval.pkl"\nloader = "features:unnamed"\nschema = "schema:Schema"\n'
        'drop = ["group"]\nexpected_rows = 400\n',
    )
    runner = checks(config_file)
    loaded = runner.loaded()
    assert loaded.is_table and list(loaded.X.columns) == ["x0", "x1", "x2", "x3"]
    assert list(loaded.frame.columns)[-1] == "label" and (loaded.y == frame["label"]).all()
    assert overall(runner.run("schema")) == PASS and overall(runner.run("quality")) == PASS


def test_mlci_run_shows_the_sparse_shape_and_exits_2_on_a_malformed_loader(tmp_path, monkeypatch):
    save(tmp_path, "eval.pkl", sparse_data(12_000, 300, seed=1))
    save(tmp_path, "ref.pkl", sparse_data(12_000, 300, seed=2))
    config_file = project(
        tmp_path, 'path = "data/eval.pkl"\nreference = "data/ref.pkl"\nloader = "features:arrays"\n'
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["run", "--until", "data"])
    assert result.exit_code == 0, result.output
    assert "data validation" in result.output
    assert "eval 12,000 rows x 300 features (sparse), volume/quality/drift ok" in result.output
    (tmp_path / "data" / "list.bin").write_bytes(b"x")
    config_file.write_text(
        config_file.read_text().replace('"data/eval.pkl"', '"data/list.bin"')
        .replace("features:arrays", "features:returns")
    )  # fmt: skip
    result = CliRunner().invoke(cli, ["run", "--until", "data"])
    assert result.exit_code == 2, result.output
    assert "returned a list; return a DataFrame or (X, y)" in result.output
    assert "Traceback" not in result.output
