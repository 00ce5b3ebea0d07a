"""The audit ledger: an append-only, hash-chained JSONL file that shows who did what, when.

Every promotion, rollback, approval and override is written here *before* it is reported done,
so the ledger is the answer to "how did this model get to production?". It has to survive two
different threats, and must not confuse them:

* **crashes** — a process killed half-way through a write leaves a torn last line. That is an
  accident: the record was never acknowledged, nothing was hidden, and ``verify`` says so.
* **tampering** — someone edits, deletes, reorders or duplicates records after the fact. Each
  record carries the SHA-256 of its own canonical JSON and the hash of the record before it, so
  any such change breaks the chain and ``verify`` names the line.

What a chain alone cannot show is records cut off the *end*: a shorter chain is still a valid
chain, and an unkeyed chain can be recomputed by whoever can write the file. The caller
therefore stores :class:`Checkpoint` values (``seq`` + ``hash`` of the head) somewhere else —
the registry, as a tag at each promotion, and with ``[tool.mlci.audit] signing`` a signed
checkpoint after every append, anchored outside the ledger (``mlci_local.audit``) — and
passes them to :func:`verify`.

One record per line, canonical JSON (sorted keys, no spaces, UTF-8)::

    {"action":"promote","actor":"ana@example.com","data":{"version":"3"},"hash":"…",
     "prev":"…","seq":0,"time":"2024-05-01T12:00:00.000000Z"}

``hash`` is the SHA-256 hex digest of the canonical JSON of the record without ``hash``;
``prev`` is the previous record's ``hash`` (64 zeros for the first record).

Standard library only: this module is imported by ``mlci audit`` and the promotion path, both of
which must stay fast to start.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import mmap
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from pytest_mlci.errors import MlciError
from pytest_mlci.redact import redact_text

__all__ = [
    "GENESIS",
    "Checkpoint",
    "Ledger",
    "LedgerBase",
    "LedgerCorruptError",
    "LedgerError",
    "LedgerRecord",
    "LedgerWriteError",
    "Problem",
    "VerifyReport",
    "verify",
    "verify_lines",
]

#: ``prev`` of the first record: there is nothing before it.
GENESIS = "0" * 64

_FIELDS = frozenset({"action", "actor", "data", "hash", "prev", "seq", "time"})
_VERIFY_HINT = "run `mlci audit verify` to see what is wrong with the ledger"
# A torn last line is the one damage mlci removes itself, after showing it and asking.
_REPAIR_HINT = "run `mlci audit repair` to remove the torn line (it shows the line and asks first)"
# Enough for every ordinary record in one read; longer records double the window.
_TAIL_CHUNK = 8192

# One encoder for every write and every check: the canonical form is whatever this produces.
# allow_nan=False because NaN/Infinity are not JSON and would not survive other readers.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_canonical = _ENCODER.encode


def _canonical_pair(key: str, value: str) -> bytes:
    """``"key":"value"`` exactly as a canonical line holds it."""
    return f"{_canonical(key)}:{_canonical(value)}".encode()


class LedgerError(MlciError):
    """Base of the ledger's errors: the message tells the user what to do next."""


class LedgerWriteError(LedgerError):
    """An audit record could not be written durably, so the action must not be reported done.

    Raised by :meth:`Ledger.append` for every failure: I/O errors, a failed ``fsync``, a full
    disk, and a ledger whose tail is torn or damaged (appending on top of it would hide the
    damage behind a fresh, valid-looking record).
    """


class LedgerCorruptError(LedgerError):
    """Reading the ledger met a line that is not a record; ``mlci audit verify`` says more."""


