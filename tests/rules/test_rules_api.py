"""The public API of the static rules: table, selection, suppression, errors, output formats."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from pytest_mlci.analysis import Finding
from pytest_mlci.config import StaticSettings
from pytest_mlci.report.static_formats import format_findings
from pytest_mlci.rules import RULES, check_file, check_paths, check_source, enabled_codes

LEAKY = textwrap.dedent(
    """\
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X = StandardScaler().fit_transform(X){noqa}
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    model = SGDClassifier().fit(X_train, y_train)
    """
)


def leaky(noqa: str = "") -> str:
    return LEAKY.format(noqa=noqa)


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


# ---------------------------------------------------------------- the code table


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_rule_documents_itself_in_four_sections(code: str) -> None:
    rule = RULES[code]
    doc = rule.__doc__ or ""
    assert doc.startswith(f"{code}"), "the first line names the code"
    for section in ("What it does", "Why is this bad?", "Example", "Use instead"):
        assert re.search(rf"^{re.escape(section)}$", doc, re.M), f"{code} lacks '{section}'"
    assert code == rule.CODE
    assert rule.FAMILY in ("leakage", "nondeterminism", "hardcoded", "opt-in")
    assert rule.MESSAGE


def test_codes_follow_the_family_numbering() -> None:
    for code, rule in RULES.items():
        family = Finding(code, "", "x.py", 1, 1).family
        assert family == rule.FAMILY, code


def test_finding_formats_like_flake8_and_names_notebook_cells() -> None:
    assert Finding("MLC001", "msg", "a.py", 3, 5).format() == "a.py:3:5: MLC001 msg"
    assert Finding("MLC101", "msg", "n.ipynb", 2, 1, cell=4).format() == (
        "n.ipynb:cell 4:2:1: MLC101 msg"
    )


# ---------------------------------------------------------------- selection


def test_default_selection_runs_everything_but_opt_in_rules() -> None:
    enabled = enabled_codes(StaticSettings())
    assert "MLC001" in enabled and "MLC101" in enabled
    assert "MLC901" not in enabled


def test_select_by_code_or_prefix() -> None:
    assert enabled_codes(StaticSettings(select=("MLC1",))) == [
        c for c in RULES if c.startswith("MLC1")
    ]
    assert codes(check_source(leaky(), "m.py", StaticSettings(select=("MLC101",)))) == ["MLC101"]


def test_opt_in_rules_need_an_explicit_mlc9_selector() -> None:
    assert "MLC901" not in enabled_codes(StaticSettings(select=("MLC",)))
    assert "MLC901" in enabled_codes(StaticSettings(select=("MLC9",)))
    assert "MLC901" in enabled_codes(StaticSettings(select=("MLC0", "MLC901")))


def test_ignore_by_code_or_prefix() -> None:
    assert codes(check_source(leaky(), "m.py", StaticSettings(ignore=("MLC1",)))) == ["MLC001"]
    assert codes(check_source(leaky(), "m.py", StaticSettings(ignore=("MLC001",)))) == ["MLC101"]


def test_per_file_ignores_match_the_path_relative_to_cwd(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "explore.py").write_text(leaky())
    (tmp_path / "train.py").write_text(leaky())
    settings = StaticSettings(per_file_ignores={"notebooks/*": ("MLC1",)})
    findings = check_paths([tmp_path], settings)
    by_file = {(Path(f.path).name, f.code) for f in findings}
    assert by_file == {
        ("explore.py", "MLC001"),
        ("train.py", "MLC001"),
        ("train.py", "MLC101"),
    }


# ---------------------------------------------------------------- suppression


def test_noqa_with_the_code_suppresses_only_that_code() -> None:
    assert codes(check_source(leaky("  # noqa: MLC001"), "m.py")) == ["MLC101"]


def test_bare_noqa_suppresses_everything_on_the_line() -> None:
    assert codes(check_source(leaky("  # noqa"), "m.py")) == ["MLC101"]


def test_noqa_for_other_tools_does_not_suppress() -> None:
    assert codes(check_source(leaky("  # noqa: E501"), "m.py")) == ["MLC001", "MLC101"]


def test_cell_header_noqa_suppresses_the_code_for_the_whole_cell() -> None:
    notebook = _notebook(
        [
            "from sklearn.cluster import KMeans",
            "# mlci: noqa: MLC101\nkm = KMeans(3).fit(X)\nkm2 = KMeans(4).fit(X)",
            "km3 = KMeans(5).fit(X)",
        ]
    )
    findings = check_source(notebook, "n.ipynb")
    assert [(f.cell, f.line, f.code) for f in findings] == [(3, 1, "MLC101")]


# ---------------------------------------------------------------- files that cannot be analysed


def test_syntax_error_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n    pass\n")
    [finding] = check_file(broken)
    assert finding.code == "MLC000"
    assert finding.line == 1
    assert "cannot parse" in finding.message


def test_a_broken_notebook_cell_is_reported_and_the_other_cells_still_checked() -> None:
    notebook = _notebook(
        ["from sklearn.cluster import KMeans", "x = (1,", "    indented(", "km = KMeans(3).fit(X)"]
    )
    assert [(f.code, f.cell) for f in check_source(notebook, "n.ipynb")] == [("MLC101", 4)]
    findings = check_source(notebook, "n.ipynb", StaticSettings(confidence="medium"))
    assert [(f.code, f.cell) for f in findings] == [
        ("MLC000", 2),
        ("MLC000", 3),
        ("MLC101", 4),
    ]
    assert "cell 2 was skipped" in findings[0].message
    assert findings[0].format().endswith("(medium confidence)")


def test_ipython_syntax_is_ignored_but_python_that_looks_like_it_is_kept() -> None:
    notebook = _notebook(
        [
            "%matplotlib inline\n!pip install x \\\n    --quiet\nfiles = !ls\ndf?",
            "print('%d rows'\n      % 3)",
            "await asyncio.sleep(0)",
            "%%bash\nrm -rf /",
            "from sklearn.cluster import KMeans\nkm = KMeans(3).fit(X)",
        ]
    )
    assert [(f.code, f.cell, f.line) for f in check_source(notebook, "n.ipynb")] == [
        ("MLC101", 5, 2)
    ]


def test_corrupt_notebook_is_a_finding(tmp_path: Path) -> None:
    notebook = tmp_path / "bad.ipynb"
    notebook.write_text('{"cells": [')
    [finding] = check_file(notebook)
    assert finding.code == "MLC000"
    assert "not valid JSON" in finding.message
    notebook.write_text('{"nbformat": 4}')
    assert codes(check_file(notebook)) == ["MLC000"]


def test_unreadable_file_is_a_finding(tmp_path: Path) -> None:
    assert codes(check_file(tmp_path / "missing.py")) == ["MLC000"]
    binary = tmp_path / "latin.py"
    binary.write_bytes(b"x = '\xff\xfe'\n")
    assert codes(check_file(binary)) == ["MLC000"]


def test_mlc000_can_be_ignored() -> None:
    assert check_source("def f(:\n", "m.py", StaticSettings(ignore=("MLC000",))) == []


# ---------------------------------------------------------------- walking directories


def test_directories_expand_to_python_and_notebooks_skipping_hidden_and_venvs(
    tmp_path: Path,
) -> None:
    for relative in (
        "src/b.py",
        "src/a.py",
        "nb/explore.ipynb",
        ".hidden/c.py",
        ".venv/lib/d.py",
        "src/__pycache__/e.py",
        "README.md",
    ):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        content = _notebook([leaky()]) if relative.endswith(".ipynb") else leaky()
        path.write_text(content)
    findings = check_paths([tmp_path], StaticSettings(select=("MLC001",)))
    names = [Path(f.path).relative_to(tmp_path).as_posix() for f in findings]
    assert names == ["nb/explore.ipynb", "src/a.py", "src/b.py"]
    assert findings == sorted(findings, key=Finding.sort_key)


# ---------------------------------------------------------------- output formats


def _findings() -> list[Finding]:
    return [
        Finding("MLC001", "scaler fitted before split", "src/train.py", 5, 5),
        Finding("MLC101", "no seed", "nb/explore.ipynb", 2, 9, cell=3),
    ]


def test_text_format_is_one_finding_per_line() -> None:
    assert format_findings(_findings(), "text").splitlines() == [
        "src/train.py:5:5: MLC001 scaler fitted before split",
        "nb/explore.ipynb:cell 3:2:9: MLC101 no seed",
    ]
    assert format_findings([], "text") == ""


def test_json_format_keeps_every_field() -> None:
    data = json.loads(format_findings(_findings(), "json"))
    assert data[1] == {
        "code": "MLC101",
        "message": "no seed",
        "path": "nb/explore.ipynb",
        "line": 2,
        "col": 9,
        "cell": 3,
        "family": "nondeterminism",
        "confidence": "high",
    }


def test_sarif_format_is_a_code_scanning_log_with_rule_metadata() -> None:
    log = json.loads(format_findings(_findings(), "sarif"))
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "pytest-mlci"
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert set(RULES) <= set(rule_ids) and "MLC000" in rule_ids
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
    first, second = run["results"]
    assert first["ruleId"] == "MLC001"
    assert driver["rules"][first["ruleIndex"]]["id"] == "MLC001"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "src/train.py"
    assert location["region"] == {"startLine": 5, "startColumn": 5}
    assert second["properties"] == {"cell": 3, "confidence": "high"}
    assert second["message"]["text"].startswith("cell 3:")
    assert second["level"] == "warning"


def test_sarif_level_of_a_medium_confidence_finding_is_note() -> None:
    medium = Finding("MLC101", "only built", "a.py", 1, 1, confidence="medium")
    [result] = json.loads(format_findings([medium], "sarif"))["runs"][0]["results"]
    assert result["level"] == "note"
    assert result["properties"] == {"confidence": "medium"}


def test_only_high_confidence_findings_are_reported_unless_medium_is_asked_for() -> None:
    source = "from sklearn.ensemble import RandomForestClassifier\nm = RandomForestClassifier()\n"
    assert check_source(source, "a.py") == []  # built, never fitted: may be a problem
    [finding] = check_source(source, "a.py", StaticSettings(confidence="medium"))
    assert (finding.code, finding.confidence) == ("MLC101", "medium")
    fitted = source + "m.fit(X, y)\n"
    [finding] = check_source(fitted, "a.py")
    assert (finding.code, finding.confidence) == ("MLC101", "high")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        format_findings([], "xml")


def _notebook(cells: list[str]) -> str:
    return json.dumps(
        {
            "cells": [
                {"cell_type": "code", "metadata": {}, "outputs": [], "source": source}
                for source in cells
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )
