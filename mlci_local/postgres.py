"""Team scale: the audit ledger and the promotion locks in PostgreSQL.

When many CI runners share one ``mlflow server``, a ledger file and ``flock`` on one runner's
disk protect nothing: the runners are different machines. With ``database`` configured
(``[tool.mlci] database`` or ``$MLCI_DATABASE``, a ``postgresql://`` URL), both move into
PostgreSQL, in a schema of their own (``mlci``):

* **the ledger** is the table ``mlci.ledger``: one row per record, holding the record's
  canonical JSON line exactly as the file ledger would write it, so the hash chain, its
  verification and the evidence package are the same code for both. An append takes a
  transaction-scoped advisory lock, reads the head and inserts the next record in one
  transaction: the chain cannot fork (``seq`` is the primary key as well) and a record is
  durable when the commit returns. A trigger refuses ``UPDATE``, ``DELETE`` and ``TRUNCATE``,
  so rewriting history takes a deliberate act by a database owner, which the chain and the
  registry checkpoints then expose.
* **the locks** are session-level advisory locks keyed by name (``mlci:<model>:promote``).
  PostgreSQL releases them when the holder's connection ends, so a runner that dies never
  leaves a stale lock; a bounded ``lock_timeout`` turns a long wait into a clear error.

psycopg (3) is imported only here, and only when a database is configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlci_local.ledger import (
    LedgerBase,
    LedgerCorruptError,
    LedgerRecord,
    LedgerWriteError,
    checked_data,
    current_actor,
    next_record,
)
from pytest_mlci.connection_errors import driver_error, missing_driver
from pytest_mlci.errors import RegistryError
from pytest_mlci.redact import redact_text, redact_uri

SCHEMA = "mlci"
CONNECT_TIMEOUT_S = 10
_SETUP_KEY = "mlci:schema"
_LEDGER_KEY = "mlci:ledger"
_ready: set[str] = set()  # DSNs whose schema this process has already checked

# What the promotion path asks of the ledger is "this model's records of these actions":
# an expression index over the stored line answers it without reading every row.
_FIND_INDEX = "ledger_model_action"
_ACTION_SQL = "((line::jsonb) ->> 'action')"
_MODEL_SQL = "((line::jsonb) -> 'data' ->> 'model')"

_SETUP_SQL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.ledger (
    seq bigint PRIMARY KEY CHECK (seq >= 0),
    hash text NOT NULL UNIQUE,
    line text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE OR REPLACE FUNCTION {SCHEMA}.ledger_is_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'mlci.ledger is append-only: % is not allowed', TG_OP;
END $$;
CREATE OR REPLACE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON {SCHEMA}.ledger
    FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.ledger_is_append_only();
CREATE OR REPLACE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON {SCHEMA}.ledger
    FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.ledger_is_append_only();
"""
_INDEX_SQL = f"""
CREATE INDEX IF NOT EXISTS {_FIND_INDEX} ON {SCHEMA}.ledger
    ({_MODEL_SQL}, {_ACTION_SQL}, seq);
"""


def _driver(dsn: str) -> Any:
    """psycopg, or the one line that says which extra installs it."""
    try:
        import psycopg
    except ImportError as exc:
        raise driver_error("database", dsn, missing_driver(exc) or "psycopg") from None
    return psycopg


def connect(dsn: str, *, autocommit: bool = True) -> Any:
    """A connection, or a :class:`RegistryError` naming the database and what to check."""
    psycopg = _driver(dsn)
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RegistryError(
            f"database {redact_uri(dsn)}: cannot connect ({redact_text(reason)}); check that "
            "PostgreSQL is running and that `database` / $MLCI_DATABASE is right"
        ) from None


def ensure_schema(conn: Any, dsn: str) -> None:
    """Create the schema, table, triggers and index once; concurrent runners take turns.

    The index only speeds up :meth:`PostgresLedger.find`. A ledger created by an older
    release gets it on first use; a runner whose database user may not create it (the
    ledger set up by an administrator) works without it rather than failing.
    """
    import psycopg

    if dsn in _ready:
        return
    exists = "SELECT to_regclass(%s) IS NOT NULL"
    if not conn.execute(exists, (f"{SCHEMA}.ledger",)).fetchone()[0]:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_SETUP_KEY,))
            conn.execute(_SETUP_SQL)
    if not conn.execute(exists, (f"{SCHEMA}.{_FIND_INDEX}",)).fetchone()[0]:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_SETUP_KEY,))
                conn.execute(_INDEX_SQL)
        except psycopg.errors.InsufficientPrivilege:
            pass  # slower reads, same answers: find filters in SQL with or without it
    _ready.add(dsn)


