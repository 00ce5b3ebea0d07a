"""The result every static rule produces: one problem at one place in one file."""

from __future__ import annotations

from dataclasses import dataclass

_FAMILIES = {"0": "leakage", "1": "nondeterminism", "2": "hardcoded", "9": "opt-in"}
HIGH, MEDIUM = "high", "medium"
CONFIDENCES = (HIGH, MEDIUM)  # most certain first


@dataclass(frozen=True)
class Finding:
    """One rule violation; ``line`` is 1-based, ``col`` 1-based (as editors count).

    For a notebook ``cell`` is the 1-based position of the cell among all cells of the
    notebook (markdown cells count, so the number matches scrolling order) and ``line`` is
    the line inside that cell.

    ``confidence`` is ``high`` when the code shows the problem happens (the unseeded model is
    fitted, the statistic reaches the split) and ``medium`` when it may (the model is only
    built, the randomness is only displayed, the estimator is random only in tie-breaking).
    Only high-confidence findings are reported unless ``confidence = "medium"`` is configured.
    """

    code: str
    message: str
    path: str
    line: int
    col: int
    cell: int | None = None
    confidence: str = HIGH

    @property
    def family(self) -> str:
        """``leakage`` | ``nondeterminism`` | ``hardcoded`` | ``opt-in``, from the code's hundreds.

        MLC000 (the file could not be analysed) counts as ``leakage``: a file we cannot read
        is one whose leakage we cannot rule out.
        """
        digit = self.code[3:4] if self.code.startswith("MLC") else ""
        return _FAMILIES.get(digit, "leakage")

    def format(self) -> str:
        """``path:line:col: CODE message`` (``path:cell N:line:col: ...`` for notebooks)."""
        where = f"{self.path}:cell {self.cell}" if self.cell is not None else self.path
        tail = "" if self.confidence == HIGH else f" ({self.confidence} confidence)"
        return f"{where}:{self.line}:{self.col}: {self.code} {self.message}{tail}"

    def __str__(self) -> str:
        return self.format()

    def sort_key(self) -> tuple[str, int, int, int, str]:
        """Order by file, then position, then code: stable output for diffs and CI logs."""
        return (self.path, self.cell or 0, self.line, self.col, self.code)
