"""The audit ledger: chaining, tamper detection, crash tolerance, concurrency, durability."""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
from pathlib import Path

import pytest

from mlci_local.ledger import (
    GENESIS,
    Checkpoint,
    Ledger,
    LedgerCorruptError,
    LedgerRecord,
    LedgerWriteError,
    verify,
)
from pytest_mlci.errors import MlciError


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / ".mlci" / "ledger.jsonl"


@pytest.fixture(autouse=True)
def fixed_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCI_ACTOR", "ci@example.com")


def write_ledger(path: Path, count: int) -> list[LedgerRecord]:
    ledger = Ledger(path)
    return [
        ledger.append("promote", {"model": "conversion", "version": str(n)}) for n in range(count)
    ]


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def kinds(path: Path, **kwargs) -> list[str]:
    return [problem.kind for problem in verify(path, **kwargs).problems]


# -- appending and reading ------------------------------------------------------------------


def test_appends_form_a_chain_from_genesis(ledger_path: Path) -> None:
    first, second, third = write_ledger(ledger_path, 3)

    assert [r.seq for r in (first, second, third)] == [0, 1, 2]
    assert first.prev == GENESIS
    assert second.prev == first.hash
    assert third.prev == second.hash
    assert first.time.endswith("Z")
    body = {k: v for k, v in json.loads(ledger_path.read_text().splitlines()[1]).items()}
    stored = body.pop("hash")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert stored == hashlib.sha256(canonical.encode()).hexdigest() == second.hash


def test_each_record_is_one_canonical_line(ledger_path: Path) -> None:
    record = Ledger(ledger_path).append("approve", {"reason": "grün ✓", "n": 1.5})

    text = ledger_path.read_text(encoding="utf-8")
    assert text == record.to_json() + "\n"
    assert "grün ✓" in text  # UTF-8, not \u escapes
    assert ", " not in text and ": " not in text


def test_head_records_and_find_read_back_what_was_written(ledger_path: Path) -> None:
    ledger = Ledger(ledger_path)
    assert ledger.head() is None
    assert list(ledger.records()) == []

    written = write_ledger(ledger_path, 3)
    rejected = ledger.append("reject", {"model": "conversion", "version": "2"})

    assert list(ledger.records()) == [*written, rejected]
    assert ledger.head() == rejected
    assert ledger.checkpoint() == Checkpoint(3, rejected.hash)
    assert LedgerRecord.from_json(rejected.to_json()) == rejected
    assert ledger.find("promote", version="1") == [written[1]]
    assert ledger.find(version="2") == [written[2], rejected]
    assert ledger.find("rollback") == []


def test_data_round_trips_to_what_a_reader_sees(ledger_path: Path) -> None:
    record = Ledger(ledger_path).append("stage", {"sizes": (1, 2)})

    assert record.data == {"sizes": [1, 2]}
    assert Ledger(ledger_path).head() == record


def test_data_that_is_not_json_is_refused_before_touching_the_file(ledger_path: Path) -> None:
    ledger = Ledger(ledger_path)
    with pytest.raises(ValueError, match="not a JSON object"):
        ledger.append("promote", {"auc": float("nan")})
    with pytest.raises(TypeError, match="string keys"):
        ledger.append("promote", {1: "one"})
    with pytest.raises(TypeError, match="not a JSON object"):
        ledger.append("promote", {"when": object()})
    assert not ledger_path.exists()


