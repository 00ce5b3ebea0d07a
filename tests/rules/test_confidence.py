"""Confidence: high findings are reported by default, medium ones when asked for, everywhere.

A finding is high when the code shows the problem happens (the unseeded model is fitted, the
statistic reaches the split) and medium when it may (the model is only built, the randomness
is only displayed). What a user sees: the hook and ``mlci check`` print only high findings
unless ``--confidence medium`` or ``[tool.mlci.static] confidence = "medium"`` says otherwise;
``mlci check`` says how many it did not show; SARIF marks a medium one as a note.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlci_local.cli import cli
from pytest_mlci.config import StaticSettings, load_config
from pytest_mlci.errors import ConfigError
from pytest_mlci.precommit.check_ml_code import main as hook
from pytest_mlci.rules import check_file, check_source

# One high finding (the fitted forest) and one medium (the SGD model that is only built).
SOURCE = textwrap.dedent(
    """\
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import SGDClassifier

    forest = RandomForestClassifier().fit(X, y)
    alternative = SGDClassifier()
    """
)


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "train.py"
    path.write_text(SOURCE, encoding="utf-8")
    return path


def test_the_hook_reports_high_by_default_and_medium_on_request(script, capsys):
    assert hook([str(script)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[1].split()[0] for line in lines] == ["MLC101"]
    assert "train.py:4:" in lines[0] and "medium confidence" not in lines[0]

    assert hook(["--confidence", "medium", str(script)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "train.py:5:" in lines[1] and lines[1].endswith("(medium confidence)")


def test_mlci_check_says_how_many_medium_findings_it_did_not_show(script):
    result = CliRunner().invoke(cli, ["check", str(script)])
    assert result.exit_code == 1
    assert "1 finding; 1 of medium confidence not shown (--confidence medium)" in result.output
    shown = CliRunner().invoke(cli, ["check", "--confidence", "medium", str(script)])
    assert shown.exit_code == 1
    assert "2 findings" in shown.output and "not shown" not in shown.output


def test_a_file_with_only_medium_findings_passes_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "demo.py"
    path.write_text("from sklearn.linear_model import SGDClassifier\nm = SGDClassifier()\n")
    assert hook([str(path)]) == 0
    assert hook(["--confidence", "medium", str(path)]) == 1


def test_sarif_marks_medium_findings_as_notes(script, capsys):
    assert hook(["--format", "sarif", "--confidence", "medium", str(script)]) == 1
    results = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    levels = {r["locations"][0]["physicalLocation"]["region"]["startLine"]: r for r in results}
    assert levels[4]["level"] == "warning" and levels[4]["properties"]["confidence"] == "high"
    assert levels[5]["level"] == "note" and levels[5]["properties"]["confidence"] == "medium"


MINIMAL = """
[tool.mlci]
model = "m"
task = "regression"
target = "y"
artifact = "model.skops"

[tool.mlci.static]
confidence = "{value}"
"""


def test_configured_confidence_is_used_and_a_wrong_value_is_refused(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text(MINIMAL.format(value="medium"))
    assert load_config(path).static.confidence == "medium"
    path.write_text(MINIMAL.format(value="low"))
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    message = str(excinfo.value)
    assert str(path) in message and "static.confidence" in message
    assert "'high'" in message and "'medium'" in message


def test_a_placeholder_left_for_a_student_makes_the_finding_medium():
    source = textwrap.dedent(
        """\
        from sklearn.model_selection import train_test_split
        X_train, X_test, y_train, y_test = train_test_split(X, y,
                                                            # YOUR CODE
                                                            )
        """
    )
    assert check_source(source, "hw.py") == []
    [finding] = check_source(source, "hw.py", StaticSettings(confidence="medium"))
    assert (finding.code, finding.confidence) == ("MLC101", "medium")


def _notebook_v3(tmp_path: Path, cells: list[str]) -> Path:
    document = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {},
        "worksheets": [
            {"cells": [{"cell_type": "code", "input": c, "language": "python"} for c in cells]}
        ],
    }
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_an_nbformat_3_notebook_is_checked_not_skipped(tmp_path):
    path = _notebook_v3(
        tmp_path,
        ["from sklearn.cluster import KMeans", "km = KMeans(3).fit(X)"],
    )
    assert [(f.code, f.cell, f.line) for f in check_file(path)] == [("MLC101", 2, 1)]


def test_env_magic_setting_a_literal_secret_is_found(tmp_path):
    cell = "%env WANDB_API_KEY=0123456789abcdef0123456789abcdef01234567\nimport wandb"
    document = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [{"cell_type": "code", "source": cell, "metadata": {}, "outputs": []}],
    }
    path = tmp_path / "track.ipynb"
    path.write_text(json.dumps(document), encoding="utf-8")
    [finding] = check_file(path)
    assert (finding.code, finding.cell, finding.line) == ("MLC202", 1, 1)
    assert "WANDB_API_KEY" in finding.message
