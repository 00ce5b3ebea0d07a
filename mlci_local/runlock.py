"""One run per model at a time: the lock ``mlci run``, ``mlci canary`` and ``mlci stage`` hold.

Two runs for the same model at once both register, stage and canary the same version, and
the loser reports on a rollout the winner already finished. So each command that drives a
model towards production holds this lock for its whole length. A second one refuses at once
(exit 1) naming who holds it: command, pid, host and since when; with ``--wait SECONDS`` it
waits that long for the holder to finish first.

The lock itself is one the operating system or the database releases when its holder dies,
so a killed run never blocks the next one:

* embedded default: ``flock`` on ``.mlci/locks/<model>.run.lock`` (``pytest_mlci.filelock``),
  with the holder described in ``.mlci/locks/<model>.run.json``. That record is only
  informative: a record left by a dead process is overwritten by the next holder and never
  blocks anything.
* team scale (``database`` set): a PostgreSQL session advisory lock ``mlci:<model>:run``,
  the mechanism of the promotion lock (``mlci_local.locks``), shared by every CI runner. The
  holder describes itself in its session's ``application_name``, so the record lives and dies
  with the session and a waiter reads it from ``pg_stat_activity``.

``mlci promote``, ``rollback`` and ``approve`` do not take it: each is one short move under
the promotion lock, and a rollback must work even while a run is stuck.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import CheckFailed, ConfigError, MlciError

POLL_S = 0.5  # the database is asked this often while waiting


class RunLocked(CheckFailed):
    """Another run for the same model holds the run lock (exit 1): nothing was done."""


class _Busy(MlciError):
    """The file lock was not free in time (internal: becomes :class:`RunLocked`)."""


def holder_record(command: str) -> dict[str, Any]:
    """What this process says about itself while it holds the lock."""
    return {
        "command": command,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@contextmanager
def run_lock(config: MlciConfig, command: str, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the run lock of ``config.model`` for the ``with`` block.

    ``wait`` is how long to wait for a holder to finish (0: refuse at once). Past it,
    :class:`RunLocked` says who holds the lock and how to wait for it.
    """
    if wait < 0:
        raise ConfigError(f"--wait must be 0 or more seconds, not {wait:g}")
    if config.database:
        with _database_lock(config, command, wait):
            yield
    else:
        with _file_lock(config, command, wait):
            yield


def _refusal(config: MlciConfig, command: str, holder: str, wait: float) -> RunLocked:
    waited = f" (waited {wait:g} s)" if wait else ""
    return RunLocked(
        f"another run for model '{config.model}' is in progress{waited}: {holder}. "
        f"Nothing was done; run `{command}` again when it has finished, or add "
        "`--wait SECONDS` to wait for it"
    )


# ------------------------------------------------------------------ embedded: a file


def lock_paths(config: MlciConfig) -> tuple[Path, Path]:
    """The lock file and the holder record of the embedded run lock."""
    base = config.state_dir / "locks" / f"{config.model}.run"
    return base.with_suffix(".lock"), base.with_suffix(".json")


@contextmanager
def _file_lock(config: MlciConfig, command: str, wait: float) -> Iterator[None]:
    from pytest_mlci.fileio import write_atomically
    from pytest_mlci.filelock import exclusive_lock

    lock, record = lock_paths(config)
    try:
        with exclusive_lock(lock, timeout=wait, what="run lock", error=_Busy):
            mine = holder_record(command)
            write_atomically(record, json.dumps(mine))
            try:
                yield
            finally:
                with suppress(OSError, ValueError):  # leave a newer holder's record alone
                    if json.loads(record.read_text(encoding="utf-8")) == mine:
                        record.unlink()
    except _Busy:
        raise _refusal(config, command, describe_record(record), wait) from None


def describe_record(record: Path) -> str:
    """The holder as a user reads it, from the record the holder wrote."""
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        pid, host, since = int(data["pid"]), str(data["host"]), str(data["since"])
        what = str(data.get("command") or "mlci")
    except (OSError, ValueError, KeyError, TypeError):
        return f"its holder has not described itself yet (see {record})"
    if host == socket.gethostname() and not _alive(pid):
        # The lock is held, yet the record names a dead process: the new holder is between
        # taking the lock and writing its record.
        return f"a process that has not described itself yet (the record in {record} is stale)"
    return f"`{what}` pid {pid} on {host} since {since}{_ago(since)}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _ago(since: str) -> str:
    try:
        started = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return ""
    seconds = max(0, int((datetime.now(timezone.utc) - started).total_seconds()))
    return (
        f" ({seconds // 60} min {seconds % 60} s ago)" if seconds >= 60 else f" ({seconds} s ago)"
    )


# ------------------------------------------------------------------ team scale: PostgreSQL


def lock_name(config: MlciConfig) -> str:
    """The advisory lock's name; the promotion lock is ``mlci:<model>:promotion``."""
    return f"mlci:{config.model}:run"


_HOLDER_SQL = """
SELECT a.application_name, coalesce(a.query_start, a.backend_start)
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(%s, 0)
"""


@contextmanager
def _database_lock(config: MlciConfig, command: str, wait: float) -> Iterator[None]:
    from mlci_local.postgres import connect

    assert config.database is not None
    name = lock_name(config)
    conn = connect(config.database)
    try:
        # Named before the lock is taken: a contender that finds the lock held must also find
        # who holds it (set afterwards, a busy machine let one read an unnamed session). The
        # successful try is then the session's last query, so its start time is "since".
        mine = holder_record(command)
        label = f"{command} pid {mine['pid']} on {mine['host']}"[:63]  # NAMEDATALEN - 1
        conn.execute("SELECT set_config('application_name', %s, false)", (label,))
        deadline = time.monotonic() + wait
        while not conn.execute(
            "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (name,)
        ).fetchone()[0]:
            if time.monotonic() >= deadline:
                raise _refusal(config, command, _database_holder(conn, name), wait)
            time.sleep(POLL_S)
        yield
    finally:
        conn.close()  # ends the session, which releases the lock


def _database_holder(conn: Any, name: str) -> str:
    row = conn.execute(_HOLDER_SQL, (name,)).fetchone()
    if row is None:  # released between the two queries, or not visible to this role
        return "a session that has since ended or that this database role cannot see"
    label, since = row
    when = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if since else "?"
    command, pid, host = (label or "").partition(" pid ")[0], *_pid_host(label or "")
    who = f"`{command}` pid {pid} on {host}" if pid else f"`{label or 'a session'}`"
    return f"{who} since {when}{_ago(when)}"


def _pid_host(label: str) -> tuple[str, str]:
    """Pid and host from an ``application_name`` this module set ("" when it did not)."""
    _, _, rest = label.partition(" pid ")
    pid, _, host = rest.partition(" on ")
    return (pid, host) if pid.isdigit() else ("", "")
