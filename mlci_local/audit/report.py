"""``mlci audit verify``'s judgement: what the chain, the signatures and the anchors prove.

The report separates three things a reader must not confuse:

* **failures** (exit 1): a signature that does not verify, a checkpoint the chain
  contradicts, records missing below a checkpoint, a record after signing began that carries
  neither its own signed checkpoint nor a signed intent (it was not written by a key holder),
  an attempt to hide an anchored checkpoint, or signing configured with nothing signed;
* **the crash window**: a record whose signed intent matches it but whose checkpoint was
  never signed (the process died in between). Its content is authenticated by the intent; it
  is reported, not failed, and the next append's checkpoint covers it;
* **what is not proved**: records after the newest checkpoint, and, without an anchor
  outside the ledger's storage, that nothing was cut off the end (deleting the newest records
  together with their checkpoints leaves a consistent, shorter history).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci_local.audit.checkpoints import SignedCheckpoint, SignedIntent
from mlci_local.audit.hook import SIGNING_ACTION, checkpoint_log_for, ledger_id_for
from mlci_local.audit.signing import SignatureMismatch, signer_for
from mlci_local.ledger import Checkpoint, LedgerBase, LedgerRecord, verify_lines

__all__ = ["AuditReport", "audit_ledger"]


@dataclass(frozen=True)
class AuditReport:
    """``ok`` is False when any failure was found; ``lines`` are what the user reads."""

    ok: bool
    lines: tuple[str, ...]
    failures: tuple[str, ...]
    covered_seq: int | None = None  # newest record pinned by a valid signed checkpoint
    unanchored: int = 0  # records after it

    def text(self) -> str:
        return "\n".join(self.lines)


def _records(raw_lines: Sequence[bytes]) -> list[LedgerRecord]:
    found = []
    for raw in raw_lines:
        if not raw.endswith(b"\n"):
            break
        try:
            found.append(LedgerRecord.from_json(raw[:-1].decode("utf-8")))
        except (ValueError, UnicodeDecodeError):
            continue  # the chain check reports it
    return found


def audit_ledger(config: Any, ledger: LedgerBase, legacy: Sequence[Checkpoint] = ()) -> AuditReport:
    """Check ``ledger`` against its signed checkpoints (local log and anchors).

    ``legacy`` are the unsigned registry checkpoint tags written at promote and rollback;
    they still count as checkpoints for the chain, as before.
    """
    raw = list(ledger.raw_lines())
    name = ledger.location
    signer = signer_for(config)
    if signer is None:
        chain = verify_lines(raw, name, legacy)
        lines = [chain.summary()]
        lines.append(
            "not proved: signing is off ([tool.mlci.audit] signing = 'none'), so this detects "
            "accidental damage only: anyone who can write the ledger can rewrite records and "
            "recompute every hash undetected; set signing = 'hmac' or 'ssh' (see "
            "docs/governance.md, 'What the audit trail proves')"
        )
        return AuditReport(chain.ok, tuple(lines), tuple(p.message for p in chain.problems))

    ledger_id = ledger_id_for(config)
    failures: list[str] = []
    notes: list[str] = []
    checkpoints: list[tuple[str, SignedCheckpoint]] = []
    intents: list[tuple[str, SignedIntent]] = []  # signatures checked when one is needed

    def accept(where: str, entry: SignedCheckpoint | SignedIntent | ValueError) -> None:
        if isinstance(entry, ValueError):
            failures.append(f"{where}: unreadable checkpoint entry ({entry}): edited or forged")
            return
        what = (
            f"checkpoint seq {entry.seq}"
            if isinstance(entry, SignedCheckpoint)
            else (f"intent after seq {entry.after_seq} ({entry.action})")
        )
        if entry.ledger != ledger_id:
            failures.append(f"{where}: {what} is for ledger {entry.ledger!r}, not {ledger_id!r}")
            return
        if isinstance(entry, SignedIntent):
            # Only a record without its own checkpoint needs its intent: checking the rest
            # would double the cost of verification (an ssh-keygen process each with SSH).
            intents.append((where, entry))
            return
        try:
            entry.check(signer)
        except SignatureMismatch as exc:
            failures.append(
                f"{where}: {what} has a bad signature ({exc}; claims key {entry.key_id}): "
                "forged, or signed by another key"
            )
            return
        checkpoints.append((where, entry))

    log = checkpoint_log_for(config)
    for lineno, entry in log.entries():
        accept(f"{log.path.name}:{lineno}", entry)

    anchor_tops: list[tuple[str, bool, str, int | None]] = []
    if config.audit.anchors:
        from mlci_local.audit.anchors import anchors_for

        for anchor in anchors_for(config, ledger_id):
            read = anchor.read()
            before = len(checkpoints)
            for where, entry in read.entries:
                if isinstance(entry, SignedIntent):
                    continue
                accept(where, entry)
            top = max((cp.seq for _, cp in checkpoints[before:]), default=None)
            anchor_tops.append((read.name, read.outside, read.protection, top))
            for warning in read.warnings:
                if "delete marker" in warning:
                    failures.append(warning)
                else:
                    notes.append(f"warning: {warning}")

    # The chain, held against every validly signed checkpoint and the legacy tags.
    pins = [Checkpoint(cp.seq, cp.hash) for _, cp in checkpoints] + list(legacy)
    chain = verify_lines(raw, name, pins)
    for problem in chain.problems:
        failures.append(f"{problem.kind} at seq {problem.seq}: {problem.message}")

    records = _records(raw)
    by_seq = {record.seq: record for record in records}
    signed_at = {
        cp.seq for _, cp in checkpoints if cp.seq in by_seq and by_seq[cp.seq].hash == cp.hash
    }
    covered = max(signed_at, default=None)
    start = next((r.seq for r in records if r.action == SIGNING_ACTION), None)
    if start is None and checkpoints:
        start = min(cp.seq for _, cp in checkpoints)

    if records and start is None:
        failures.append(
            f"signing is configured but none of the {len(records)} records is signed: "
            "the checkpoint log was deleted or the ledger rewritten"
        )
    legacy_count = sum(1 for r in records if start is not None and r.seq < start)
    crash_tail: list[int] = []
    crash_repaired: list[int] = []
    unused = list(intents)
    for record in records:
        if start is None or record.seq < start or record.seq in signed_at:
            continue
        match = None
        for where, intent in [pair for pair in unused if pair[1].matches(record)]:
            try:
                intent.check(signer)
            except SignatureMismatch as exc:
                failures.append(
                    f"{where}: intent for seq {record.seq} ({intent.action}) has a bad "
                    f"signature ({exc}): forged, or signed by another key"
                )
                unused.remove((where, intent))
                continue
            match = (where, intent)
            break
        if match is None:
            failures.append(
                f"record seq {record.seq} ({record.action} by {record.actor}) has no signed "
                "checkpoint and no signed intent: it was not written by a holder of the key "
                "(forged or inserted)"
            )
            continue
        unused.remove(match)
        (crash_repaired if covered is not None and covered > record.seq else crash_tail).append(
            record.seq
        )

    # What was proved, in order.
    head_seq = records[-1].seq if records else None
    shown = name if "://" in name else Path(name).name
    lines = [
        f"{shown}: chain intact, {chain.records} records, head {chain.head[:12]}"
        if chain.ok and chain.head
        else chain.summary().splitlines()[0]
    ]
    lines.append(f"key: {signer.scheme} {signer.key_id}; ledger id {ledger_id!r}")
    if start is not None and records:
        lines.append(
            f"proved: every record from seq {start} to {head_seq} was written by a holder of "
            f"the key ({len(signed_at)} signed checkpoints verified)"
            if not failures
            else f"signing began at seq {start}"
        )
    if legacy_count:
        lines.append(
            f"note: {legacy_count} record(s) before seq {start} were written before signing "
            "was configured: later checkpoints pin them, but none is individually signed"
        )
    if crash_repaired:
        lines.append(
            f"note: seq {', '.join(map(str, crash_repaired))}: written, but the process stopped "
            "before signing its checkpoint (a signed intent matches); covered by a later "
            "checkpoint"
        )
    if covered is not None:
        anchored_in = [
            f"{anchor} up to seq {top} ({protection})"
            for anchor, outside, protection, top in anchor_tops
            if top is not None
        ]
        lines.append(
            f"proved: records up to seq {covered} are covered by a checkpoint signed by "
            f"{signer.key_id}; kept in {log.path.name} (under .mlci/)"
            + (f" and anchored in {'; '.join(anchored_in)}" if anchored_in else "")
        )
    unanchored = 0 if head_seq is None else head_seq - (covered if covered is not None else -1)
    if unanchored:
        cause = (
            "the process stopped between writing and signing (a signed intent matches "
            f"seq {', '.join(map(str, crash_tail))}); the next append's checkpoint covers it"
            if crash_tail and len(crash_tail) == unanchored
            else "a crash between writing and signing, or a forgery"
        )
        lines.append(
            f"not proved: records after seq {covered if covered is not None else -1} are not "
            f"covered by a signed checkpoint: {unanchored} record(s) ({cause})"
        )
    outside = [a for a in anchor_tops if a[1]]
    outside_top = max((a[3] for a in outside if a[3] is not None), default=None)
    if not outside:
        lines.append(
            "not proved: that nothing was cut off the end. Every checkpoint lives where the "
            "ledger does, so whoever can write it can delete the newest records together with "
            "their checkpoints; add an anchor outside it (audit.anchors: s3://... with Object "
            "Lock, or an insert-only PostgreSQL table)"
        )
    elif head_seq is not None and (outside_top is None or outside_top < head_seq):
        top = outside_top if outside_top is not None else -1
        lines.append(
            f"not proved: records after seq {top} are not anchored outside the ledger's "
            f"storage: {head_seq - top} record(s)"
        )
    if signer.scheme.startswith("hmac"):
        lines.append(
            f"note: HMAC: whoever holds {signer.source} can also sign; this proves the records "
            "were written by a key holder, not by whom"
        )
    lines += notes
    lines += [f"FAILED: {failure}" for failure in failures]
    lines.append(
        f"FAILED: {len(failures)} problem(s)"
        if failures
        else "OK: no signature, checkpoint or chain problem"
    )
    return AuditReport(not failures, tuple(lines), tuple(failures), covered, unanchored)
