"""The `mlci` command as a user meets it (click's CliRunner, in-process)."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from mlci_local.cli import cli, main


@pytest.fixture
def invoke(tiny_dir, monkeypatch):
    """Run `mlci ...` inside the tiny project."""
    monkeypatch.chdir(tiny_dir.root)
    runner = CliRunner()

    def call(*args: str, input: str | None = None):
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return call


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("run", "check", "validate-data", "status", "promote", "rollback"):
        assert name in result.output


def test_a_config_mistake_exits_2_naming_file_key_and_fix(invoke, tiny_dir):
    config = tiny_dir.root / "pyproject.toml"
    config.write_text(config.read_text().replace('tier = "medium"\n', "") + "\n")
    config.write_text(
        config.read_text().replace(
            'task = "binary_classification"', 'task = "binary_clasification"'
        )
    )
    result = invoke("status")
    assert result.exit_code == 2
    assert "pyproject.toml: key 'tool.mlci.task'" in result.output
    assert "did you mean 'binary_classification'?" in result.output
    assert "Traceback" not in result.output


def test_no_config_at_all_exits_2_and_says_where_to_add_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 2
    assert "add a [tool.mlci] table to pyproject.toml" in result.output


def test_validate_data_passes_then_names_the_broken_column(invoke, tiny_dir):
    import pandas as pd

    ok = invoke("validate-data")
    assert ok.exit_code == 0
    assert "eval: ok (2,000 rows)" in ok.output
    data = tiny_dir.root / "data" / "test.parquet"
    frame = pd.read_parquet(data)
    frame.loc[7, "label"] = 5
    frame.to_parquet(data)
    bad = invoke("validate-data", "eval")
    assert bad.exit_code == 1
    assert "column 'label': isin" in bad.output and "rows 7" in bad.output


def test_validate_data_reports_a_corrupt_file_without_a_traceback(invoke, tiny_dir):
    (tiny_dir.root / "data" / "test.parquet").write_bytes(b"PAR1 this is not parquet")
    result = invoke("validate-data")
    assert result.exit_code == 1
    assert "test.parquet: cannot be read as parquet" in result.output
    assert "Traceback" not in result.output


def test_an_unknown_dataset_is_a_usage_error(invoke):
    result = invoke("validate-data", "evall")
    assert result.exit_code == 2
    assert "no dataset 'evall'; declared: eval" in result.output


def test_status_on_an_empty_registry_shows_no_aliases(invoke):
    result = invoke("status")
    assert result.exit_code == 0
    assert "versions: 0" in result.output
    assert "production  -" in result.output


def test_status_json_is_machine_readable(invoke):
    result = invoke("status", "--json")
    payload = json.loads(result.output)
    assert payload["model"] == "tiny" and payload["aliases"] == {}


def test_rollback_without_a_target_refuses_with_exit_1(invoke):
    result = invoke("rollback", "--yes")
    assert result.exit_code == 1
    assert "nothing to roll back to" in result.output


def test_rollback_asks_for_confirmation(invoke):
    result = invoke("rollback", input="n\n")
    assert result.exit_code == 1
    assert "Roll back production of 'tiny'?" in result.output


def test_promote_without_records_is_refused(invoke, tiny_dir):
    from mlci_local.registry import Registry
    from pytest_mlci.config import load_config
    from pytest_mlci.model_io import sha256_file

    config = load_config(tiny_dir.root / "pyproject.toml")
    Registry(config).register(config.artifact, sha256_file(config.artifact), tags={})
    result = invoke("promote", "1")
    assert result.exit_code == 1
    assert "no evaluation record" in result.output
    forced = invoke("promote", "v1", "--force", "--reason", "known good, INC-7")
    assert forced.exit_code == 0
    assert "production -> v1" in forced.output


def test_check_exits_1_with_findings_and_0_when_clean(invoke, tiny_dir):
    leaky = tiny_dir.root / "src" / "leaky.py"
    leaky.write_text(
        "from sklearn.model_selection import train_test_split\n"
        "from sklearn.preprocessing import StandardScaler\n"
        "X_scaled = StandardScaler().fit_transform(X)\n"
        "X_tr, X_te, y_tr, y_te = train_test_split(X_scaled, y, random_state=0)\n"
    )
    result = invoke("check", str(leaky))
    assert result.exit_code == 1
    assert "leaky.py:3:" in result.output and "MLC001" in result.output
    clean = invoke("check", str(tiny_dir.root / "src" / "train.py"))
    assert clean.exit_code == 0, clean.output


def test_main_returns_exit_codes_for_scripts(tiny_dir, monkeypatch, capsys):
    monkeypatch.chdir(tiny_dir.root)
    assert main(["status"]) == 0
    assert main(["no-such-command"]) == 2
    shutil.rmtree(tiny_dir.root / "data")
    assert main(["validate-data"]) == 1
