"""The one row shape every data check returns, and how rows add up to a verdict.

Why one shape: the pytest items, ``mlci validate-data``, ``mlci drift`` and the JSON report
all print or store the same rows, so a number means the same thing wherever it is read.
Verdicts are the gates' three outcomes; "inconclusive" never counts as a pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
_SEVERITY = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}


@dataclass(frozen=True)
class CheckRow:
    """One measured fact about one column (or ``<rows>`` / ``<frame>`` for the whole table).

    ``statistic`` is what the test computed (KS D, chi-square, a null rate, a row count),
    ``effect_size`` the number the verdict is driven by (PSI, a normalised distance, the
    relative volume change), ``threshold`` the limit it was held against.
    """

    check: str
    column: str
    test: str
    statistic: float | None
    p_value: float | None
    effect_size: float | None
    threshold: float | None
    verdict: str
    detail: str = ""

    def describe(self) -> str:
        """One readable line, e.g. ``income: psi 0.412 >= 0.2 (ks p=1.2e-30) FAIL``."""
        parts = [f"{self.column}: {self.test}"]
        if self.effect_size is not None:
            parts.append(_number(self.effect_size))
        elif self.statistic is not None:
            parts.append(_number(self.statistic))
        if self.threshold is not None:
            parts.append(f"(limit {_number(self.threshold)})")
        if self.p_value is not None:
            parts.append(f"p={self.p_value:.3g}")
        if self.detail:
            parts.append(f"- {self.detail}")
        return " ".join(parts) + f" {self.verdict.upper()}"

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict; NaN and infinities become None (JSON has no such numbers)."""
        row = asdict(self)
        for key, value in row.items():
            if isinstance(value, float) and not math.isfinite(value):
                row[key] = None
        return row


def no_columns_row(check: str) -> CheckRow:
    """The row a check reports when nothing was left to compare: a failure, never a pass."""
    return CheckRow(check, "<frame>", "columns", 0, None, None, None, FAIL, "no column to compare")


def worst(verdicts: Iterable[str]) -> str:
    """fail beats inconclusive beats pass; nothing at all is inconclusive (fail closed)."""
    seen = list(verdicts)
    if not seen:
        return INCONCLUSIVE
    return max(seen, key=_SEVERITY.__getitem__)


def overall(rows: Iterable[CheckRow]) -> str:
    """The verdict of a list of rows."""
    return worst(row.verdict for row in rows)


def failing(rows: Iterable[CheckRow]) -> list[CheckRow]:
    """The rows that keep a check from passing (fail or inconclusive)."""
    return [row for row in rows if row.verdict != PASS]


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def table(rows: Iterable[CheckRow]) -> list[str]:
    """Rows as aligned text lines (a header first) for terminals and CI logs."""
    header = ("check", "column", "test", "statistic", "effect", "limit", "p-value", "verdict")
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.check,
                row.column,
                row.test,
                _cell(row.statistic),
                _cell(row.effect_size),
                _cell(row.threshold),
                "-" if row.p_value is None else f"{row.p_value:.2g}",
                row.verdict.upper(),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]


def _cell(value: float | None) -> str:
    return "-" if value is None else _number(value)