class Checkpoint(NamedTuple):
    """The head of the ledger as seen at some moment, stored outside the ledger.

    A plain ``(seq, hash)`` tuple works wherever a checkpoint is expected. The promotion code
    stores :meth:`to_tag` as a registry tag; :func:`verify` then proves no record up to ``seq``
    was cut off the end or rewritten since.
    """

    seq: int
    hash: str

    def to_tag(self) -> str:
        """``"<seq>:<hash>"``, compact enough for a registry tag value."""
        return f"{self.seq}:{self.hash}"

    @classmethod
    def from_tag(cls, value: str) -> Checkpoint:
        """Parse :meth:`to_tag` output; a malformed tag is an error, never skipped."""
        seq_text, sep, digest = value.strip().partition(":")
        if not sep or not seq_text.isdigit() or not _is_hex64(digest):
            raise ValueError(f"not a ledger checkpoint (expected '<seq>:<sha256 hex>'): {value!r}")
        return cls(int(seq_text), digest)


@dataclass(frozen=True)
class LedgerRecord:
    """One audit record, exactly as it is stored (``data`` is what a reader will get back)."""

    seq: int
    time: str
    action: str
    actor: str
    data: dict[str, Any]
    prev: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """The record as the JSON object stored on its line."""
        return {
            "action": self.action,
            "actor": self.actor,
            "data": self.data,
            "hash": self.hash,
            "prev": self.prev,
            "seq": self.seq,
            "time": self.time,
        }

    def to_json(self) -> str:
        """The canonical JSON line (without the newline) this record is stored as."""
        return _canonical(self.to_dict())

    @property
    def checkpoint(self) -> Checkpoint:
        """This record as a checkpoint, to be stored somewhere other than the ledger."""
        return Checkpoint(self.seq, self.hash)

    @classmethod
    def from_json(cls, text: str) -> LedgerRecord:
        """Parse one stored line strictly; raise ``ValueError`` naming what is wrong.

        Strict means: every field present with the right type, nothing extra, and the text is
        byte-for-byte the canonical form. The hash itself is not checked here (see
        :func:`verify`).
        """
        obj = _load_record(text)
        return cls(
            seq=obj["seq"],
            time=obj["time"],
            action=obj["action"],
            actor=obj["actor"],
            data=obj["data"],
            prev=obj["prev"],
            hash=obj["hash"],
        )


class LedgerBase:
    """What every ledger backend shares: reading by record, finding, checkpoints, verifying.

    A backend provides :meth:`append`, :meth:`raw_lines` (each record's canonical JSON line,
    newline-terminated, in chain order), :meth:`records`, :meth:`head`, :meth:`exists` and a
    human-readable ``location``. The hash chain and its verification are the same whatever
    holds the lines: a file here, a PostgreSQL table at team scale (``mlci_local.postgres``).
    """

    location: str = "ledger"

    def append(
        self, action: str, data: dict[str, Any] | None = None, *, actor: str | None = None
    ) -> LedgerRecord:
        raise NotImplementedError

    def raw_lines(self) -> Iterator[bytes]:
        raise NotImplementedError

    def records(self) -> Iterator[LedgerRecord]:
        raise NotImplementedError

    def head(self) -> LedgerRecord | None:
        raise NotImplementedError

    def exists(self) -> bool:
        """True once anything was written (readers can skip an empty ledger)."""
        raise NotImplementedError

    def discard_torn_tail(self) -> int:
        """Remove an unacknowledged partial record; backends with atomic writes have none."""
        return 0

    def checkpoint(self) -> Checkpoint | None:
        """The current head as a :class:`Checkpoint`, to be stored outside the ledger."""
        last = self.head()
        return None if last is None else last.checkpoint

    def find(
        self, action: str | Sequence[str] | None = None, **data_filters: Any
    ) -> list[LedgerRecord]:
        """Records with this ``action`` (one name, several, or any if None) whose ``data``
        has every given value, in chain order.

        A list, not an iterator, so ``if ledger.find(...)`` means what it says. Backends
        narrow the scan (:meth:`_candidates`): a team's ledger grows by every run, and the
        promotion path asks several questions of it.
        """
        actions = (action,) if isinstance(action, str) else tuple(action or ())
        return [
            record
            for record in self._candidates(actions, data_filters)
            if (not actions or record.action in actions)
            and all(
                key in record.data and record.data[key] == value
                for key, value in data_filters.items()
            )
        ]

    def _candidates(
        self, actions: tuple[str, ...], data_filters: dict[str, Any]
    ) -> Iterator[LedgerRecord]:
        """A superset of what :meth:`find` returns; :meth:`find` applies the exact test."""
        return self.records()

    def records_for_display(self) -> list[LedgerRecord]:
        """Every record for a report that does not vouch for integrity (the dashboard):
        backends may parse leniently and skip an unreadable line; ``verify`` is the check."""
        return list(self.records())

    def verify(self, checkpoints: Sequence[Checkpoint | tuple[int, str]] = ()) -> VerifyReport:
        """Recompute every hash and link; see :func:`verify_lines`."""
        return verify_lines(self.raw_lines(), self.location, checkpoints)


