"""The audit ledger and the promotion lock in PostgreSQL (team scale), on a real server.

The same chain as the file ledger, so the same verification; on top, the database itself
refuses edits, and the lock is shared by every runner that can reach the database.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from mlci_local.ledger import Checkpoint, Ledger, LedgerRecord
from mlci_local.postgres import PostgresLedger, advisory_lock
from pytest_mlci.errors import RegistryError


@pytest.fixture(autouse=True)
def fixed_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCI_ACTOR", "ci@example.com")


@pytest.fixture
def ledger(fresh_database):
    opened = PostgresLedger(fresh_database)
    yield opened
    opened.close()


def as_owner(dsn: str, *statements: str) -> None:
    """What only a database owner can do: switch the append-only triggers off and edit."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE mlci.ledger DISABLE TRIGGER USER")
        for statement in statements:
            conn.execute(statement)
        conn.execute("ALTER TABLE mlci.ledger ENABLE TRIGGER USER")


def test_records_are_the_same_canonical_lines_as_the_file_ledger(ledger, tmp_path):
    file_ledger = Ledger(tmp_path / "ledger.jsonl")
    for index in range(3):
        ledger.append("register", {"model": "m", "version": str(index)})
        file_ledger.append("register", {"model": "m", "version": str(index)})
    rows = list(ledger.raw_lines())
    assert len(rows) == 3
    for line in rows:
        assert LedgerRecord.from_json(line[:-1].decode()).to_json().encode() + b"\n" == line
    assert [r.data for r in ledger.records()] == [r.data for r in file_ledger.records()]
    assert [r.seq for r in ledger.records()] == [0, 1, 2]
    assert ledger.head().seq == 2 and ledger.exists()
    assert ledger.find("register", version="1")[0].data == {"model": "m", "version": "1"}
    report = ledger.verify([ledger.checkpoint()])
    assert report.ok, report.summary()


def test_the_database_refuses_to_edit_or_delete_records(ledger, fresh_database):
    ledger.append("promote", {"model": "m", "version": "1"})
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        with pytest.raises(psycopg.Error, match="append-only"):
            conn.execute("UPDATE mlci.ledger SET line = replace(line, '\"1\"', '\"2\"')")
        with pytest.raises(psycopg.Error, match="append-only"):
            conn.execute("DELETE FROM mlci.ledger")
        with pytest.raises(psycopg.Error, match="append-only"):
            conn.execute("TRUNCATE mlci.ledger")
    assert ledger.verify().ok


def test_an_owner_who_edits_a_record_is_caught_by_the_chain(ledger, fresh_database):
    for version in "123":
        ledger.append("promote", {"model": "m", "version": version})
    as_owner(
        fresh_database,
        'UPDATE mlci.ledger SET line = replace(line, \'"version":"2"\', \'"version":"9"\') '
        "WHERE seq = 1",
    )
    report = ledger.verify()
    assert not report.ok
    assert [(p.seq, p.kind) for p in report.problems] == [(1, "edited")]
    assert "#mlci.ledger:2: edited: record seq 1 does not match its hash" in report.summary()


def test_an_owner_who_deletes_records_is_caught(ledger, fresh_database):
    for version in "1234":
        ledger.append("promote", {"model": "m", "version": version})
    checkpoint = ledger.checkpoint()
    as_owner(fresh_database, "DELETE FROM mlci.ledger WHERE seq = 1")
    assert [p.kind for p in ledger.verify().problems] == ["deleted_or_reordered"]
    as_owner(fresh_database, "DELETE FROM mlci.ledger WHERE seq = 3")
    kinds = [p.kind for p in ledger.verify([checkpoint]).problems]
    assert "truncated" in kinds


def _append_many(dsn: str, worker: int, count: int, barrier) -> None:
    os.environ["MLCI_ACTOR"] = f"worker{worker}@example.com"
    ledger = PostgresLedger(dsn)
    barrier.wait()
    for index in range(count):
        ledger.append("approve", {"model": "m", "worker": worker, "index": index})
    ledger.close()


def test_concurrent_runners_never_fork_the_chain(ledger, fresh_database):
    ledger.append("genesis", {})  # the schema exists before the race starts
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(8)
    with context.Pool(8) as pool:
        pool.starmap(_append_many, [(fresh_database, w, 25, barrier) for w in range(8)])
    records = list(ledger.records())
    assert [r.seq for r in records] == list(range(201))
    assert ledger.verify().ok


