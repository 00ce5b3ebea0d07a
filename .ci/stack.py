"""Start and stop the team server stack on loopback: PostgreSQL, an S3 endpoint, MLflow.

This is what a team runs on real machines (docs/team.md), in miniature: an
``mlflow server`` whose backend store is PostgreSQL and whose artifacts live in an
S3-compatible bucket it serves to clients, plus the PostgreSQL database that holds mlci's
audit ledger and promotion locks. CI (``.ci/run``) and the test suite use it to run the
registry, promotion, ledger and concurrency tests against real servers.

    python .ci/stack.py start DIR    # prints shell exports; writes DIR/env and DIR/pids
    python .ci/stack.py stop DIR     # stops every process it started, by PID, newest first

PostgreSQL's ``initdb`` refuses to run as root, so as root the cluster is created and run as
the ``postgres`` user (``runuser``), in a directory of its own. Nothing listens beyond
127.0.0.1. Standard library only, so it runs before and outside any virtualenv choice; the
``mlflow`` and ``moto_server`` programs come from the interpreter's own environment.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BUCKET = "mlci-artifacts"
READY_TIMEOUT_S = 180.0
S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(what: str, ready, deadline_s: float, log: Path | None = None) -> None:
    """Poll ``ready()`` until it is true; a bounded wait that names the log on failure."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.2)
    tail = ""
    if log is not None and log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise SystemExit(f"stack: {what} did not become ready in {deadline_s:.0f} s\n{tail}")


def pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        raise SystemExit(
            f"stack: PostgreSQL's {name} was not found; install it with "
            "`apt-get install -y postgresql`"
        )
    return found


def as_postgres(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a PostgreSQL server program; as root, as the ``postgres`` user."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


def start_postgres(state: Path, pids: dict[str, int]) -> dict[str, str]:
    # The data directory lives in /tmp so the postgres user can reach it from anywhere.
    data = Path(tempfile.mkdtemp(prefix="mlci-pg-"))
    (state / "pgdata").write_text(str(data))
    os.chmod(data, 0o700)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    as_postgres([pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "mlci",
                 "--no-sync", "-E", "UTF8"])  # fmt: skip
    port = free_port()
    log = data / "server.log"
    options = (f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c max_connections=200 "
               "-c fsync=on")  # fmt: skip
    as_postgres([pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w",
                 "-t", "60", "start"])  # fmt: skip
    pids["postgres"] = int((data / "postmaster.pid").read_text().splitlines()[0])
    dsn = f"postgresql://mlci@127.0.0.1:{port}"
    psql = pg_bin("psql")
    subprocess.run([psql, f"{dsn}/postgres", "-q", "-c", "CREATE DATABASE mlflow"],
                   check=True)  # fmt: skip
    subprocess.run([psql, f"{dsn}/postgres", "-q", "-c", "CREATE DATABASE mlci"],
                   check=True)  # fmt: skip
    return {"MLCI_TEST_POSTGRES": dsn, "MLCI_DATABASE_EXAMPLE": f"{dsn}/mlci"}


def start_s3(state: Path, pids: dict[str, int]) -> str:
    port = free_port()
    log = state / "s3.log"
    program = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen([str(program), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=log.open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    pids["s3"] = process.pid
    endpoint = f"http://127.0.0.1:{port}"
    wait_for("the S3 endpoint", lambda: _http_ok(endpoint + "/moto-api/"), 60, log)
    # Create the bucket with a plain S3 PUT (moto accepts unsigned requests).
    request = urllib.request.Request(f"{endpoint}/{BUCKET}", method="PUT")
    urllib.request.urlopen(request, timeout=10).close()
    return endpoint


# gunicorn's threaded workers, not the default uvicorn: on a kept-alive connection every
# uvicorn response waited ~40 ms for the client's delayed ACK (1 ms here with gunicorn;
# benchmarks/README.md, "Team scale").
GUNICORN_OPTS = "--threads 4 --timeout 120"


def start_mlflow(
    state: Path, pids: dict[str, int], postgres: str, s3: str, port: int | None = None
) -> str:
    """``mlflow server`` on loopback (``port``: a free one), PostgreSQL store, S3 artifacts."""
    port = port or free_port()
    log = state / f"mlflow-{port}.log"
    program = Path(sys.executable).with_name("mlflow")
    env = {**os.environ, **S3_KEYS, "MLFLOW_S3_ENDPOINT_URL": s3}
    process = subprocess.Popen(
        [str(program), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"{postgres.replace('postgresql:', 'postgresql+psycopg:')}/mlflow",
         "--artifacts-destination", f"s3://{BUCKET}/artifacts", "--workers", "2",
         "--gunicorn-opts", GUNICORN_OPTS],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    pids["mlflow"] = process.pid
    uri = f"http://127.0.0.1:{port}"
    wait_for("mlflow server", lambda: _http_ok(uri + "/health"), READY_TIMEOUT_S, log)
    return uri


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except Exception:
        return False


def start(state: Path) -> dict[str, str]:
    state.mkdir(parents=True, exist_ok=True)
    pids: dict[str, int] = {}
    try:
        env = start_postgres(state, pids)
        s3 = start_s3(state, pids)
        env["MLCI_TEST_S3"] = s3
        env["MLCI_TEST_MLFLOW"] = start_mlflow(state, pids, env["MLCI_TEST_POSTGRES"], s3)
    except BaseException:
        _write(state, pids, {})
        stop(state)
        raise
    env["MLCI_TEST_STACK"] = str(state)
    _write(state, pids, env)
    return env


def _write(state: Path, pids: dict[str, int], env: dict[str, str]) -> None:
    (state / "pids").write_text(json.dumps(pids))
    (state / "env").write_text("".join(f"export {k}={v}\n" for k, v in env.items()))


def stop(state: Path) -> None:
    """Stop what ``start`` started, newest first, by PID; remove the database files."""
    pids_file = state / "pids"
    pids = json.loads(pids_file.read_text()) if pids_file.exists() else {}
    for name in ("mlflow", "s3", "postgres"):
        pid = pids.get(name)
        if pid is None:
            continue
        # mlflow and moto lead process groups of their own (workers included); postgres'
        # postmaster shuts its children down itself on SIGINT ("fast" shutdown).
        try:
            if name == "postgres":
                os.kill(pid, signal.SIGINT)
            else:
                os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        _wait_gone(pid, name)
    pgdata = state / "pgdata"
    if pgdata.exists():
        shutil.rmtree(pgdata.read_text().strip(), ignore_errors=True)
        pgdata.unlink()
    pids_file.unlink(missing_ok=True)


def _wait_gone(pid: int, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL) if name != "postgres" else os.kill(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__.strip().splitlines()[0] + "\nusage: stack.py start|stop DIR",
              file=sys.stderr)  # fmt: skip
        return 2
    state = Path(argv[1]).resolve()
    if argv[0] == "start":
        for key, value in start(state).items():
            print(f"export {key}={value}")
    else:
        stop(state)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