class Ledger(LedgerBase):
    """Append-only audit ledger at ``path`` (normally ``.mlci/ledger.jsonl``).

    Safe to share between processes: :meth:`append` holds an exclusive ``flock`` on the sibling
    ``<name>.lock`` file while it reads the tail and writes, so two writers can never both build
    on the same head and fork the chain. Readers take no lock; they may see a record that is
    being written as a torn tail, which they skip.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.location = str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def raw_lines(self) -> Iterator[bytes]:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - a generator owns the handle
        except FileNotFoundError:
            return
        with handle:
            yield from handle

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    # -- writing ---------------------------------------------------------------------------

    def append(
        self, action: str, data: dict[str, Any] | None = None, *, actor: str | None = None
    ) -> LedgerRecord:
        """Write one record and return it once it is on disk (after ``fsync``).

        The caller reports its action as done only after this returns: if the record cannot be
        made durable, :class:`LedgerWriteError` is raised and the file is left as it was.
        ``data`` must be a JSON object (str keys, JSON values, no NaN); a ``TypeError`` or
        ``ValueError`` for bad data is a bug in the calling code and is raised before the file
        is touched. ``actor`` defaults to ``$MLCI_ACTOR``, the git ``user.email``, the login.
        """
        data = checked_data(action, data)
        who = actor if actor is not None else current_actor(self.path.parent)

        try:
            created_dir = self._ensure_directory()
            lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise LedgerWriteError(f"{self.path}: cannot open the audit ledger: {exc}") from exc
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            return self._append_locked(action, data, who, created_dir)
        except OSError as exc:
            raise LedgerWriteError(f"{self.path}: cannot write the audit ledger: {exc}") from exc
        finally:
            os.close(lock_fd)  # closing the last descriptor releases the flock

    def _append_locked(
        self, action: str, data: dict[str, Any], actor: str, created_dir: bool
    ) -> LedgerRecord:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            size = os.fstat(fd).st_size
            last = _read_last_record(fd, size, self.path)
            record = next_record(last, action=action, actor=actor, data=data)
            line = (record.to_json() + "\n").encode("utf-8")
            try:
                # One write on an O_APPEND descriptor: the line lands whole at the end, or
                # (disk full, signal) partly — never interleaved with another writer's bytes.
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(f"short write: {written} of {len(line)} bytes")
                os.fsync(fd)
                if size == 0:
                    # A new file is only durable once its directory entry is.
                    _fsync_directory(self.path.parent)
                    if created_dir:
                        _fsync_directory(self.path.parent.parent)
            except OSError as exc:
                undone = _roll_back(fd, size)
                raise LedgerWriteError(
                    f"{self.path}: audit record {action!r} could not be written durably "
                    f"({exc}); "
                    + (
                        "it was removed again, so the action must not be reported done"
                        if undone
                        else f"the ledger may now end in a partial record; {_REPAIR_HINT}"
                    )
                ) from exc
            except BaseException:
                # Ctrl-C or a signal between write and fsync: the caller will not report the
                # action done, so the ledger must not claim it either.
                _roll_back(fd, size)
                raise
            return record
        finally:
            os.close(fd)

    def _ensure_directory(self) -> bool:
        """Create the ledger's directory; return True if it did not exist (needs an fsync)."""
        if self.path.parent.is_dir():
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return True

    def discard_torn_tail(self) -> int:
        """Cut off a torn last line left by a crash; return how many bytes were removed.

        Only an unterminated last line is removed: it was never acknowledged, so nothing
        recorded is lost. Every other kind of damage is left for a human to look at.
        """
        if not self.path.exists():
            return 0
        try:
            lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
                try:
                    size = os.fstat(fd).st_size
                    keep = _end_of_last_complete_line(fd, size)
                    if keep == size:
                        return 0
                    os.ftruncate(fd, keep)
                    os.fsync(fd)
                    return size - keep
                finally:
                    os.close(fd)
            finally:
                os.close(lock_fd)
        except OSError as exc:
            raise LedgerWriteError(f"{self.path}: cannot repair the ledger: {exc}") from exc

    # -- reading ---------------------------------------------------------------------------

    def records_for_display(self) -> list[LedgerRecord]:
        """``json.loads`` per line instead of the strict canonical parse: a tenth of the
        cost on 100,000 records (the dashboard's 5-second budget); a torn or unreadable line
        is skipped, never shown."""
        out = []
        for raw in self.raw_lines():
            try:
                obj = json.loads(raw)
                out.append(LedgerRecord(seq=obj["seq"], time=obj["time"], action=obj["action"],
                                        actor=obj["actor"], data=obj["data"], prev=obj["prev"],
                                        hash=obj["hash"]))  # fmt: skip
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def records(self) -> Iterator[LedgerRecord]:
        """Every record in file order, parsed strictly but without checking the chain.

        A torn last line (a write in progress, or one cut short by a crash) was never
        acknowledged and is skipped; any other unreadable line raises
        :class:`LedgerCorruptError`. Use :func:`verify` to check integrity.
        """
        return self._scan()

    def _candidates(
        self, actions: tuple[str, ...], data_filters: dict[str, Any]
    ) -> Iterator[LedgerRecord]:
        """Only lines that hold the wanted action and string values are parsed.

        Lines are canonical JSON, so a record with ``"action":"promote"`` holds exactly
        those bytes, and a string filter ``model="m"`` the bytes ``"model":"m"``. Parsing
        is most of a scan's cost, so the file is searched for those bytes (a memory map and
        ``find``, at memory speed) and only the lines they sit on are parsed.
        """
        wanted_actions = [_canonical_pair("action", name) for name in actions]
        wanted_values = [
            _canonical_pair(key, value)
            for key, value in data_filters.items()
            if isinstance(value, str)
        ]
        if not wanted_actions and not wanted_values:
            return self._scan()
        return self._search(wanted_actions, wanted_values)

    def _scan(self) -> Iterator[LedgerRecord]:
        """Parse every complete line, in order."""
        for lineno, raw in enumerate(self.raw_lines(), start=1):
            if not raw.endswith(b"\n"):
                return
            yield self._parse(raw, lineno)

    def _search(
        self, wanted_actions: list[bytes], wanted_values: list[bytes]
    ) -> Iterator[LedgerRecord]:
        """Parse, in order, the complete lines holding one of ``wanted_actions`` (any when
        empty) and all of ``wanted_values``; the longest value (usually a digest) or each
        action is the needle searched for."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                return
            with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as data:
                needles = [max(wanted_values, key=len)] if wanted_values else wanted_actions
                starts: set[int] = set()
                for needle in needles:
                    at = data.find(needle)
                    while at != -1:
                        end = data.find(b"\n", at)
                        if end == -1:
                            break  # a torn last line: never acknowledged, skipped
                        starts.add(data.rfind(b"\n", 0, at) + 1)
                        at = data.find(needle, end)
                for start in sorted(starts):
                    raw = data[start : data.find(b"\n", start) + 1]
                    if wanted_actions and not any(pair in raw for pair in wanted_actions):
                        continue
                    if all(pair in raw for pair in wanted_values):
                        yield self._parse(raw, lambda s=start: data[:s].count(b"\n") + 1)
        finally:
            os.close(fd)

    def _parse(self, raw: bytes, lineno: int | Callable[[], int]) -> LedgerRecord:
        try:
            return LedgerRecord.from_json(raw[:-1].decode("utf-8"))
        except ValueError as exc:
            number = lineno if isinstance(lineno, int) else lineno()
            raise LedgerCorruptError(
                f"{self.path.name}:{number}: not a ledger record ({exc}); {_VERIFY_HINT}"
            ) from exc

    def head(self) -> LedgerRecord | None:
        """The last record, read from the end of the file; None for an empty ledger.

        Raises :class:`LedgerCorruptError` if the last line is torn or damaged: a checkpoint
        taken from a damaged head would vouch for the damage.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            return _read_last_record(fd, os.fstat(fd).st_size, self.path, LedgerCorruptError)
        finally:
            os.close(fd)


