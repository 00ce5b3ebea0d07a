"""Signed checkpoints and intents, and the local log that keeps them under ``.mlci/``.

A *checkpoint* is a signed statement "ledger L had record ``seq`` with hash H at time T",
after Certificate Transparency's signed tree head (size + root hash + timestamp). Because
every record's hash covers the one before it, a checkpoint at ``seq`` pins every record up
to ``seq``: none can be rewritten, removed or inserted below it without the chain
contradicting the signature.

An *intent* is signed just before an append: "I am about to append ``action`` by ``actor``
with data of digest D after seq N". If the process dies between writing the record and
signing its checkpoint (the crash window), the intent still authenticates the record's
content, so ``mlci audit verify`` can tell a crashed write from a forged one.

What is signed is a small text, one field per line, so any tool can rebuild and check it::

    mlci-checkpoint/1
    ledger conversion
    seq 41
    hash 5f0c...
    time 2026-12-02T08:31:12.000000Z
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlci_local.audit.signing import Signer
from mlci_local.ledger import LedgerWriteError

__all__ = [
    "CHECKPOINT_NAMESPACE",
    "INTENT_NAMESPACE",
    "CheckpointLog",
    "SignedCheckpoint",
    "SignedIntent",
    "data_digest",
]

CHECKPOINT_NAMESPACE = "mlci-checkpoint"
INTENT_NAMESPACE = "mlci-intent"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def data_digest(data: dict[str, Any]) -> str:
    """sha256 of ``data`` in the ledger's canonical JSON (what a record stores)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SignedCheckpoint:
    """``(ledger, seq, hash, time)`` and its signature by ``key_id``."""

    ledger: str
    seq: int
    hash: str
    time: str
    scheme: str
    key_id: str
    signature: str

    @staticmethod
    def body_of(ledger: str, seq: int, digest: str, time: str) -> bytes:
        return (
            f"mlci-checkpoint/1\nledger {ledger}\nseq {seq}\nhash {digest}\ntime {time}\n".encode()
        )

    @property
    def body(self) -> bytes:
        return self.body_of(self.ledger, self.seq, self.hash, self.time)

    @classmethod
    def create(cls, signer: Signer, ledger: str, seq: int, digest: str) -> SignedCheckpoint:
        time = _now()
        body = cls.body_of(ledger, seq, digest, time)
        signature = signer.sign(body, CHECKPOINT_NAMESPACE)
        return cls(ledger, seq, digest, time, signer.scheme, signer.key_id, signature)

    def check(self, signer: Signer) -> None:
        """Raise :class:`SignatureMismatch` unless ``signer``'s key signed exactly this."""
        signer.verify(self.body, CHECKPOINT_NAMESPACE, self.signature)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "checkpoint", **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, obj: Any) -> SignedCheckpoint:
        """Strict: every field, the right types; ``ValueError`` otherwise."""
        return cls(**_fields(obj, "checkpoint", _CHECKPOINT_TYPES))


@dataclass(frozen=True)
class SignedIntent:
    """Signed before an append: what is about to be written, and after which seq."""

    ledger: str
    after_seq: int  # the head seen before appending (-1: empty ledger)
    action: str
    actor: str
    data_sha256: str
    time: str
    scheme: str
    key_id: str
    signature: str

    @staticmethod
    def body_of(
        ledger: str, after_seq: int, action: str, actor: str, digest: str, time: str
    ) -> bytes:
        return (
            f"mlci-intent/1\nledger {ledger}\nafter {after_seq}\naction {action}\n"
            f"actor {json.dumps(actor)}\ndata {digest}\ntime {time}\n"
        ).encode()

    @property
    def body(self) -> bytes:
        return self.body_of(
            self.ledger, self.after_seq, self.action, self.actor, self.data_sha256, self.time
        )

    @classmethod
    def create(
        cls, signer: Signer, ledger: str, after_seq: int, action: str, actor: str, digest: str
    ) -> SignedIntent:
        time = _now()
        body = cls.body_of(ledger, after_seq, action, actor, digest, time)
        signature = signer.sign(body, INTENT_NAMESPACE)
        return cls(ledger, after_seq, action, actor, digest, time, signer.scheme,
                   signer.key_id, signature)  # fmt: skip

    def check(self, signer: Signer) -> None:
        signer.verify(self.body, INTENT_NAMESPACE, self.signature)

    def matches(self, record: Any) -> bool:
        """True if ``record`` is what this intent announced (its time is not signed)."""
        return (
            record.seq > self.after_seq
            and record.action == self.action
            and record.actor == self.actor
            and data_digest(record.data) == self.data_sha256
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "intent", **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, obj: Any) -> SignedIntent:
        return cls(**_fields(obj, "intent", _INTENT_TYPES))


_CHECKPOINT_TYPES = {
    "ledger": str, "seq": int, "hash": str, "time": str, "scheme": str, "key_id": str,
    "signature": str,
}  # fmt: skip
_INTENT_TYPES = {
    "ledger": str, "after_seq": int, "action": str, "actor": str, "data_sha256": str,
    "time": str, "scheme": str, "key_id": str, "signature": str,
}  # fmt: skip


def _fields(obj: Any, kind: str, types: dict[str, type]) -> dict[str, Any]:
    if not isinstance(obj, dict) or obj.get("kind") != kind:
        raise ValueError(f"not a signed {kind}")
    fields = {key: obj.get(key) for key in types}
    for key, kind_of in types.items():
        if type(fields[key]) is not kind_of:
            raise ValueError(f"field {key!r} must be {kind_of.__name__}")
    return fields


class CheckpointLogError(LedgerWriteError):
    """The local checkpoint log could not be written (the append is then not reported done)."""


class CheckpointLog:
    """Signed checkpoints and intents, one JSON object per line, under ``.mlci/audit/``.

    Append-only by convention, like the ledger: anyone who can write ``.mlci/`` can delete
    lines from it. They cannot *add* a valid one without the key — which is what lets verify
    spot forged records — and deleting the newest ones is what an outside anchor exposes.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)

    def append(self, entry: SignedCheckpoint | SignedIntent) -> None:
        """Write one line durably (flock, single write, fsync)."""
        line = (entry.to_json() + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise CheckpointLogError(
                f"{self.path}: cannot write the checkpoint log: {exc}"
            ) from exc

    def entries(self) -> Iterator[tuple[int, SignedCheckpoint | SignedIntent | ValueError]]:
        """``(line number, entry)``; an unreadable line yields the ``ValueError`` saying why.

        A torn last line (a crash while writing) is skipped: it was never relied on.
        """
        with contextlib.suppress(FileNotFoundError), open(self.path, "rb") as handle:
            for lineno, raw in enumerate(handle, start=1):
                if not raw.endswith(b"\n"):
                    return
                try:
                    obj = json.loads(raw)
                    kind = obj.get("kind") if isinstance(obj, dict) else None
                    if kind == "intent":
                        yield lineno, SignedIntent.from_dict(obj)
                    else:
                        yield lineno, SignedCheckpoint.from_dict(obj)
                except (ValueError, TypeError) as exc:
                    yield lineno, ValueError(str(exc))
