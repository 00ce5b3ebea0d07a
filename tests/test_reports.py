"""Reports a reviewer reads: the PR comment (Markdown) and the self-contained HTML page."""

from __future__ import annotations

import json

from pytest_mlci.report.markdown import MAX_COMMENT, render_markdown


def test_markdown_and_html_reports_are_written(pytester, tiny_project):
    config = pytester.path / "pyproject.toml"
    schema_line = 'schema = "tiny_schema:TinySchema"'
    config.write_text(
        config.read_text()
        .replace(schema_line, schema_line + '\nprotected = ["group"]')
        .replace("resamples = 200", 'resamples = 200\nsegments = ["group"]')
    )
    result = pytester.runpytest(
        "--mlci", "-p", "no:cacheprovider",
        "--mlci-report-md=out/comment.md", "--mlci-report-html=out/report.html",
    )  # fmt: skip
    result.assert_outcomes(passed=4)
    comment = (pytester.path / "out" / "comment.md").read_text()
    assert comment.startswith("### ✅ pytest-mlci: `tiny` passed")
    assert "| `roc_auc >= 0.7` |" in comment
    assert "<summary>Fairness by group</summary>" in comment
    assert "<summary>Metrics by group</summary>" in comment
    assert "| a | " in comment and "| b | " in comment
    html = (pytester.path / "out" / "report.html").read_text()
    assert "<code>roc_auc &gt;= 0.7</code>" in html
    assert html.count("data:image/png;base64,") >= 3  # gates, curves, groups
    assert "<h2>Metrics by group</h2>" in html
    assert len(html.encode()) < 2_000_000
    # marks are inline SVG with their word, never emoji (a runner without an emoji font
    # draws those as empty boxes)
    assert not any(0x2600 <= ord(ch) <= 0x27BF or ord(ch) >= 0x1F300 for ch in html)
    assert '<svg class="mark" role="img"' in html and "<title>pass</title>" in html


def test_a_failing_run_says_so_first_and_lists_why(pytester, tiny_project):
    tiny_project.set_gate("roc_auc", ">= 0.99")
    pytester.runpytest("--mlci", "-p", "no:cacheprovider", "--mlci-report-md=c.md",
                       "--mlci-report-json=r.json")  # fmt: skip
    comment = (pytester.path / "c.md").read_text()
    assert comment.splitlines()[0] == "### ❌ pytest-mlci: `tiny` did not pass"
    assert "- `roc_auc >= 0.99`: roc_auc 0.8" in comment
    assert json.loads((pytester.path / "r.json").read_text())["passed"] is False


def test_a_huge_report_is_cut_to_fit_a_comment():
    gate = {"gate": "g " * 50, "metric": "m", "verdict": "fail", "message": "x" * 500,
            "candidate": {"value": 1.0, "low": 0.9, "high": 1.1}, "baseline": None,
            "delta": None}  # fmt: skip
    text = render_markdown({"model": "m", "passed": False, "gates": [gate] * 500})
    assert len(text) <= MAX_COMMENT
    assert text.rstrip().endswith("(cut to fit a pull-request comment)")


def test_junit_xml_lists_the_mlci_items_with_their_failures(pytester, tiny_project):
    import xml.etree.ElementTree as ET

    tiny_project.set_gate("roc_auc", ">= 0.99")
    pytester.runpytest("--mlci", "-p", "no:cacheprovider", "--junitxml=junit.xml")
    root = ET.parse(pytester.path / "junit.xml").getroot()
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert "roc_auc >= 0.99" in cases
    failure = cases["roc_auc >= 0.99"].find("failure")
    assert failure is not None and "whole interval fails >= 0.99" in failure.get("message")
