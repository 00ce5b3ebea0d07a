"""Every rule against its labelled corpus: the expectation sits on the offending line.

A fixture ``fixtures/MLC001*.py`` (or ``.ipynb``) is checked with only that rule selected;
the set of ``(cell, line, code, confidence)`` found must equal the set written as
``# expect: CODE`` (a high-confidence finding, reported by default) and ``# medium: CODE``
(reported only with ``confidence = "medium"``) comments. Lines without a comment are the
clean cases that must stay silent at every confidence.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_mlci.config import StaticSettings
from pytest_mlci.rules import check_file

FIXTURES = Path(__file__).parent / "fixtures"
EXPECT = re.compile(r"#\s*(?P<kind>expect|medium):\s*(?P<codes>MLC\d{3}(?:\s*,\s*MLC\d{3})*)")


def expected(path: Path) -> set[tuple[int | None, int, str, str]]:
    """The ``(cell, line, code, confidence)`` a fixture announces."""
    found: set[tuple[int | None, int, str, str]] = set()

    def scan(lines: list[str], cell: int | None) -> None:
        for number, line in enumerate(lines, start=1):
            for match in EXPECT.finditer(line):
                confidence = "high" if match.group("kind") == "expect" else "medium"
                for code in re.split(r"\s*,\s*", match.group("codes")):
                    found.add((cell, number, code, confidence))

    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for number, cell in enumerate(cells, start=1):
            if cell["cell_type"] == "code":
                source = cell["source"]
                scan(("".join(source) if isinstance(source, list) else source).splitlines(), number)
    else:
        scan(path.read_text(encoding="utf-8").splitlines(), None)
    return found


FIXTURE_FILES = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".py", ".ipynb"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.name for p in FIXTURE_FILES])
def test_rule_reports_exactly_the_expected_lines(path: Path) -> None:
    code = path.name[:6]
    findings = check_file(path, StaticSettings(select=(code,), confidence="medium"))
    found = {(f.cell, f.line, f.code, f.confidence) for f in findings}
    assert found == expected(path), "\n".join(f.format() for f in findings)


def test_every_rule_has_a_fixture() -> None:
    from pytest_mlci.rules import RULES

    covered = {p.name[:6] for p in FIXTURE_FILES}
    assert set(RULES) <= covered
