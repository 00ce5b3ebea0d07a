"""Data items under `pytest --mlci`, `mlci validate-data`, `mlci drift` and the pre-commit hook."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mlci_local.cli import cli
from pytest_mlci.precommit.check_data_schema import main as check_data_schema


def declare(root: Path, extra: str) -> None:
    """Add keys to the tiny project's [tool.mlci.datasets.eval] table."""
    config = root / "pyproject.toml"
    anchor = 'schema = "tiny_schema:TinySchema"\n'
    config.write_text(config.read_text().replace(anchor, anchor + textwrap.dedent(extra)))


def write_reference(root: Path, *, shift: float = 0.0, rows: int | None = None) -> None:
    """A reference like the current data; ``shift`` moves the current x0 instead."""
    current = pd.read_parquet(root / "data" / "test.parquet")
    rng = np.random.default_rng(3)
    reference = current.sample(frac=1.0, random_state=1).reset_index(drop=True)
    reference[["x0", "x1", "x2", "x3"]] = rng.normal(size=(len(reference), 4))
    reference.head(rows or len(reference)).to_parquet(root / "data" / "reference.parquet")
    if shift:
        current["x0"] = current["x0"] + shift
        current.to_parquet(root / "data" / "test.parquet")


def run(pytester, *args):
    return pytester.runpytest("--mlci", "-p", "no:cacheprovider", "-m", "mlci_data", *args)


def test_a_reference_adds_volume_quality_and_drift_items(pytester, tiny_project):
    write_reference(pytester.path)
    declare(pytester.path, 'reference = "data/reference.parquet"\n')
    result = run(pytester, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*mlci::data::eval::schema PASSED*",
            "*mlci::data::eval::volume PASSED*",
            "*mlci::data::eval::quality PASSED*",
            "*mlci::data::eval::drift PASSED*",
        ]
    )


def test_a_shifted_column_fails_drift_with_numbers_and_no_traceback(pytester, tiny_project):
    write_reference(pytester.path, shift=1.0)
    declare(pytester.path, 'reference = "data/reference.parquet"\n')
    result = run(pytester, "--mlci-report-json=report.json")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        ["*FAILED: dataset 'eval' drift*", "*x0: psi * (limit 0.2) p=* FAIL*"]
    )
    assert "Traceback" not in result.stdout.str()
    assert "x1: psi" not in result.stdout.str()  # only the failing column is listed


def test_a_50_percent_drop_and_stale_data_fail_their_items(pytester, tiny_project):
    declare(pytester.path, "expected_rows = 4000\nmax_age_hours = 1\n")
    data = pytester.path / "data" / "test.parquet"
    import os

    os.utime(data, (1_000_000_000, 1_000_000_000))  # 2001
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        ["*row count -0.5 (limit 0.2) - 2,000 rows vs 4,000 (expected_rows), -50.0%*FAIL"]
    )
    result.stdout.fnmatch_lines(["*<file mtime>: age hours*FAIL*"])


def test_too_small_a_sample_is_inconclusive_and_fails_saying_so(pytester, tiny_project):
    write_reference(pytester.path, rows=50)
    declare(pytester.path, 'reference = "data/reference.parquet"\nexpected_rows = 2000\n')
    result = run(pytester, "-k", "drift")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*INCONCLUSIVE (counts as a failure): dataset 'eval' drift*"])


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def invoke(tiny_dir, monkeypatch):
    monkeypatch.chdir(tiny_dir.root)
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args), catch_exceptions=False)


def test_validate_data_runs_every_declared_check_as_a_table(invoke, tiny_dir):
    write_reference(tiny_dir.root, shift=1.0)
    declare(tiny_dir.root, 'reference = "data/reference.parquet"\n')
    result = invoke("validate-data")
    assert result.exit_code == 1
    assert "eval: FAIL (2,000 rows); schema, volume, quality, drift" in result.output
    assert "check  column  test" in result.output
    assert "drift  x0" in result.output


def test_drift_exit_code_only_when_retraining_is_warranted(invoke, tiny_dir):
    write_reference(tiny_dir.root)
    declare(tiny_dir.root, 'reference = "data/reference.parquet"\n')
    calm = invoke("drift", "--exit-code")
    assert calm.exit_code == 0 and "no drift over the retraining threshold" in calm.output
    write_reference(tiny_dir.root, shift=1.0)
    moved = invoke("drift", "--exit-code")
    assert moved.exit_code == 1
    assert "retrain: drift over the threshold in 1 column(s): eval.x0" in moved.output
    assert invoke("drift").exit_code == 0  # without --exit-code it only reports


def test_drift_inconclusive_exits_0_unless_asked(invoke, tiny_dir):
    write_reference(tiny_dir.root, rows=50)
    declare(tiny_dir.root, 'reference = "data/reference.parquet"\n')
    result = invoke("drift", "--exit-code")
    assert result.exit_code == 0 and "INCONCLUSIVE" in result.output
    assert invoke("drift", "--exit-code", "--fail-inconclusive").exit_code == 1


