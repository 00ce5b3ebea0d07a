"""The terminal table of gate results: gate, candidate, baseline, delta with interval, verdict."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_mlci.evaluation.session import GateResult


def gate_table(results: Sequence[GateResult]) -> list[str]:
    """Fixed-width lines, one per gate, with a header."""
    rows = [("gate", "candidate", "baseline", "delta [interval]", "verdict")]
    for result in results:
        rows.append(
            (
                result.gate,
                result.candidate.describe() if result.candidate else "-",
                f"{result.baseline:.4f}" if result.baseline is not None else "-",
                result.delta.describe() if result.delta else "-",
                result.verdict.upper(),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def failure_lines(results: Sequence[GateResult]) -> list[str]:
    """One line per gate that failed or was inconclusive, with its explanation."""
    return [
        f"{result.gate}: {result.verdict.upper()}: {result.message}"
        for result in results
        if result.verdict in ("fail", "inconclusive")
    ]
