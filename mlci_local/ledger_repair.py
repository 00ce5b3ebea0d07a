"""``mlci audit repair``: remove a torn last line a crash left, and nothing else.

A process killed in the middle of an append leaves a last line without its newline. That
record was never acknowledged (an append writes the whole line, newline included, in one
``write`` and reports done only after ``fsync``), so removing it loses nothing; until it is
removed, every append refuses to build on it. Any other damage (an edited, deleted or
reordered record, an unreadable line in the middle) may be tampering: repair refuses it and
changes nothing, because cutting it away would destroy the evidence.

The repair itself is recorded in the ledger (``audit.repair``), with the sha256 and size of
the bytes removed, so the trail shows that a human removed them and when.
"""

from __future__ import annotations

import collections
import hashlib
from dataclasses import dataclass

from mlci_local.ledger import LedgerBase, LedgerRecord, verify_lines
from pytest_mlci.errors import CheckFailed

ACTION = "audit.repair"
PREVIEW_CHARS = 120


@dataclass(frozen=True)
class TornTail:
    """The unterminated last line of a ledger: where it is, what it holds, and its digest."""

    line: int
    raw: bytes
    description: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    def preview(self) -> str:
        text = self.raw.decode("utf-8", errors="replace")
        return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def find_torn_tail(ledger: LedgerBase) -> TornTail | None:
    """The torn last line, None for an intact ledger; :class:`CheckFailed` for other damage.

    The chain is checked first (:func:`verify_lines`): a torn tail on top of damaged history
    is refused with the rest, so repair never tidies away what an auditor must see.
    """
    report = verify_lines(ledger.raw_lines(), ledger.location)
    torn = [p for p in report.problems if p.kind == "torn_tail"]
    other = [p for p in report.problems if p.kind != "torn_tail"]
    if other:
        listed = "; ".join(f"line {p.line}: {p.kind}: {p.message}" for p in other[:5])
        more = f" (and {len(other) - 5} more)" if len(other) > 5 else ""
        raise CheckFailed(
            f"{ledger.location}: refusing to repair: `mlci audit repair` removes only a torn "
            f"last line left by a crash, and this ledger has other damage: {listed}{more}. "
            "Nothing was changed; run `mlci audit verify` and restore the ledger from a "
            "trusted copy"
        )
    if not torn:
        return None
    last = collections.deque(ledger.raw_lines(), maxlen=1).pop() if ledger.exists() else None
    if last is None or last.endswith(b"\n"):  # changed since the check: look again later
        raise CheckFailed(f"{ledger.location}: the ledger changed while it was being checked; "
                          "run `mlci audit repair` again")  # fmt: skip
    return TornTail(torn[0].line, last, torn[0].message.split(":")[0])


def repair(ledger: LedgerBase, torn: TornTail, *, model: str) -> LedgerRecord:
    """Cut ``torn`` off and record that in the ledger; the record is returned.

    The backend cuts under its append lock and only an unterminated tail, so a line that
    became complete meanwhile is never removed.
    """
    removed = ledger.discard_torn_tail()
    if removed != len(torn.raw):
        raise CheckFailed(
            f"{ledger.location}: expected to remove {len(torn.raw)} bytes, removed {removed}; "
            "run `mlci audit verify` to see the ledger as it is now"
        )
    return ledger.append(
        ACTION,
        {
            "model": model,
            "line": torn.line,
            "removed_bytes": removed,
            "removed_sha256": torn.sha256,
            "reason": "torn last line left by an interrupted write (never acknowledged)",
        },
    )
