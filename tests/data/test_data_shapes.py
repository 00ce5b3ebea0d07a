"""Data in the shapes people have: headerless TSV, JSON lines, and `features` / `drop` choosing
the model's input, each proven through a real gate run on the tiny project."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mlci_local.cli import cli
from pytest_mlci.config import DatasetConfig, load_config
from pytest_mlci.data.loading import model_input, read_dataset
from pytest_mlci.errors import ConfigError, DataError

COLUMNS = ["x0", "x1", "x2", "x3", "group", "label"]
PATH_LINE = 'path = "data/test.parquet"\n'


def reshape(root: Path, lines: str) -> None:
    """Replace the tiny project's eval dataset path line with ``lines``."""
    config = root / "pyproject.toml"
    text = config.read_text()
    assert PATH_LINE in text
    config.write_text(text.replace(PATH_LINE, lines))


def frame(root: Path) -> pd.DataFrame:
    return pd.read_parquet(root / "data" / "test.parquet")


def run(pytester, *args: str):
    return pytester.runpytest("--mlci", "-p", "no:cacheprovider", *args)


def test_a_headerless_tsv_with_columns_validates_and_passes_its_gate(pytester, tiny_project):
    frame(pytester.path).to_csv(pytester.path / "data" / "test.tsv", sep="\t", header=False)
    reshape(
        pytester.path,
        'path = "data/test.tsv"\nsep = "\\t"\nheader = false\n'
        'columns = ["row", "x0", "x1", "x2", "x3", "group", "label"]\ndrop = ["row"]\n',
    )
    result = run(pytester, "-v")
    result.stdout.fnmatch_lines(["*mlci::data::eval::schema PASSED*", "*roc_auc*PASSED*"])
    assert result.ret == 0, result.stdout.str()


def test_a_json_lines_eval_file_validates_and_passes_its_gate(pytester, tiny_project):
    data = frame(pytester.path)
    data.to_json(pytester.path / "data" / "test.jsonl", orient="records", lines=True)
    reshape(pytester.path, 'path = "data/test.jsonl"\n')
    result = run(pytester, "-v")
    result.stdout.fnmatch_lines(["*mlci::data::eval::schema PASSED*", "*roc_auc*PASSED*"])
    assert result.ret == 0, result.stdout.str()
    loaded = read_dataset(DatasetConfig("eval", pytester.path / "data" / "test.jsonl"))
    assert list(loaded.columns) == COLUMNS and len(loaded) == len(data)


def numeric_model(project) -> None:
    """A model fitted on x0..x3 only, which (unlike a ColumnTransformer) cannot pick its own
    columns out of a wider frame: what it is given must be exactly what it was fitted on."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tests.conftest import make_frame

    train = make_frame(1000, seed=1)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    project.save_model(model.fit(train[["x0", "x1", "x2", "x3"]], train["label"]))


def test_drop_removes_an_id_the_model_never_saw_and_without_it_the_gate_fails(
    pytester, tiny_project
):
    numeric_model(tiny_project)
    data = frame(pytester.path)
    data.insert(0, "id", range(len(data)))
    data.to_parquet(pytester.path / "data" / "test.parquet")

    without = run(pytester)
    assert without.ret == 1
    without.stdout.fnmatch_lines(["*Feature names unseen at fit time*", "*- id*"])

    # `group` is no model input either, yet the schema check (which requires it) still sees it
    reshape(pytester.path, PATH_LINE + 'drop = ["id", "group"]\n')
    result = run(pytester, "-v")
    result.stdout.fnmatch_lines(["*mlci::data::eval::schema PASSED*", "*roc_auc*PASSED*"])
    assert result.ret == 0, result.stdout.str()


def test_features_are_given_to_the_model_in_their_order(pytester, tiny_project):
    numeric_model(tiny_project)
    reshape(pytester.path, PATH_LINE + 'features = ["x0", "x1", "x2", "x3"]\n')
    assert run(pytester).ret == 0

    config = pytester.path / "pyproject.toml"
    config.write_text(config.read_text().replace('"x0", "x1"', '"x1", "x0"'))
    swapped = run(pytester)
    assert swapped.ret == 1
    swapped.stdout.fnmatch_lines(["*same order as they were in fit*"])


def test_model_input_keeps_target_and_protected_columns_in_the_frame(tmp_path):
    data = pd.DataFrame({"id": [1], "b": [2.0], "a": [3.0], "sex": ["f"], "y": [0]})
    dataset = DatasetConfig("eval", tmp_path / "e.csv", protected=("sex",), features=("a", "b"))
    assert list(model_input(data, dataset, "y").columns) == ["a", "b"]
    dropped = DatasetConfig("eval", tmp_path / "e.csv", drop=("id",))
    assert list(model_input(data, dropped, "y").columns) == ["b", "a", "sex"]
    assert list(data.columns) == ["id", "b", "a", "sex", "y"]  # the checks still see them all


@pytest.mark.parametrize("key", ["features", "drop"])
def test_an_unknown_input_column_names_dataset_key_column_and_file(tmp_path, key):
    data = pd.DataFrame({"a": [1.0], "y": [0]})
    dataset = DatasetConfig("eval", tmp_path / "e.csv", **{key: ("ghost",)})
    with pytest.raises(DataError) as excinfo:
        model_input(data, dataset, "y")
    message = str(excinfo.value)
    assert f"e.csv: datasets.eval.{key} names column 'ghost'" in message
    assert "(it has: a, y)" in message


def test_an_unknown_feature_fails_the_gate_run_without_a_traceback(pytester, tiny_project):
    reshape(pytester.path, PATH_LINE + 'features = ["x0", "x9"]\n')
    result = run(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*test.parquet: datasets.eval.features names column 'x9'*"])
    assert "Traceback" not in result.stdout.str()


def test_a_headerless_file_with_the_wrong_number_of_columns_is_named(tmp_path):
    (tmp_path / "e.csv").write_text("1,2,3\n4,5,6\n")
    dataset = DatasetConfig("eval", tmp_path / "e.csv", columns=("a", "b"))
    with pytest.raises(DataError, match=r"e.csv: the file has 3 columns but datasets.eval.col"):
        read_dataset(dataset)


def test_sep_is_used_instead_of_sniffing(tmp_path):
    (tmp_path / "e.csv").write_text("a;b|c\n1;2|3\n")
    assert list(read_dataset(DatasetConfig("eval", tmp_path / "e.csv", sep="|")).columns) == [
        "a;b",
        "c",
    ]


BASE = """
[tool.mlci]
model = "m"
task = "binary_classification"
target = "y"
artifact = "model.skops"

