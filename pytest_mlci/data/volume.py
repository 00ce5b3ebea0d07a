"""Volume: the row count against ``expected_rows`` or the dataset's last validated count.

Why relative: a feed that silently halves (a partition lost, a join that drops rows) is the
most common data incident and no schema catches it. The expectation is ``expected_rows`` when
declared, else the row count of the same dataset the last time it passed validation
(remembered under the state directory). Never the reference's count: a reference is often a
training split of another size, and comparing with it failed honest data (-75 %) by default.
The first validation has nothing to compare with; it passes and says which count it keeps.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from pytest_mlci.data.results import FAIL, PASS, CheckRow


@dataclass(frozen=True)
class PreviousCount:
    """A dataset's row count when it last passed validation, and when that was."""

    rows: int
    validated_at: str = ""


def check_volume(
    rows: int,
    *,
    expected: int | None = None,
    previous: PreviousCount | None = None,
    tolerance: float = 0.2,
    memory: Path | None = None,
) -> list[CheckRow]:
    """One row: ``rows`` against ``expected`` (else ``previous``) +-``tolerance``.

    ``memory`` is the file the previous count lives in, named in a failure so a user whose
    data legitimately changed size knows what to delete (or to declare ``expected_rows``).
    """
    if rows <= 0:
        return [CheckRow("volume", "<rows>", "row count", 0, None, None, None, FAIL, "empty")]
    if expected:
        target, source = expected, "expected_rows"
    elif previous is not None and previous.rows > 0:
        when = f" of {previous.validated_at}" if previous.validated_at else ""
        target, source = previous.rows, f"previously validated count{when}"
    else:
        return [
            CheckRow(
                "volume", "<rows>", "row count", rows, None, None, None, PASS,
                f"first validated count: {rows:,} rows (later runs compare with it, "
                f"+-{tolerance:.0%}; or declare expected_rows)",
            )
        ]  # fmt: skip
    change = (rows - target) / target
    verdict = FAIL if abs(change) > tolerance else PASS
    detail = f"{rows:,} rows vs {target:,} ({source}), {change:+.1%}, allowed +-{tolerance:.0%}"
    if verdict == FAIL and not expected:
        forget = f"delete {memory}" if memory is not None else "forget the previous count"
        detail += f"; if the new size is right, declare expected_rows or {forget}"
    return [
        CheckRow("volume", "<rows>", "row count", rows, None, change, tolerance, verdict, detail)
    ]


class VolumeMemory:
    """The last validated row count of one dataset, in ``<state>/cache/volume/<name>.json``.

    Written only after the dataset passed every check that ran, so a broken delivery never
    becomes the count the next one is held to. An unreadable file counts as no memory.
    """

    def __init__(self, directory: Path, dataset: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", dataset) or "_"
        self.path = directory / f"{safe}.json"

    def recall(self) -> PreviousCount | None:
        """The remembered count, or None (first validation, or an unreadable file)."""
        try:
            payload = json.loads(self.path.read_text(encoding="utf-8"))
            rows = payload["rows"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if isinstance(rows, bool) or not isinstance(rows, int) or rows <= 0:
            return None
        return PreviousCount(rows, str(payload.get("validated_at", "")))

    def remember(self, rows: int) -> None:
        """Keep ``rows`` as the count the next validation compares with."""
        from pytest_mlci.fileio import write_atomically

        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        write_atomically(self.path, json.dumps({"rows": rows, "validated_at": stamp}) + "\n")