def test_drift_without_a_reference_is_a_usage_error(invoke):
    result = invoke("drift")
    assert result.exit_code == 2
    assert "no dataset declares a reference to compare with" in result.output
    assert "add reference = 'data/reference.parquet'" in result.output


# ------------------------------------------------------------------ pre-commit hook


def hook_output_on_a_bad_value_then_a_broken_file(root: Path, row: int, capsys) -> str:
    """Put an unknown group at ``row`` of the staged file: the hook fails naming the column
    (its output is returned); then break the file: the hook fails naming the file."""
    data = root / "data" / "test.parquet"
    frame = pd.read_parquet(data)
    frame.loc[row, "group"] = "zzz"
    frame.to_parquet(data)
    assert check_data_schema(["data/test.parquet"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("data/test.parquet: [eval] column 'group': isin")
    data.write_bytes(b"PAR1 broken")
    assert check_data_schema(["data/test.parquet"]) == 1
    assert "data/test.parquet: cannot be read as parquet" in capsys.readouterr().out
    return out


def test_the_hook_checks_only_staged_files_of_declared_datasets(tiny_dir, monkeypatch, capsys):
    monkeypatch.chdir(tiny_dir.root)
    assert check_data_schema(["src/train.py", "data/test.parquet"]) == 0
    hook_output_on_a_bad_value_then_a_broken_file(tiny_dir.root, 4, capsys)
    assert check_data_schema(["other.parquet"]) == 0


def test_the_hook_validates_a_streamed_file_batch_by_batch(tiny_dir, monkeypatch, capsys):
    """A staged parquet file of a streamed dataset is never loaded whole: a bad value deep in
    the file is found in its batch and reported with its row number in the file."""
    from pytest_mlci.data import loading, stats

    monkeypatch.chdir(tiny_dir.root)
    monkeypatch.setattr(stats, "BATCH_ROWS", 500)
    declare(tiny_dir.root, 'stream = "always"\n')

    def never(path, *args, **kwargs):
        raise AssertionError(f"{path} was loaded whole")

    monkeypatch.setattr(loading, "read_table", never)
    assert check_data_schema(["data/test.parquet"]) == 0
    out = hook_output_on_a_bad_value_then_a_broken_file(tiny_dir.root, 1733, capsys)
    assert "1733" in out


def test_the_hook_imports_pandas_only_for_a_matching_file(tiny_dir):
    probe = (
        "import sys\n"
        "from pytest_mlci.precommit.check_data_schema import main\n"
        "code = main(sys.argv[1:])\n"
        "print('PANDAS' if 'pandas' in sys.modules else 'LIGHT', code)\n"
    )

    def run_hook(*files: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe, *files],
            cwd=tiny_dir.root, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return done.stdout.strip().splitlines()[-1]

    assert run_hook("src/train.py", "README.md") == "LIGHT 0"
    assert run_hook("data/test.parquet") == "PANDAS 0"


def test_the_json_report_can_carry_the_rows():
    from pytest_mlci.data.results import CheckRow

    row = CheckRow("drift", "x0", "psi", float("nan"), 0.001, float("inf"), 0.2, "fail")
    assert json.loads(json.dumps(row.as_json()))["statistic"] is None


def test_the_html_report_overlays_each_drifted_columns_distributions(pytester, tiny_project):
    write_reference(pytester.path, shift=1.0)
    declare(pytester.path, 'reference = "data/reference.parquet"\n')
    run(pytester, "--mlci-report-html=report.html")
    html = (pytester.path / "report.html").read_text()
    assert '<h2>Drift: x0</h2><img alt="Drift: x0"' in html
    assert "Drift: x1" not in html  # only drifted columns are drawn


def test_a_streamed_dataset_draws_its_drifted_columns_from_a_bounded_sample(
    pytester, tiny_project, monkeypatch
):
    """Larger-than-memory data is not loaded for a picture: the drifted columns are read
    once more as a strided sample, and only when an HTML report is asked for."""
    from pytest_mlci.data import stats

    sampled = []
    real_sample = stats.strided_sample

    def counting_sample(path, columns, wanted):
        sampled.append((Path(path).name, list(columns), wanted))
        return real_sample(path, columns, wanted)

    monkeypatch.setattr(stats, "strided_sample", counting_sample)
    write_reference(pytester.path, shift=1.0)
    declare(pytester.path, 'reference = "data/reference.parquet"\nstream = "always"\n')

    run(pytester).assert_outcomes(passed=3, failed=1)
    assert sampled == []  # no HTML report, no second read

    run(pytester, "--mlci-report-html=report.html").assert_outcomes(passed=3, failed=1)
    html = (pytester.path / "report.html").read_text()
    assert '<h2>Drift: x0</h2><img alt="Drift: x0"' in html
    assert "Drift: x1" not in html
    assert sorted(sampled) == [
        ("reference.parquet", ["x0"], 50_000),
        ("test.parquet", ["x0"], 50_000),
    ]
