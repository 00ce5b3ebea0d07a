"""Round trips on a kept-alive HTTP connection: where a 40 ms stall per request comes from.

asyncio turns Nagle's algorithm off (``TCP_NODELAY``) only on connections accepted from a
listening socket whose protocol is ``IPPROTO_TCP``; ``socket.socket()`` leaves it 0. uvicorn
serving on such a socket answers each request on a kept-alive connection only after the
client's delayed ACK (~40 ms on Linux). Measured here:

* a Starlette ``/health`` under uvicorn on a bare ``socket.socket()`` (what the in-process
  router used, and what uvicorn binds itself for ``--workers N``, as MLflow runs it);
* the same app on ``mlci_local.rollout.traffic.listening_socket()`` (``IPPROTO_TCP``);
* any ``--url`` given, e.g. a running ``mlflow server`` (``http://127.0.0.1:5000``): its
  ``/health`` on one kept-alive connection and on a new connection per request.

Run: .venv/bin/python benchmarks/bench_keepalive.py [--requests 50] [--url URL ...]
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import threading
import time
from urllib.parse import urlparse

from mlci_local.rollout.traffic import listening_socket


def serve(listening: socket.socket) -> int:
    """Serve a one-route Starlette app under uvicorn on ``listening`` in a daemon thread."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def health(request):
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/health", health)])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("uvicorn did not start within 30 s")
        time.sleep(0.01)
    return listening.getsockname()[1]


def median_ms(host: str, port: int, count: int, *, keep_alive: bool) -> float:
    """Median milliseconds of GET /health, on one connection or a new one per request."""
    runs = []
    connection = http.client.HTTPConnection(host, port, timeout=10)
    for _ in range(count + 3):
        if not keep_alive:
            connection = http.client.HTTPConnection(host, port, timeout=10)
        started = time.perf_counter()
        connection.request("GET", "/health")
        reply = connection.getresponse()
        reply.read()
        runs.append(1000 * (time.perf_counter() - started))
        if not keep_alive:
            connection.close()
    connection.close()
    return statistics.median(runs[3:])  # the first requests open connections, warm caches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--url", action="append", default=[], help="another server to time")
    args = parser.parse_args()

    bare = socket.socket()
    bare.bind(("127.0.0.1", 0))
    bare.listen(64)
    rows = [
        ("uvicorn on socket.socket() (protocol 0)", "127.0.0.1", serve(bare)),
        ("uvicorn on listening_socket() (IPPROTO_TCP)", "127.0.0.1", serve(listening_socket())),
    ]
    for url in args.url:
        parsed = urlparse(url)
        rows.append((url, parsed.hostname or "127.0.0.1", parsed.port or 80))
    print("| server | kept alive (ms) | new connection (ms) |")
    print("|---|---:|---:|")
    for label, host, port in rows:
        kept = median_ms(host, port, args.requests, keep_alive=True)
        fresh = median_ms(host, port, args.requests, keep_alive=False)
        print(f"| {label} | {kept:.2f} | {fresh:.2f} |")


if __name__ == "__main__":
    main()
