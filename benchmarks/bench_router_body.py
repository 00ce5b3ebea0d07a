"""The serving router's memory while it refuses a request body far over its limit.

Issue 12 found ``mlci serve`` reading a 62 MB body whole (RSS 514 MB). The router now answers
413 above ``[tool.mlci.serve] max_body_mb`` (default 5) from ``Content-Length`` before reading
the body, and stops a chunked body at the first chunk past the limit. This script starts the
router exactly as ``benchmarks/bench_router.py`` does (uvicorn in a child process on
127.0.0.1, ``run_server``, the models injected), sends a ``--mb`` MiB ``dataframe_records``
body once with ``Content-Length`` and once chunked, and prints the child's resident memory
(``VmRSS``) and its peak (``VmHWM``) from ``/proc`` after each, then checks ``/health``.

Run: ``.venv/bin/python benchmarks/bench_router_body.py [--mb 62]`` (Linux; about 15 s).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_router as bench  # the same set-up as the latency benchmark


def memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return tuple(int(fields[key].split()[0]) // 1024 for key in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def send(port: int, body: bytes, *, chunked: bool) -> tuple[int | str, str]:
    """POST ``body`` to /invocations; the status and the start of the answer."""
    connection = http.client.HTTPConnection(bench.HOST, port, timeout=120)
    headers = {"Content-Type": "application/json"}

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 1 << 16):
            yield body[start : start + (1 << 16)]

    try:
        if chunked:
            connection.request("POST", "/invocations", pieces(), headers, encode_chunked=True)
        else:
            connection.request("POST", "/invocations", body, headers)
        reply = connection.getresponse()
        return reply.status, reply.read()[:160].decode(errors="replace")
    except OSError as exc:
        return "connection error", repr(exc)
    finally:
        connection.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=62.0, help="body size in MiB")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-router-body-") as tmp:
        bench.train_models(Path(tmp))
        port = bench.free_port()
        root = str(Path(__file__).resolve().parents[1])
        paths = [root, os.environ.get("PYTHONPATH")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
        command = [sys.executable, bench.__file__, "--serve", tmp, str(port), "none", "0"]
        child = subprocess.Popen(command, env=env)
        try:
            bench.wait_healthy(port, child)
            rss, peak = memory(child.pid)
            print(f"router idle: RSS {rss} MiB, peak {peak} MiB")
            row = json.dumps(dict(zip(bench.COLUMNS, bench.ROW, strict=True)))
            count = int(args.mb * 2**20) // (len(row) + 1)
            body = ('{"dataframe_records": [' + ",".join([row] * count) + "]}").encode()
            print(f"body: {len(body) / 2**20:.1f} MiB, {count:,} rows")
            failed = False
            for chunked in (False, True):
                started = time.monotonic()
                status, answer = send(port, body, chunked=chunked)
                rss, peak = memory(child.pid)
                how = "chunked" if chunked else "Content-Length"
                print(f"{how}: HTTP {status} in {time.monotonic() - started:.2f} s; "
                      f"RSS {rss} MiB, peak {peak} MiB; {answer[:100]}")  # fmt: skip
                failed |= status != 413
            connection = http.client.HTTPConnection(bench.HOST, port, timeout=10)
            connection.request("GET", "/health")
            healthy = connection.getresponse().status
            print(f"/health afterwards: HTTP {healthy}")
            failed |= healthy != 200
        finally:
            child.terminate()
            child.wait(10)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
