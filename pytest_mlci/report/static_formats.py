"""Static findings as text (one per line), JSON (for scripts) or SARIF 2.1.0 (code scanning).

SARIF is what GitHub code scanning ingests (``github/codeql-action/upload-sarif``): each rule
is described once under ``tool.driver.rules`` with its docstring as help, and each finding
is a result pointing at a file and line. Notebook findings carry their cell in the message
and in ``properties`` because SARIF regions cannot address a cell inside a JSON document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_mlci import __version__
from pytest_mlci.analysis import Finding

FORMATS = ("text", "json", "sarif")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/pytest-mlci/pytest-mlci"


def format_findings(findings: Iterable[Finding], fmt: str) -> str:
    """Render ``findings`` in ``fmt`` (``text`` | ``json`` | ``sarif``); text of none is ``""``."""
    findings = list(findings)
    if fmt == "text":
        return "\n".join(finding.format() for finding in findings)
    if fmt == "json":
        return json.dumps([_as_json(finding) for finding in findings], indent=2)
    if fmt == "sarif":
        return json.dumps(to_sarif(findings), indent=2)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _as_json(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "message": finding.message,
        "path": finding.path,
        "line": finding.line,
        "col": finding.col,
        "cell": finding.cell,
        "family": finding.family,
        "confidence": finding.confidence,
    }


def _rule_metadata() -> list[dict[str, Any]]:
    from pytest_mlci.rules import PARSE_ERROR, RULES

    rules = [
        {
            "id": PARSE_ERROR,
            "name": "file-not-analysable",
            "shortDescription": {"text": "The file could not be parsed or read"},
            "fullDescription": {
                "text": "A syntax error, unreadable file or corrupt notebook stops all ML checks."
            },
            "defaultConfiguration": {"level": "error"},
            "properties": {"family": "leakage"},
        }
    ]
    for code, rule in RULES.items():
        doc = (rule.__doc__ or "").strip()
        title, _, body = doc.partition("\n")
        rules.append(
            {
                "id": code,
                "name": rule.__name__.rsplit(".", 1)[-1].replace("_", "-"),
                "shortDescription": {"text": title.split(": ", 1)[-1]},
                "fullDescription": {"text": rule.MESSAGE},
                "help": {"text": body.strip(), "markdown": body.strip()},
                "defaultConfiguration": {"level": "note" if rule.FAMILY == "opt-in" else "warning"},
                "properties": {"family": rule.FAMILY, "tags": ["ml", rule.FAMILY]},
            }
        )
    return rules


def _uri(path: str) -> str:
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            return candidate.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return candidate.as_uri()
    return candidate.as_posix()


def _level(finding: Finding, rule: dict[str, Any] | None) -> str:
    """The rule's level for a high-confidence finding; ``note`` for one that may be a problem,
    so code scanning shows it without failing a check that gates on warnings."""
    if finding.confidence != "high":
        return "note"
    return rule["defaultConfiguration"]["level"] if rule else "warning"


def to_sarif(findings: Iterable[Finding]) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run whose driver lists every rule."""
    rules = _rule_metadata()
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    results = []
    for finding in findings:
        message = (
            finding.message if finding.cell is None else f"cell {finding.cell}: {finding.message}"
        )
        result: dict[str, Any] = {
            "ruleId": finding.code,
            "level": _level(finding, rules[index[finding.code]] if finding.code in index else None),
            "message": {"text": message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(finding.path)},
                        "region": {"startLine": finding.line, "startColumn": finding.col},
                    }
                }
            ],
        }
        if finding.code in index:
            result["ruleIndex"] = index[finding.code]
        result["properties"] = {"confidence": finding.confidence}
        if finding.cell is not None:
            result["properties"]["cell"] = finding.cell
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "pytest-mlci",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