class PostgresLedger(LedgerBase):
    """The audit ledger as rows of ``mlci.ledger``; same records, same chain as the file."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.location = f"{redact_uri(dsn)}#{SCHEMA}.ledger"
        self._conn: Any = None

    def __repr__(self) -> str:
        return f"PostgresLedger({self.location!r})"

    @property
    def conn(self) -> Any:
        if self._conn is None or self._conn.closed:
            conn = connect(self.dsn)
            try:
                ensure_schema(conn, self.dsn)
            except Exception as exc:
                conn.close()
                raise RegistryError(
                    f"database {redact_uri(self.dsn)}: cannot set up schema {SCHEMA}: "
                    + redact_text(str(exc))
                ) from None
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- writing ---------------------------------------------------------------------------

    def append(
        self, action: str, data: dict[str, Any] | None = None, *, actor: str | None = None
    ) -> LedgerRecord:
        """Write one record; it is durable (committed) when this returns."""
        psycopg = _driver(self.dsn)

        data = checked_data(action, data)
        who = actor if actor is not None else current_actor(Path.cwd())
        conn = self.conn
        try:
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_LEDGER_KEY,)
                )
                row = conn.execute(
                    f"SELECT seq, line FROM {SCHEMA}.ledger ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                last = None if row is None else self._parse(row[0], row[1], LedgerWriteError)
                record = next_record(last, action=action, actor=who, data=data)
                conn.execute(
                    f"INSERT INTO {SCHEMA}.ledger (seq, hash, line) VALUES (%s, %s, %s)",
                    (record.seq, record.hash, record.to_json()),
                )
        except psycopg.Error as exc:
            self.close()
            raise LedgerWriteError(
                f"{self.location}: audit record {action!r} was not written ({exc}); "
                "the action must not be reported done"
            ) from None
        return record

    # -- reading ---------------------------------------------------------------------------

    def _rows(self, query: str, params: tuple[Any, ...] = ()) -> Iterator[tuple[int, str]]:
        psycopg = _driver(self.dsn)

        try:
            rows = self.conn.execute(query, params or None).fetchall()
        except psycopg.Error as exc:
            self.close()
            raise RegistryError(f"{self.location}: cannot read the ledger: {exc}") from None
        yield from rows

    def _parse(self, seq: int, line: str, error: type = LedgerCorruptError) -> LedgerRecord:
        try:
            return LedgerRecord.from_json(line)
        except ValueError as exc:
            raise error(
                f"{self.location}: row seq {seq} is not a ledger record ({exc}); "
                "run `mlci audit verify` to see what is wrong with the ledger"
            ) from None

    def _candidates(
        self, actions: tuple[str, ...], data_filters: dict[str, Any]
    ) -> Iterator[LedgerRecord]:
        """Filter in the database: the model and actions by the index, other string values
        by JSON containment; :meth:`find` re-applies the exact test to what comes back."""
        import json

        clauses, params = [], []
        if actions:
            clauses.append(f"{_ACTION_SQL} = ANY(%s)")
            params.append(list(actions))
        strings = {k: v for k, v in data_filters.items() if isinstance(v, str)}
        if "model" in strings:
            clauses.append(f"{_MODEL_SQL} = %s")
            params.append(strings.pop("model"))
        if strings:
            clauses.append("((line::jsonb) -> 'data') @> %s::jsonb")
            params.append(json.dumps(strings))
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        query = f"SELECT seq, line FROM {SCHEMA}.ledger {where}ORDER BY seq"
        for seq, line in self._rows(query, tuple(params)):
            yield self._parse(seq, line)

    def raw_lines(self) -> Iterator[bytes]:
        for _, line in self._rows(f"SELECT seq, line FROM {SCHEMA}.ledger ORDER BY seq"):
            yield line.encode("utf-8") + b"\n"

    def records(self) -> Iterator[LedgerRecord]:
        for seq, line in self._rows(f"SELECT seq, line FROM {SCHEMA}.ledger ORDER BY seq"):
            yield self._parse(seq, line)

    def head(self) -> LedgerRecord | None:
        for seq, line in self._rows(
            f"SELECT seq, line FROM {SCHEMA}.ledger ORDER BY seq DESC LIMIT 1"
        ):
            return self._parse(seq, line)
        return None

    def exists(self) -> bool:
        return any(True for _ in self._rows(f"SELECT seq, '' FROM {SCHEMA}.ledger LIMIT 1"))


@contextmanager
def advisory_lock(dsn: str, name: str, *, timeout: float = 60.0) -> Iterator[None]:
    """Hold the session-level advisory lock ``name`` for the ``with`` block.

    The lock lives as long as this connection: if the process dies, PostgreSQL drops the
    connection and the lock with it. Waiting longer than ``timeout`` is a clear error.
    """
    psycopg = _driver(dsn)
    conn = connect(dsn)
    try:
        conn.execute(f"SET lock_timeout = '{int(timeout * 1000)}ms'")
        try:
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (name,))
        except psycopg.errors.LockNotAvailable:
            raise RegistryError(
                f"database {redact_uri(dsn)}: another mlci process holds the lock {name!r} for "
                f"over {timeout:.0f} s; retry when it has finished"
            ) from None
        except psycopg.Error as exc:
            raise RegistryError(
                f"database {redact_uri(dsn)}: cannot take lock {name!r}: {redact_text(str(exc))}"
            ) from None
        yield
    finally:
        conn.close()  # ends the session, which releases its advisory locks
