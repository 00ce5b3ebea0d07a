"""Volume: the row count against the expected count or the reference's, within a tolerance.

Why relative: a feed that silently halves (a partition lost, a join that drops rows) is the
most common data incident and no schema catches it. The expectation is ``expected_rows`` when
declared, else the reference's row count; with neither, only "not empty" can be judged.
"""

from __future__ import annotations

from pytest_mlci.data.results import FAIL, INCONCLUSIVE, PASS, CheckRow


def check_volume(
    rows: int,
    *,
    expected: int | None = None,
    reference_rows: int | None = None,
    tolerance: float = 0.2,
) -> list[CheckRow]:
    """One row: ``rows`` against ``expected`` (or ``reference_rows``) +-``tolerance``."""
    if rows <= 0:
        return [CheckRow("volume", "<rows>", "row count", 0, None, None, None, FAIL, "empty")]
    target, source = (expected, "expected_rows") if expected else (reference_rows, "reference")
    if not target:
        return [
            CheckRow(
                "volume", "<rows>", "row count", rows, None, None, None, INCONCLUSIVE,
                "no expected_rows and no reference to compare with",
            )
        ]  # fmt: skip
    change = (rows - target) / target
    verdict = FAIL if abs(change) > tolerance else PASS
    detail = f"{rows:,} rows vs {target:,} ({source}), {change:+.1%}, allowed +-{tolerance:.0%}"
    return [
        CheckRow("volume", "<rows>", "row count", rows, None, change, tolerance, verdict, detail)
    ]