def test_actor_comes_from_mlci_actor(ledger_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCI_ACTOR", "release-bot@example.com")
    ledger = Ledger(ledger_path)

    assert ledger.append("promote").actor == "release-bot@example.com"
    assert ledger.append("promote", actor="ana@example.com").actor == "ana@example.com"


def test_actor_falls_back_to_the_repository_git_email(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLCI_ACTOR")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text(
        '[core]\n\tbare = false\n[remote "origin"]\n\turl = x\n[user]\n\temail = dev@example.com\n'
    )

    record = Ledger(tmp_path / ".mlci" / "ledger.jsonl").append("promote")

    assert record.actor == "dev@example.com"


# -- tampering ------------------------------------------------------------------------------


def test_an_untouched_ledger_verifies(ledger_path: Path) -> None:
    records = write_ledger(ledger_path, 5)

    report = verify(ledger_path)

    assert report.ok
    assert report.records == 5
    assert report.head == records[-1].hash
    assert report.problems == ()
    assert report.summary().startswith("ledger.jsonl: OK, 5 records")


def test_a_missing_ledger_is_empty(ledger_path: Path) -> None:
    report = verify(ledger_path)

    assert report.ok and report.records == 0 and report.head is None


def test_every_single_bit_flip_is_detected(ledger_path: Path, tmp_path: Path) -> None:
    write_ledger(ledger_path, 3)
    original = ledger_path.read_bytes()
    mutated_path = tmp_path / "mutated.jsonl"
    missed = []
    for index in range(len(original)):
        for bit in range(8):
            mutated = bytearray(original)
            mutated[index] ^= 1 << bit
            mutated_path.write_bytes(mutated)
            report = verify(mutated_path)
            if report.ok:
                missed.append((index, bit))
            if index == len(original) - 1:  # the last line's newline
                assert {p.kind for p in report.problems} <= {"torn_tail", "bad_json", "edited"}
    assert missed == []


def test_an_edited_record_is_named_by_line(ledger_path: Path) -> None:
    write_ledger(ledger_path, 4)
    lines = lines_of(ledger_path)
    lines[1] = lines[1].replace(b'"version":"1"', b'"version":"7"')
    ledger_path.write_bytes(b"".join(lines))

    report = verify(ledger_path)

    assert not report.ok
    assert [(p.line, p.seq, p.kind) for p in report.problems] == [(2, 1, "edited")]
    assert "ledger.jsonl:2: edited: record seq 1 does not match its hash" in report.summary()


def test_a_respelled_record_counts_as_edited(ledger_path: Path) -> None:
    write_ledger(ledger_path, 3)
    lines = lines_of(ledger_path)
    lines[1] = lines[1].replace(b'"action":', b'"action": ')
    ledger_path.write_bytes(b"".join(lines))

    assert kinds(ledger_path) == ["edited"]


def test_a_deleted_middle_record_is_detected(ledger_path: Path) -> None:
    write_ledger(ledger_path, 5)
    lines = lines_of(ledger_path)
    del lines[2]
    ledger_path.write_bytes(b"".join(lines))

    report = verify(ledger_path)

    assert [(p.line, p.kind) for p in report.problems] == [(3, "deleted_or_reordered")]
    assert "seq jumps from 1 to 3: 1 record deleted" in report.summary()


def test_swapped_records_are_detected(ledger_path: Path) -> None:
    write_ledger(ledger_path, 5)
    lines = lines_of(ledger_path)
    lines[1], lines[2] = lines[2], lines[1]
    ledger_path.write_bytes(b"".join(lines))

    report = verify(ledger_path)

    assert not report.ok
    assert set(kinds(ledger_path)) == {"deleted_or_reordered"}
    assert report.problems[0].line == 2
    assert "reordered" in report.summary()


def test_a_duplicated_record_is_detected(ledger_path: Path) -> None:
    write_ledger(ledger_path, 4)
    lines = lines_of(ledger_path)
    lines.insert(2, lines[1])
    ledger_path.write_bytes(b"".join(lines))

    report = verify(ledger_path)

    assert [(p.line, p.seq, p.kind) for p in report.problems] == [(3, 1, "duplicate")]
    assert report.records == 4


def test_a_garbage_line_is_bad_json(ledger_path: Path) -> None:
    write_ledger(ledger_path, 3)
    lines = lines_of(ledger_path)
    lines[1] = b"not json\n"
    ledger_path.write_bytes(b"".join(lines))

    assert kinds(ledger_path) == ["bad_json"]


def test_append_refuses_to_build_on_a_damaged_last_record(ledger_path: Path) -> None:
    write_ledger(ledger_path, 2)
    ledger_path.write_bytes(ledger_path.read_bytes().replace(b'"version":"1"', b'"version":"9"'))

    with pytest.raises(LedgerWriteError, match=r"last record is damaged.*mlci audit verify"):
        Ledger(ledger_path).append("promote")


# -- crashes --------------------------------------------------------------------------------


def test_a_torn_last_line_is_a_crash_not_tampering(ledger_path: Path) -> None:
    write_ledger(ledger_path, 3)
    size = ledger_path.stat().st_size
    os.truncate(ledger_path, size - 40)

    report = verify(ledger_path)

    assert not report.ok
    assert [(p.line, p.kind) for p in report.problems] == [(3, "torn_tail")]
    assert report.records == 2
    assert "interrupted by a crash (not tampering)" in report.summary()
    assert "ledger.jsonl:3: torn_tail" in report.summary()


def test_append_refuses_a_torn_tail_and_says_what_to_run(ledger_path: Path) -> None:
    write_ledger(ledger_path, 3)
    os.truncate(ledger_path, ledger_path.stat().st_size - 40)
    torn = ledger_path.read_bytes()
    ledger = Ledger(ledger_path)

    with pytest.raises(LedgerWriteError, match=r"incomplete.*crash.*`mlci audit repair`"):
        ledger.append("promote")
    with pytest.raises(LedgerCorruptError):
        ledger.head()
    assert ledger_path.read_bytes() == torn
    assert [r.seq for r in ledger.records()] == [0, 1]  # readers skip the unacknowledged line


def test_find_searches_past_a_torn_tail_and_names_a_damaged_line(ledger_path: Path) -> None:
    """``find`` reads only the lines its search hits: it skips a torn last line like
    ``records`` does, and a damaged line it hits is named by its line number."""
    write_ledger(ledger_path, 3)
    os.truncate(ledger_path, ledger_path.stat().st_size - 1)  # record 2 without its newline
    ledger = Ledger(ledger_path)
    assert [r.seq for r in ledger.find("promote", model="conversion")] == [0, 1]
    assert ledger.find("promote", version="2") == []
    assert [r.seq for r in ledger.find(("promote", "rollback"))] == [0, 1]

    lines = lines_of(ledger_path)
    lines[1] = lines[1].replace(b'"actor":', b'"actor" :')
    ledger_path.write_bytes(b"".join(lines))
    with pytest.raises(LedgerCorruptError, match=r"ledger.jsonl:2: not a ledger record"):
        ledger.find("promote", version="1")
    assert [r.seq for r in ledger.find("promote", version="0")] == [0]  # line 2 not read
    assert Ledger(ledger_path.parent / "missing.jsonl").find("promote", model="m") == []
    ledger_path.write_bytes(b"")
    assert ledger.find("promote", model="conversion") == []


def test_a_discarded_torn_tail_lets_the_chain_continue(ledger_path: Path) -> None:
    write_ledger(ledger_path, 3)
    os.truncate(ledger_path, ledger_path.stat().st_size - 40)
    ledger = Ledger(ledger_path)

    assert ledger.discard_torn_tail() > 0
    assert ledger.discard_torn_tail() == 0
    assert ledger.append("promote").seq == 2
    assert verify(ledger_path).ok


def test_a_complete_record_without_its_newline_is_still_a_torn_tail(ledger_path: Path) -> None:
    write_ledger(ledger_path, 2)
    os.truncate(ledger_path, ledger_path.stat().st_size - 1)

    report = verify(ledger_path)

    assert [(p.kind, p.seq) for p in report.problems] == [("torn_tail", 1)]
    assert "newline is missing" in report.summary()


# -- truncation and checkpoints -------------------------------------------------------------


def test_truncation_is_invisible_without_checkpoints(ledger_path: Path) -> None:
    write_ledger(ledger_path, 5)
    ledger_path.write_bytes(b"".join(lines_of(ledger_path)[:3]))

    report = verify(ledger_path)

    assert report.ok
    assert report.truncation_checked is False
    assert "cannot rule out truncation" in report.summary()


def test_a_checkpoint_reveals_truncation(ledger_path: Path) -> None:
    records = write_ledger(ledger_path, 5)
    checkpoint = Checkpoint.from_tag(records[-1].checkpoint.to_tag())
    ledger_path.write_bytes(b"".join(lines_of(ledger_path)[:3]))

    report = verify(ledger_path, [checkpoint])

    assert not report.ok
    assert report.truncation_checked is True
    assert [(p.seq, p.kind) for p in report.problems] == [(4, "truncated")]
    assert "removed from the end" in report.summary()


def test_matching_checkpoints_pass(ledger_path: Path) -> None:
    records = write_ledger(ledger_path, 5)

    report = verify(ledger_path, [(1, records[1].hash), records[4].checkpoint])

    assert report.ok and report.truncation_checked
    assert "cannot rule out truncation" not in report.summary()


def test_a_checkpoint_reveals_rewritten_history(ledger_path: Path, tmp_path: Path) -> None:
    records = write_ledger(ledger_path, 3)
    # A forger rebuilds a fully valid chain with different content.
    ledger_path.unlink()
    forged = Ledger(ledger_path)
    for n in range(3):
        forged.append("promote", {"model": "conversion", "version": f"forged-{n}"})
    assert verify(ledger_path).ok

    report = verify(ledger_path, [records[2].checkpoint])

    assert [(p.line, p.kind) for p in report.problems] == [(3, "checkpoint_mismatch")]


def test_a_malformed_checkpoint_tag_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a ledger checkpoint"):
        Checkpoint.from_tag("4:nothex")


# -- concurrency and durability -------------------------------------------------------------


def _append_many(path: Path, worker: int, count: int, barrier) -> None:
    ledger = Ledger(path)
    barrier.wait()
    for n in range(count):
        ledger.append("promote", {"worker": worker, "n": n})


def test_concurrent_processes_never_fork_the_chain(ledger_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    workers = [
        context.Process(target=_append_many, args=(ledger_path, w, 50, barrier)) for w in range(4)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]

    report = verify(ledger_path)

    assert report.ok, report.summary()
    assert report.records == 200
    assert [r.seq for r in Ledger(ledger_path).records()] == list(range(200))


def test_a_failed_fsync_leaves_the_previous_ledger(
    ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ledger(ledger_path, 3)
    before = ledger_path.read_bytes()

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(LedgerWriteError, match="could not be written durably") as caught:
        Ledger(ledger_path).append("promote", {"version": "4"})
    monkeypatch.undo()

    assert isinstance(caught.value, MlciError)
    assert "must not be reported done" in str(caught.value)
    assert ledger_path.read_bytes() == before
    report = verify(ledger_path)
    assert report.ok and report.records == 3
    assert Ledger(ledger_path).append("promote").seq == 3


def test_a_short_write_is_rolled_back(ledger_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_ledger(ledger_path, 2)
    before = ledger_path.read_bytes()
    real_write = os.write

    def half_write(fd: int, data: bytes) -> int:
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr(os, "write", half_write)
    with pytest.raises(LedgerWriteError, match="short write"):
        Ledger(ledger_path).append("promote")
    monkeypatch.undo()

    assert ledger_path.read_bytes() == before
    assert verify(ledger_path).ok
