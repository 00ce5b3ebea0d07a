"""Checkpoint every append: the ledger wrapper :func:`audited` returns when signing is on.

Every command that writes the audit trail gets its ledger from
``mlci_local.promotion.ledger_for``, which passes it through :func:`audited`; so approve,
promote, rollback, canary steps, staging, evaluation, shadow and abort records are all
checkpointed without each command knowing. One append becomes:

1. check the key can sign (a missing key refuses *before* anything is written);
2. sign an *intent* (action, actor, data digest, the head it follows) into the local log;
3. append the record (the backend's own locking and fsync, unchanged);
4. sign a *checkpoint* of the new record into the local log, then copy it to each anchor.

A crash between 3 and 4 (the crash window) leaves a record with a signed intent but no
checkpoint; ``mlci audit verify`` reports it as such, and the next append's checkpoint
covers it. A record with neither was not written through this path: a forgery.

The first signed append to a ledger writes an ``audit.signing`` record first. It is
chained like any other, so it cannot be removed; every record after it must be signed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlci_local.audit.checkpoints import CheckpointLog, SignedCheckpoint, SignedIntent, data_digest
from mlci_local.audit.signing import HmacKey, SshKey, signer_for
from mlci_local.ledger import (
    Checkpoint,
    LedgerBase,
    LedgerCorruptError,
    LedgerRecord,
    VerifyReport,
    checked_data,
    current_actor,
)

__all__ = ["SIGNING_ACTION", "AuditedLedger", "audited", "checkpoint_log_for", "ledger_id_for"]

SIGNING_ACTION = "audit.signing"
FAULT_ENV = "MLCI_FAULT_POINT"  # tests: die between writing a record and signing it
FAULT_BEFORE_CHECKPOINT = "audit.before_checkpoint"


def ledger_id_for(config: Any) -> str:
    """The name a checkpoint gives its chain: ``audit.ledger_id``, else the model for a file
    ledger, else the database (host/name, no credentials) whose ledger table it is."""
    if config.audit.ledger_id:
        return config.audit.ledger_id
    if config.database:
        parts = urlsplit(config.database)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        return f"db:{host}{port}{parts.path or '/'}"
    return config.model


def checkpoint_log_for(config: Any) -> CheckpointLog:
    """The local signed checkpoint log, under ``.mlci/audit/``, one per ledger id."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", ledger_id_for(config))
    return CheckpointLog(config.state_dir / "audit" / f"{name}.checkpoints.jsonl")


def audited(config: Any, ledger: LedgerBase) -> LedgerBase:
    """``ledger`` itself when signing is off; otherwise a wrapper that checkpoints appends.

    The key is looked up lazily, at the first append: read-only commands (status, verify)
    work on a machine that does not hold it.
    """
    if config.audit.signing == "none":
        return ledger
    return AuditedLedger(config, ledger)


class AuditedLedger(LedgerBase):
    """The same ledger, with a signed intent before and a signed checkpoint after each append."""

    def __init__(self, config: Any, inner: LedgerBase) -> None:
        self.config = config
        self.inner = inner
        self.ledger_id = ledger_id_for(config)
        self.log = checkpoint_log_for(config)
        self._signer: HmacKey | SshKey | None = None
        self._anchors: list[Any] | None = None
        self._signing_recorded = False

    # Everything but append is the inner ledger's.
    @property
    def location(self) -> str:  # type: ignore[override]
        return self.inner.location

    def __getattr__(self, name: str) -> Any:  # path, dsn, close(), ... of the backend
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"AuditedLedger({self.inner!r})"

    def raw_lines(self) -> Iterator[bytes]:
        return self.inner.raw_lines()

    def records(self) -> Iterator[LedgerRecord]:
        return self.inner.records()

    def records_for_display(self) -> list[LedgerRecord]:
        return self.inner.records_for_display()

    def head(self) -> LedgerRecord | None:
        return self.inner.head()

    def exists(self) -> bool:
        return self.inner.exists()

    def discard_torn_tail(self) -> int:
        return self.inner.discard_torn_tail()

    def find(self, action: Any = None, **data_filters: Any) -> list[LedgerRecord]:
        return self.inner.find(action, **data_filters)

    def verify(self, checkpoints: Sequence[Checkpoint | tuple[int, str]] = ()) -> VerifyReport:
        return self.inner.verify(checkpoints)

    # -- writing -----------------------------------------------------------------------------

    @property
    def signer(self) -> HmacKey | SshKey:
        if self._signer is None:
            signer = signer_for(self.config)
            assert signer is not None  # audited() wraps only when signing is on
            signer.check_can_sign()
            self._signer = signer
        return self._signer

    @property
    def anchors(self) -> list[Any]:
        if self._anchors is None:
            from mlci_local.audit.anchors import anchors_for

            self._anchors = anchors_for(self.config, self.ledger_id)
        return self._anchors

    def append(
        self, action: str, data: dict[str, Any] | None = None, *, actor: str | None = None
    ) -> LedgerRecord:
        """Sign an intent, append, sign and anchor a checkpoint; see the module docstring."""
        signer = self.signer  # refuses before anything is written if the key is missing
        data = checked_data(action, data)
        who = actor if actor is not None else current_actor(self._actor_start())
        if not self._signing_recorded and action != SIGNING_ACTION:
            if not self.inner.find(SIGNING_ACTION):
                self.append(
                    SIGNING_ACTION,
                    {"ledger_id": self.ledger_id, "scheme": signer.scheme, "key_id": signer.key_id},
                    actor=who,
                )
            self._signing_recorded = True
        try:
            head = self.inner.head()
        except LedgerCorruptError:
            head = None  # the append below refuses a damaged tail with the right message
        intent = SignedIntent.create(
            signer, self.ledger_id, head.seq if head else -1, action, who, data_digest(data)
        )
        self.log.append(intent)
        record = self.inner.append(action, data, actor=who)
        if os.environ.get(FAULT_ENV) == FAULT_BEFORE_CHECKPOINT:
            os._exit(97)
        checkpoint = SignedCheckpoint.create(signer, self.ledger_id, record.seq, record.hash)
        self.log.append(checkpoint)
        for anchor in self.anchors:
            anchor.put(checkpoint)
        return record

    def _actor_start(self) -> Path:
        path = getattr(self.inner, "path", None)
        return Path(path).parent if path is not None else Path.cwd()