[tool.mlci.datasets.eval]
"""


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ('path = "e.csv"\nheader = false\n', r"datasets.eval.columns.*required with header"),
        ('path = "e.csv"\ncolumns = ["a"]\n', r"datasets.eval.columns.*add header = false"),
        ('path = "e.csv"\nsep = "ab"\n', r"datasets.eval.sep.*one character"),
        ("path = \"e.csv\"\nsep = '\\t'\n", r"datasets.eval.sep.*for a tab write"),
        ('path = "e.parquet"\nsep = ";"\n', r"datasets.eval.sep.*CSV/TSV files only"),
        ('path = "e.csv"\nheader = "no"\n', r"datasets.eval.header.*true or false"),
        ('path = "e.csv"\nfeatures = ["a"]\ndrop = ["b"]\n', r"datasets.eval.drop.*features"),
        ('path = "e.csv"\nfeatures = ["a", "y"]\n', r"datasets.eval.features.*target 'y'"),
        ('path = "e.csv"\nheader = false\ncolumns = ["a", "a"]\n', r"columns.*'a' twice"),
        ('path = "e.csv"\ndrop = [1]\n', r"datasets.eval.drop.*list of strings"),
    ],
)
def test_a_shape_mistake_is_a_config_error_naming_the_key(tmp_path, lines, expected):
    (tmp_path / "pyproject.toml").write_text(BASE + lines)
    with pytest.raises(ConfigError, match=expected):
        load_config(tmp_path / "pyproject.toml")


def test_a_shape_mistake_exits_2_from_the_cli(tiny_dir, monkeypatch):
    reshape(tiny_dir.root, PATH_LINE + 'features = ["x0"]\ndrop = ["x1"]\n')
    monkeypatch.chdir(tiny_dir.root)
    result = CliRunner().invoke(cli, ["validate-data"])
    assert result.exit_code == 2, result.output
    assert "datasets.eval.drop" in result.output
    assert "Traceback" not in result.output


def test_the_schema_hook_reads_a_staged_headerless_tsv_with_its_columns(
    tiny_dir, monkeypatch, capsys
):
    from pytest_mlci.precommit.check_data_schema import main as check_data_schema

    data = frame(tiny_dir.root)
    reshape(
        tiny_dir.root,
        'path = "data/test.tsv"\nsep = "\\t"\nheader = false\n'
        'columns = ["x0", "x1", "x2", "x3", "group", "label"]\n',
    )
    monkeypatch.chdir(tiny_dir.root)
    data.to_csv("data/test.tsv", sep="\t", header=False, index=False)
    assert check_data_schema(["data/test.tsv"]) == 0
    data.loc[4, "group"] = "zzz"
    data.to_csv("data/test.tsv", sep="\t", header=False, index=False)
    assert check_data_schema(["data/test.tsv"]) == 1
    assert capsys.readouterr().out.startswith("data/test.tsv: [eval] column 'group': isin")