# -- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the ledger, located by line (1-based) and, when known, seq."""

    line: int
    seq: int | None
    kind: str
    message: str


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify` found; ``ok`` is True only if there are no problems at all.

    ``records`` counts intact records in the chain; ``head`` is the hash of the last of them.
    ``truncation_checked`` is False when no checkpoints were given: a chain with records cut
    off its end is still a valid chain, so only an outside checkpoint can show the cut.
    """

    ok: bool
    records: int
    head: str | None
    problems: tuple[Problem, ...]
    truncation_checked: bool
    path: str = "ledger.jsonl"
    head_seq: int | None = None
    checkpoint_seq: int | None = None

    def summary(self) -> str:
        """Human text: a verdict line, then one ``ledger.jsonl:LINE: kind: message`` per problem."""
        # A file by its name; a database table by its full (password-free) address.
        name = self.path if "://" in self.path else Path(self.path).name
        head = f"head {self.head[:12]}" if self.head else "no head"
        if self.ok:
            lines = [f"{name}: OK, {self.records} records, {head}"]
        else:
            count = len(self.problems)
            lines = [
                f"{name}: FAILED, {count} problem{'s' if count != 1 else ''} "
                f"({self.records} intact records, {head})"
            ]
        lines += [f"{name}:{p.line}: {p.kind}: {p.message}" for p in self.problems]
        if not self.truncation_checked:
            lines.append(
                f"{name}: no checkpoints given, so this cannot rule out truncation: records "
                "removed from the end leave a valid chain"
            )
        elif (
            self.checkpoint_seq is not None
            and self.head_seq is not None
            and self.checkpoint_seq < self.head_seq
        ):
            lines.append(
                f"{name}: checked against checkpoints up to seq {self.checkpoint_seq}; "
                f"records after it cannot be checked for truncation"
            )
        return "\n".join(lines)


def verify(path: Path, checkpoints: Sequence[Checkpoint | tuple[int, str]] = ()) -> VerifyReport:
    """Verify the ledger file at ``path`` (a missing file is an empty ledger)."""
    return Ledger(Path(path)).verify(checkpoints)


def verify_lines(
    lines: Iterable[bytes], name: str, checkpoints: Sequence[Checkpoint | tuple[int, str]] = ()
) -> VerifyReport:
    """Recompute every hash and link of a ledger's lines and report what is wrong.

    Detects edited records, deleted, reordered and duplicated lines, unreadable lines, and a
    torn last line (reported as ``torn_tail``: a crash, not tampering). With ``checkpoints``
    it also detects records cut off the end (``truncated``) and rewritten history
    (``checkpoint_mismatch``). ``name`` says where the lines came from.

    After a problem the check re-synchronises on the next intact record, so one edit is
    reported once instead of breaking every line after it.
    """
    wanted: dict[int, list[str]] = {}
    for cp in checkpoints:
        seq, digest = cp
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0 or not _is_hex64(digest):
            raise ValueError(f"not a ledger checkpoint: {cp!r}")
        wanted.setdefault(seq, []).append(digest)

    problems: list[Problem] = []
    seen: set[str] = set()
    found: dict[int, tuple[int, str]] = {}  # checkpointed seq -> (line, hash)
    last_seq = -1
    last_hash = GENESIS
    intact = 0
    skipped = 0  # damaged lines since the last intact record, already reported
    lineno = 0

    # Hot loop: 100,000 records must verify in well under two seconds, so names are local.
    loads = json.loads
    canonical = _canonical
    sha256 = hashlib.sha256
    fields = _FIELDS
    add = problems.append

    for raw in lines:
        lineno += 1
        if raw[-1:] != b"\n":
            add(_torn_tail_problem(raw, lineno))
            break
        try:
            text = raw[:-1].decode("utf-8")
            obj = loads(text)
            if type(obj) is not dict or obj.keys() != fields:
                raise ValueError("not an object with exactly the ledger's fields")
            stored = obj["hash"]
            seq = obj["seq"]
            if (
                type(seq) is not int
                or type(stored) is not str
                or type(obj["prev"]) is not str
                or type(obj["action"]) is not str
                or type(obj["actor"]) is not str
                or type(obj["time"]) is not str
                or type(obj["data"]) is not dict
            ):
                raise ValueError("a field has the wrong type")
            if canonical(obj) != text:
                # Same content in another spelling (spaces, escapes, key order,
                # duplicate keys) is still a changed line.
                add(
                    Problem(
                        lineno,
                        seq,
                        "edited",
                        f"record seq {seq} is not in canonical form: "
                        "the line was rewritten after it was written",
                    )
                )
                skipped += 1
                continue
            del obj["hash"]
            actual = sha256(canonical(obj).encode("utf-8")).hexdigest()
        except (ValueError, RecursionError) as exc:
            add(Problem(lineno, None, "bad_json", f"not a ledger record: {exc}"))
            skipped += 1
            continue

        if actual != stored:
            add(
                Problem(
                    lineno,
                    seq,
                    "edited",
                    f"record seq {seq} does not match its hash: "
                    "it was changed after it was written",
                )
            )
            skipped += 1
            continue
        if actual in seen:
            add(
                Problem(
                    lineno,
                    seq,
                    "duplicate",
                    f"record seq {seq} appears a second time (copy of an earlier line)",
                )
            )
            continue
        seen.add(actual)
        prev = obj["prev"]
        if seq == last_seq + 1 and prev == last_hash:
            pass
        elif skipped and seq == last_seq + 1 + skipped:
            pass  # it follows the damaged line(s) already reported; no second report
        elif seq <= last_seq:
            add(
                Problem(
                    lineno,
                    seq,
                    "deleted_or_reordered",
                    (
                        f"a second record claims seq {seq}: the chain forked or a "
                        "record was re-inserted"
                        if seq == last_seq
                        else f"record seq {seq} comes after seq {last_seq}: "
                        "records were reordered or re-inserted"
                    ),
                )
            )
            continue  # stay on the chain as it was; the out-of-place record is not it
        elif seq != last_seq + 1:
            missing = seq - last_seq - 1
            add(
                Problem(
                    lineno,
                    seq,
                    "deleted_or_reordered",
                    f"seq jumps from {last_seq} to {seq}: "
                    f"{missing} record{'s' if missing != 1 else ''} "
                    "deleted or moved",
                )
            )
        else:
            add(
                Problem(
                    lineno,
                    seq,
                    "deleted_or_reordered",
                    f"record seq {seq} does not link to the record before it "
                    "(prev hash differs): records were deleted, replaced or reordered",
                )
            )
        last_seq = seq
        last_hash = actual
        skipped = 0
        intact += 1
        if seq in wanted:
            found[seq] = (lineno, actual)

    for seq in sorted(wanted):
        for digest in wanted[seq]:
            if seq in found:
                line, actual = found[seq]
                if actual != digest:
                    add(
                        Problem(
                            line,
                            seq,
                            "checkpoint_mismatch",
                            f"record seq {seq} has hash {actual[:12]}, but the checkpoint "
                            f"stored for it says {digest[:12]}: history was rewritten",
                        )
                    )
            elif seq > last_seq:
                add(
                    Problem(
                        lineno + 1,
                        seq,
                        "truncated",
                        f"a checkpoint shows record seq {seq} existed, but the ledger ends at "
                        f"seq {last_seq}: records were removed from the end",
                    )
                )
            else:
                add(
                    Problem(
                        lineno + 1,
                        seq,
                        "checkpoint_mismatch",
                        f"a checkpoint names record seq {seq}, but no intact record has it",
                    )
                )

    return VerifyReport(
        ok=not problems,
        records=intact,
        head=last_hash if last_seq >= 0 else None,
        problems=tuple(problems),
        truncation_checked=bool(wanted),
        path=name,
        head_seq=last_seq if last_seq >= 0 else None,
        checkpoint_seq=max(wanted) if wanted else None,
    )


def _torn_tail_problem(raw: bytes, lineno: int) -> Problem:
    """Describe an unterminated last line: what a crash during a write leaves behind."""
    seq: int | None = None
    try:
        seq = LedgerRecord.from_json(raw.decode("utf-8")).seq
        what = "a complete record whose newline is missing"
    except ValueError:
        what = f"a partial record ({len(raw)} bytes)"
    return Problem(
        lineno,
        seq,
        "torn_tail",
        f"the last line is {what}: a write was interrupted by a crash (not tampering); "
        "it was never acknowledged, so removing it loses nothing (`mlci audit repair`)",
    )


def checked_data(action: str, data: dict[str, Any] | None) -> dict[str, Any]:
    """``data`` exactly as a reader will see it, or the programming error that prevents it.

    Round-tripped through canonical JSON so the returned record holds what a reader will see
    (tuples become lists); non-str keys are refused rather than silently converted.
    """
    if not isinstance(action, str) or not action:
        raise ValueError(f"ledger action must be a non-empty string, got {action!r}")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TypeError(f"ledger data must be a dict, got {type(data).__name__}")
    if _has_non_str_key(data):
        raise TypeError(f"ledger data for {action!r} must have string keys only")
    try:
        checked = json.loads(_canonical(data))
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"ledger data for {action!r} is not a JSON object: {exc}") from exc
    # An error message or address may carry a password (a registry URL from a CI secret);
    # the ledger is copied into evidence packages, so it never holds one.
    return _redacted(checked)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: _redacted(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_redacted(inner) for inner in value]
    return value


# -- helpers --------------------------------------------------------------------------------


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and not value.strip("0123456789abcdef")


def _has_non_str_key(value: Any) -> bool:
    """True if a dict anywhere in ``value`` has a non-str key (JSON would stringify it)."""
    if isinstance(value, dict):
        return any(not isinstance(k, str) or _has_non_str_key(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_non_str_key(v) for v in value)
    return False


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_record(
    last: LedgerRecord | None, *, action: str, actor: str, data: dict[str, Any]
) -> LedgerRecord:
    """The record that follows ``last`` (the first one if None) in the chain."""
    return make_record(
        seq=0 if last is None else last.seq + 1,
        prev=GENESIS if last is None else last.hash,
        action=action,
        actor=actor,
        data=data,
    )


def make_record(
    *, seq: int, prev: str, action: str, actor: str, data: dict[str, Any]
) -> LedgerRecord:
    body = {
        "action": action,
        "actor": actor,
        "data": data,
        "prev": prev,
        "seq": seq,
        "time": _utc_now(),
    }
    digest = hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()
    return LedgerRecord(hash=digest, **body)


def _load_record(text: str) -> dict[str, Any]:
    """Parse and shape-check one line; ``ValueError`` says what is wrong."""
    try:
        obj = json.loads(text)
        canonical = _canonical(obj)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    if not isinstance(obj, dict) or obj.keys() != _FIELDS:
        raise ValueError(f"expected an object with exactly the fields {sorted(_FIELDS)}")
    types = {"seq": int, "time": str, "action": str, "actor": str, "data": dict}
    for name, kind in types.items():
        if type(obj[name]) is not kind:
            raise ValueError(f"field {name!r} must be {kind.__name__}")
    if not _is_hex64(obj["prev"]) or not _is_hex64(obj["hash"]):
        raise ValueError("'prev' and 'hash' must be 64 lowercase hex digits")
    if canonical != text:
        raise ValueError("line is not in canonical JSON form")
    return obj


def _record_hash(obj: dict[str, Any]) -> str:
    body = {key: value for key, value in obj.items() if key != "hash"}
    return hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()


def _end_of_last_complete_line(fd: int, size: int) -> int:
    """Offset just past the last newline (0 if none): where a torn tail starts."""
    end = size
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        chunk = os.pread(fd, end - start, start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


def _read_last_record(
    fd: int, size: int, path: Path, error: type[LedgerError] = LedgerWriteError
) -> LedgerRecord | None:
    """Parse only the last line, reading backwards from the end of the file.

    Refuses (raises ``error``) when the last line is torn or is not a record with a correct
    hash: building on it would give damaged history a valid-looking successor.
    """
    if size == 0:
        return None
    if os.pread(fd, 1, size - 1) != b"\n":
        raise error(
            f"{path}: the last line is incomplete, a write was interrupted by a crash; "
            f"refusing to build on it — {_REPAIR_HINT}"
        )
    window = min(size, _TAIL_CHUNK)
    while True:
        chunk = os.pread(fd, window, size - window)
        start = chunk.rfind(b"\n", 0, len(chunk) - 1)
        if start >= 0 or window == size:
            break
        window = min(size, window * 2)
    try:
        record = LedgerRecord.from_json(chunk[start + 1 : -1].decode("utf-8"))
        if _record_hash(record.to_dict()) != record.hash:
            raise ValueError("its hash does not match its content")
    except ValueError as exc:
        raise error(
            f"{path}: the last record is damaged ({exc}); refusing to build on it — {_VERIFY_HINT}"
        ) from exc
    return record


def _roll_back(fd: int, size: int) -> bool:
    """Cut the file back to ``size`` after a failed write; True if that worked."""
    try:
        if os.fstat(fd).st_size > size:
            os.ftruncate(fd, size)
        # Best effort: the truncation is what readers see from now on, synced or not.
        with contextlib.suppress(OSError):
            os.fsync(fd)
        return True
    except OSError:
        return False


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- who is acting ----------------------------------------------------------------------------


def current_actor(start: Path | None = None) -> str:
    """Who is acting: ``$MLCI_ACTOR``, else git's ``user.email``, else the login name.

    git's config files are read directly rather than by running ``git config``: a subprocess
    per audit record would cost more than the fsync.
    """
    from_env = os.environ.get("MLCI_ACTOR", "").strip()
    if from_env:
        return from_env
    email = _git_user_email(str(Path(start or Path.cwd()).absolute()))
    if email:
        return email
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (minimal containers)
        return "unknown"


@lru_cache(maxsize=16)
def _git_user_email(start: str) -> str | None:
    """user.email with git's precedence (repository, then global); cached per directory."""
    candidates: list[Path] = []
    repo_config = _repository_config(Path(start))
    if repo_config is not None:
        candidates.append(repo_config)
    global_config = os.environ.get("GIT_CONFIG_GLOBAL")
    if global_config:
        candidates.append(Path(global_config))
    else:
        home = Path.home()
        xdg = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")
        candidates += [home / ".gitconfig", Path(xdg) / "git" / "config"]
    for config in candidates:
        email = _email_in_git_config(config)
        if email:
            return email
    return None


def _repository_config(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir():
            return dot_git / "config"
        if dot_git.is_file():  # worktree or submodule: "gitdir: <path>"
            try:
                pointer = dot_git.read_text(encoding="utf-8").strip()
            except OSError:
                return None
            if not pointer.startswith("gitdir:"):
                return None
            gitdir = (directory / pointer[len("gitdir:") :].strip()).resolve()
            common = gitdir / "commondir"
            if common.is_file():
                with contextlib.suppress(OSError):
                    gitdir = (gitdir / common.read_text(encoding="utf-8").strip()).resolve()
            return gitdir / "config"
    return None


def _email_in_git_config(config: Path) -> str | None:
    """The last ``email`` in a ``[user]`` section, as git would pick it (no includes)."""
    try:
        text = config.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    section = ""
    email = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line[1:].split("]", 1)[0].split(None, 1)[0].strip().lower()
            continue
        key, sep, value = line.partition("=")
        if section == "user" and sep and key.strip().lower() == "email":
            value = value.split(" #", 1)[0].split(" ;", 1)[0].strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            email = value or None
    return email