def test_the_schema_is_created_once_when_runners_start_together(fresh_database):
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(6)
    with context.Pool(6) as pool:
        pool.starmap(_append_many, [(fresh_database, w, 1, barrier) for w in range(6)])
    assert PostgresLedger(fresh_database).verify().records == 6


HOLD = """
import sys, time
from mlci_local.postgres import advisory_lock
with advisory_lock(sys.argv[1], "mlci:m:promotion"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_held_lock_makes_others_wait_and_dies_with_its_holder(fresh_database):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, fresh_database],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = pytest.raises(RegistryError, match="another mlci process holds the lock")
        with busy, advisory_lock(fresh_database, "mlci:m:promotion", timeout=0.5):
            pass
        with advisory_lock(fresh_database, "mlci:other:promotion", timeout=0.5):
            pass  # another model's lock is independent
        holder.send_signal(signal.SIGKILL)  # a runner that dies without cleaning up
        holder.wait(timeout=30)
        deadline = time.monotonic() + 30
        while True:  # the server notices the dropped connection and frees the lock
            try:
                with advisory_lock(fresh_database, "mlci:m:promotion", timeout=1):
                    break
            except RegistryError:
                if time.monotonic() > deadline:
                    raise
    finally:
        holder.kill()
        holder.wait()


def test_an_unreachable_database_is_a_clear_error_without_a_traceback(tiny_dir):
    config_file = tiny_dir.root / "pyproject.toml"
    config_file.write_text(config_file.read_text().replace(
        'model = "tiny"',
        'model = "tiny"\ndatabase = "postgresql://mlci:secret@127.0.0.1:9/mlci"'))  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "mlci_local", "audit", "verify"],
                          cwd=tiny_dir.root, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 3
    assert "database postgresql://mlci:***@127.0.0.1:9/mlci: cannot connect" in done.stderr
    assert "secret" not in done.stderr and "Traceback" not in done.stderr


def test_a_database_url_that_is_not_postgresql_names_the_key(tiny_dir):
    from pytest_mlci.config import load_config
    from pytest_mlci.errors import ConfigError

    config_file = tiny_dir.root / "pyproject.toml"
    config_file.write_text(config_file.read_text().replace(
        'model = "tiny"', 'model = "tiny"\ndatabase = "mysql://db/mlci"'))  # fmt: skip
    with pytest.raises(ConfigError, match="database") as caught:
        load_config(config_file)
    assert "postgresql://" in str(caught.value)


def test_checkpoint_tags_round_trip_through_the_database_ledger(ledger):
    record = ledger.append("promote", {"model": "m", "version": "1"})
    tag = record.checkpoint.to_tag()
    assert Checkpoint.from_tag(tag) == ledger.checkpoint()


def test_an_evidence_package_from_the_server_backend_verifies(
    tiny_dir, team_stack, fresh_database, tmp_path
):
    import json
    import uuid
    import zipfile

    from mlci_local.evidence import build_evidence, verify_package, write_evidence
    from mlci_local.promotion import ledger_for, promote
    from mlci_local.registry import Registry
    from pytest_mlci.config import load_config
    from pytest_mlci.model_io import sha256_file

    tiny_dir.model = f"evidence-{uuid.uuid4().hex[:8]}"
    tiny_dir.extra += f'registry = "{team_stack.mlflow}"\ndatabase = "{fresh_database}"\n'
    tiny_dir.write_config()
    config = load_config(tiny_dir.root / "pyproject.toml")
    registry, ledger = Registry(config), ledger_for(config)
    assert isinstance(ledger, PostgresLedger)
    digest = sha256_file(config.artifact)
    version = registry.register(config.artifact, digest, tags={}).version.version
    for action in ("evaluation", "staging"):
        ledger.append(action, {"model": config.model, "digest": digest, "passed": True})
    promote(config, registry, ledger, version)
    out = tmp_path / "evidence.zip"
    write_evidence(build_evidence(config, config.model, version), out)
    assert verify_package(out).ok
    with zipfile.ZipFile(out) as package:
        verification = json.loads(package.read("ledger_verification.json"))
        history = json.loads(package.read("deployment_history.json"))
    assert verification["ok"] and verification["ledger"].endswith("#mlci.ledger")
    assert [r["action"] for r in history][-1] == "promote"


FIND_RECORDS = [
    ("register", {"model": "m", "digest": "d1", "version": "1"}),
    ("evaluation", {"model": "m", "digest": "d1", "passed": True}),
    ("register", {"model": 'modèle "q"', "digest": "d1", "version": "1"}),
    ("approve", {"model": "m", "digest": "d1", "approver": "ana"}),
    ("register", {"model": "other", "note": "m", "extra": {"model": "m"}}),
    ("canary.step", {"model": "m", "version": "1", "step": 1, "weight": 0.25}),
    ("canary", {"model": "m", "version": "1", "passed": False, "step": 1}),
    ("promote", {"model": "m", "version": "1", "digest": "d1"}),
    ("evaluation", {"model": "m", "digest": "d2", "passed": False}),
    ("promote", {"model": 'modèle "q"', "version": "1"}),
    ("rollback", {"model": "m", "version": "1"}),
]
FIND_QUERIES = [
    ((), {}),
    (("register",), {}),
    (("register",), {"model": "m"}),
    (("register",), {"model": 'modèle "q"'}),
    (("evaluation",), {"model": "m", "digest": "d1"}),
    (("evaluation",), {"model": "m", "passed": False}),
    (("promote", "rollback"), {"model": "m"}),
    (("canary.step", "canary", "approve"), {"model": "m"}),
    (("canary.step",), {"model": "m", "step": 1}),
    ((), {"model": "m", "version": "1"}),
    (("register",), {"note": "m"}),
    (("missing",), {"model": "m"}),
    (("approve",), {"model": "m", "approver": "bob"}),
]


@pytest.mark.parametrize("backend", ["file", "postgres"])
def test_find_narrows_in_the_backend_and_answers_like_a_full_scan(backend, tmp_path, request):
    """The file ledger skips lines by their bytes, PostgreSQL filters in SQL by an index:
    both must return exactly what filtering every parsed record returns, in chain order,
    including values under other keys, nested values, non-ASCII text and non-string filters."""
    if backend == "file":
        ledger = Ledger(tmp_path / "ledger.jsonl")
    else:
        ledger = PostgresLedger(request.getfixturevalue("fresh_database"))
    for action, data in FIND_RECORDS:
        ledger.append(action, data)
    everything = list(ledger.records())
    for actions, filters in FIND_QUERIES:
        expected = [
            r.seq
            for r in everything
            if (not actions or r.action in actions)
            and all(k in r.data and r.data[k] == v for k, v in filters.items())
        ]
        query = actions if len(actions) != 1 else actions[0]
        found = [r.seq for r in ledger.find(query or None, **filters)]
        assert found == expected, (actions, filters)
    assert [r.seq for r in ledger.find("register", model="m")] == [0]
    assert [r.seq for r in ledger.find(("promote", "rollback"), model="m")] == [7, 10]


def test_a_ledger_from_before_the_index_gets_it_on_first_use(fresh_database):
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        PostgresLedger(fresh_database).append("register", {"model": "m"})
        conn.execute("DROP INDEX mlci.ledger_model_action")
    import mlci_local.postgres as pg

    pg._ready.discard(fresh_database)  # a new process: the schema is checked again
    opened = PostgresLedger(fresh_database)
    assert [r.data for r in opened.find("register", model="m")] == [{"model": "m"}]
    with psycopg.connect(fresh_database) as conn:
        found = conn.execute("SELECT to_regclass('mlci.ledger_model_action')").fetchone()[0]
    assert found is not None
    assert opened.verify().ok
    opened.close()


def test_a_runner_that_may_not_create_the_index_still_reads_and_writes(fresh_database):
    """An administrator set the ledger up (with an older release: no index) and runners may
    only read and append: they work without the index instead of failing."""
    import uuid

    import mlci_local.postgres as pg

    owner = PostgresLedger(fresh_database)
    owner.append("register", {"model": "m", "digest": "d"})
    owner.close()
    role = f"runner_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("DROP INDEX mlci.ledger_model_action")
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA mlci TO {role}")
        conn.execute(f"GRANT SELECT, INSERT ON mlci.ledger TO {role}")
    runner_dsn = fresh_database.replace("mlci@", f"{role}@", 1)
    assert runner_dsn != fresh_database
    pg._ready.discard(runner_dsn)
    runner = PostgresLedger(runner_dsn)
    try:
        runner.append("evaluation", {"model": "m", "digest": "d", "passed": True})
        assert [r.action for r in runner.find(("register", "evaluation"), model="m")] == [
            "register",
            "evaluation",
        ]
        assert runner.verify().ok
    finally:
        runner.close()
        with psycopg.connect(fresh_database, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("SELECT to_regclass('mlci.ledger_model_action')").fetchone()[0] is None
