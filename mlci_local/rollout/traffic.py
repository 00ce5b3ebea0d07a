"""The canary ``mlci run`` runs itself: the local router on loopback, fed bounded synthetic traffic.

Stage 7 of ``mlci run`` needs traffic to judge, and a laptop or a CI runner has none. So it
starts the real router (:mod:`mlci_local.rollout.router`, the app ``mlci serve`` runs) under
uvicorn on ``127.0.0.1`` at a port the kernel picks, and sends it real HTTP requests in
MLflow's ``/invocations`` format: one row per request, sampled from the evaluation dataset,
each with a request id and a user key for the sticky split. The dataset's target values go
to ``/feedback`` as delayed labels, ``label_lag`` batches after their requests. The
controller judges what the router logged (:class:`~mlci_local.rollout.live.LogSource`), the
same path a live canary takes; only the traffic is synthetic.

Everything is bounded: at most ``max_requests_per_step`` requests per step in batches of
``batch``, the server's start-up and every request under a timeout, and the server is stopped
(then forced) when the canary ends, however it ends.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import CheckFailed

START_TIMEOUT_S = 60.0  # loading both models from the registry happens before this starts
REQUEST_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
USERS = 50_000  # distinct request keys; the sticky split assigns each to one arm


class LocalRouter:
    """The router under uvicorn on loopback for the length of a ``with``.

    By default the server is a child process (``python -m mlci_local.rollout.traffic``) that
    loads the models from the registry like ``mlci serve``: the traffic generator and the
    server then run on separate cores instead of taking turns on one GIL, which doubled
    throughput and halved the model latency the judge compares. An injected ``app`` (tests)
    runs in a thread instead.

    The listening socket is bound here before the server starts and handed to it, so a
    request sent at once waits in the kernel's backlog instead of being refused: start-up is
    awaited by the first request (``/health``), under a timeout, with no polling. Only the
    server holds the socket, so if it dies the waiting request is reset at once.
    """

    def __init__(self, config: MlciConfig, *, app: Any = None) -> None:
        self.config = config
        self.app = app
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._process: Any = None
        self._log = Path()

    def __enter__(self) -> LocalRouter:
        import uvicorn

        self._socket = listening_socket()
        self.port = self._socket.getsockname()[1]
        if self.app is None:
            self._start_process()
            return self._await_start()
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on")
        )
        self._thread = threading.Thread(
            target=self._serve,
            name="mlci-local-router",
            daemon=True,  # a stuck server must never keep `mlci run` from exiting
        )
        self._thread.start()
        return self._await_start()

    def _start_process(self) -> None:
        import subprocess

        from mlci_local.children import spawn
        from mlci_local.rollout.state import rollout_dir
        from pytest_mlci.config import child_env

        assert self._socket is not None
        fd = self._socket.fileno()
        self._log = rollout_dir(self.config) / "local-router.log"
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with open(self._log, "wb") as log:  # a file, not a pipe nobody reads, which could fill
            # Tied to this process: it dies with a killed `mlci run` (mlci_local.children).
            self._process = spawn(
                "mlci_local.rollout.traffic",
                [str(self.config.source), str(fd)],
                cwd=self.config.root,
                pass_fds=(fd,),
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=child_env(self.config),
            )
        self._socket.close()  # the child holds it now; its death resets waiting requests
        self._socket = None

    def _await_start(self) -> LocalRouter:
        try:
            status, body = self.request("GET", "/health", timeout=START_TIMEOUT_S)
        except OSError as exc:
            why = self._child_error()
            self.__exit__(None, None, None)
            raise CheckFailed(
                f"the local router did not answer on 127.0.0.1:{self.port} within "
                f"{START_TIMEOUT_S:g} s ({type(exc).__name__}: {exc}){why}"
            ) from None
        if status != 200:
            self.__exit__(None, None, None)
            raise CheckFailed(f"the local router is not ready: {body.get('production')}")
        return self

    def _child_error(self) -> str:
        """The last line the server process wrote to stderr, if it has ended."""
        process = self._process
        if process is None or process.poll() is None:
            return ""
        lines = self._log.read_text(errors="replace").strip().splitlines()
        return f": {lines[-1]}" if lines else ""

    def _serve(self) -> None:
        """The server thread: serve until told to stop; uvicorn exits on a failed start."""
        server, listening = self._server, self._socket
        try:
            server.run(sockets=[listening])
        except SystemExit:
            pass  # uvicorn said why on its logger; the waiting request learns it failed
        finally:
            # Closing the listening socket resets connections still queued on it, so a
            # request waiting for a server that died fails at once instead of timing out.
            listening.close()

    def __exit__(self, *exc: object) -> None:
        from mlci_local.children import stop

        process, self._process = self._process, None
        if process is not None:  # uvicorn shuts down gracefully on SIGTERM; then SIGKILL
            stop(process, grace=STOP_TIMEOUT_S)
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(STOP_TIMEOUT_S)
            if self._thread.is_alive():  # connections that will not close: stop anyway
                self._server.force_exit = True
                self._thread.join(STOP_TIMEOUT_S)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    @property
    def running(self) -> bool:
        """Whether the server is still serving."""
        if self._process is not None:
            return self._process.poll() is None
        return self._thread is not None and self._thread.is_alive()

    def connection(self, timeout: float = REQUEST_TIMEOUT_S) -> http.client.HTTPConnection:
        """A new keep-alive connection to the router."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body: Any = None, *,
                timeout: float = REQUEST_TIMEOUT_S) -> tuple[int, Any]:  # fmt: skip
        """One request on a fresh connection; (status, decoded JSON body)."""
        connection = self.connection(timeout)
        try:
            return _exchange(connection, method, path, body)
        finally:
            connection.close()


def _exchange(
    connection: http.client.HTTPConnection, method: str, path: str, body: Any,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:  # fmt: skip
    payload = None if body is None else json.dumps(body, default=str)
    connection.request(
        method, path, payload, {"Content-Type": "application/json", **(headers or {})}
    )
    reply = connection.getresponse()
    data = reply.read()
    try:
        return reply.status, json.loads(data) if data else None
    except ValueError:
        return reply.status, {"raw": data[:200].decode(errors="replace")}


class SyntheticTraffic:
    """A :class:`~mlci_local.rollout.controller.TrafficSource`: bounded synthetic requests to
    the local router, observed through its logs.

    Each batch sends ``batch`` requests (rows drawn at random from ``rows``) from
    ``concurrency`` keep-alive connections, at ``rate`` requests per second when it is set;
    the labels of the batch sent ``label_lag`` batches ago go to ``/feedback``; then the
    router's logs are read and handed to the judge.
    """

    def __init__(self, router: LocalRouter, rows: list[dict[str, Any]], labels: list[Any] | None,
                 settings: Any, logs: Any, *, run_id: str) -> None:  # fmt: skip
        import numpy as np

        if not rows:
            raise CheckFailed("the canary has no rows to send: the evaluation dataset is empty")
        self.router = router
        self.rows = rows
        self.labels = labels
        self.settings = settings
        self.logs = logs
        self.run_id = run_id
        self.rng = np.random.default_rng(settings.seed)
        self.sent = 0
        self._pending: deque[list[dict[str, Any]]] = deque()  # label batches not yet posted

    exhausted = False  # whether the last batches() ran to the end of its budget

    def batches(self, weight: float) -> Iterator[tuple[Any, Any]]:
        budget = self.settings.max_requests_per_step
        used = 0
        self.exhausted = False
        while used < budget:
            size = min(self.settings.batch, budget - used)
            self._send(size)
            used += size
            yield self.logs.poll()
        self.exhausted = True

    def preview(self, count: int) -> Any:
        """Blue-green's smoke test: ``count`` requests to the loaded candidate only (the
        preview header), one connection; every answer must carry predictions."""
        from mlci_local.rollout.blue_green import Preview
        from mlci_local.rollout.router import CANDIDATE

        failures: list[str] = []
        times: list[float] = []
        connection = self.router.connection()
        try:
            for number in range(count):
                row = self.rows[number % len(self.rows)]
                started = time.perf_counter()
                status, body = _exchange(connection, "POST", "/invocations", _body(row),
                                         {"X-Request-Id": f"{self.run_id}-preview-{number}",
                                          "X-Mlci-Arm": CANDIDATE})  # fmt: skip
                times.append(1000 * (time.perf_counter() - started))
                if status != 200 or not isinstance(body, dict) or "predictions" not in body:
                    message = body.get("message") if isinstance(body, dict) else body
                    failures.append(f"HTTP {status}: {message}")
        finally:
            connection.close()
        times.sort()
        p95 = times[int(0.95 * (len(times) - 1))] if times else None
        return Preview(count, count - len(failures), tuple(failures), p95)

    def _send(self, size: int) -> None:
        picks = self.rng.integers(0, len(self.rows), size)
        users = self.rng.integers(0, USERS, size)
        labelled = self.rng.random(size) < self.settings.label_fraction
        first = self.sent
        self.sent += size
        jobs = [(first + i, int(picks[i]), int(users[i])) for i in range(size)]
        workers = min(self.settings.concurrency, size)
        rate = self.settings.rate
        started = time.monotonic()

        def work(share: list[tuple[int, int, int]]) -> None:
            connection = self.router.connection()
            try:
                for number, row, user in share:
                    if rate > 0:  # pace to the configured rate: request n leaves at n / rate
                        delay = started + (number - first) / rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    status, body = _exchange(
                        connection,
                        "POST",
                        "/invocations",
                        _body(self.rows[row]),
                        {"X-Request-Id": self._id(number), "X-Request-Key": f"user-{user}"},
                    )
                    if status >= 500 and not isinstance(body, dict):
                        raise CheckFailed(f"the local router failed: HTTP {status}")
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlci-traffic") as pool:
            # list() re-raises a worker's exception here: a broken router is never a pass.
            list(pool.map(work, [jobs[w::workers] for w in range(workers)]))
        if self.labels is not None:
            self._pending.append(
                [
                    {"request_id": self._id(number), "label": self.labels[row]}
                    for (number, row, _), keep in zip(jobs, labelled, strict=True)
                    if keep
                ]
            )
            while len(self._pending) > self.settings.label_lag:
                feedback = self._pending.popleft()
                if feedback:
                    status, body = self.router.request("POST", "/feedback", feedback)
                    if status != 200:
                        raise CheckFailed(f"the local router refused the labels: {body}")

    def _id(self, number: int) -> str:
        return f"{self.run_id}-{number}"


ARRAY_ROWS = 2_000


def sample_rows(config: MlciConfig) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """The evaluation dataset as request rows (features only) and their labels.

    The labels are the target values of every task: a class to count right or wrong, or a
    regression target whose residuals the judge compares (quality is judged for both).
    A table's rows are objects keyed by column; a loader's arrays (numpy, sparse) are sent as
    lists of values, one row made dense at a time, as a client of an array model would."""
    from pytest_mlci.data.loaded import load_evaluation_data

    data = load_evaluation_data(config)
    labels = data.y.tolist()
    if hasattr(data.X, "to_dict"):
        return data.X.to_dict(orient="records"), labels
    # Array rows become Python lists: at most ARRAY_ROWS of them (the traffic cycles through
    # its rows), so a wide sparse dataset is never made dense whole.
    count = min(data.rows, ARRAY_ROWS)
    labels = labels[:count] if labels is not None else None
    if data.sparse:
        return [data.X.getrow(i).toarray()[0].tolist() for i in range(count)], labels
    return data.X[:count].tolist(), labels


def _body(row: Any) -> dict[str, Any]:
    """The request for one row: an object keyed by column, or a list of values."""
    return {"dataframe_records": [row]} if isinstance(row, dict) else {"instances": [row]}


def run_local_canary(
    config: MlciConfig, registry: Any, ledger: Any, version: str, *, promote_on_pass: bool = True
) -> Any:
    """Canary ``version`` through the local router with synthetic traffic (stage 7)."""
    import math
    import uuid

    from mlci_local.rollout.controller import policy_from_config, run_canary
    from mlci_local.rollout.live import LogSource
    from mlci_local.rollout.state import rollout_dir

    traffic = config.canary.traffic
    rows, labels = sample_rows(config)
    policy = policy_from_config(
        config, max_batches_per_step=math.ceil(traffic.max_requests_per_step / traffic.batch)
    )
    with LocalRouter(config) as router:
        logs = LogSource(rollout_dir(config))
        source = SyntheticTraffic(router, rows, labels, traffic, logs,
                                  run_id=f"canary-{uuid.uuid4().hex[:8]}")  # fmt: skip
        return run_canary(config, registry, ledger, version, source, policy=policy,
                          promote_on_pass=promote_on_pass)  # fmt: skip


def run_local_blue_green(
    config: MlciConfig, registry: Any, ledger: Any, version: str, *, promote_on_pass: bool = True
) -> Any:
    """Blue-green ``version`` through the local router with synthetic traffic (stage 7 with
    ``strategy = "blue-green"``): the synthetic traffic's budget bounds the soak."""
    import uuid

    from mlci_local.rollout.blue_green import run_blue_green
    from mlci_local.rollout.controller import policy_from_config
    from mlci_local.rollout.live import LogSource
    from mlci_local.rollout.state import rollout_dir

    rows, labels = sample_rows(config)
    settings = policy_from_config(config).judge
    with LocalRouter(config) as router:
        source = SyntheticTraffic(router, rows, labels, config.canary.traffic,
                                  LogSource(rollout_dir(config)),
                                  run_id=f"bluegreen-{uuid.uuid4().hex[:8]}")  # fmt: skip
        return run_blue_green(config, registry, ledger, version, source, source.preview,
                              judge_settings=settings, promote_on_pass=promote_on_pass)  # fmt: skip


def run_local_shadow(config: MlciConfig, registry: Any, ledger: Any, version: str) -> Any:
    """The shadow half of ``strategy = "shadow-then-canary"``: one step's synthetic traffic
    answered by production and mirrored to ``version``; the summary (None: no shadow ran).
    A shadow judges nothing by itself; the caller refuses to go on when the new version
    failed on copies production answered."""
    import uuid

    from mlci_local.rollout.live import LogSource
    from mlci_local.rollout.shadow import start_shadow, stop_shadow
    from mlci_local.rollout.state import rollout_dir

    rows, labels = sample_rows(config)
    start_shadow(config, ledger, registry.by_version(version))
    try:
        with LocalRouter(config) as router:
            source = SyntheticTraffic(router, rows, labels, config.canary.traffic,
                                      LogSource(rollout_dir(config)),
                                      run_id=f"shadow-{uuid.uuid4().hex[:8]}")  # fmt: skip
            for _ in source.batches(0.0):
                pass
    finally:  # the router drained its shadow queue on shutdown; the summary is whole
        summary = stop_shadow(config, ledger)
    return summary


def listening_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A bound, listening TCP socket to hand to uvicorn.

    Made with ``IPPROTO_TCP`` explicitly: asyncio turns Nagle's algorithm off
    (``TCP_NODELAY``) only on connections accepted from a socket whose protocol says TCP, and
    ``socket.socket()`` says 0. With Nagle on, every response on a kept-alive connection
    waited about 40 ms for the client's delayed ACK (measured here; MLflow's multi-worker
    uvicorn server shows the same, see benchmarks/README.md).
    """
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listening.bind((host, port))
    listening.listen(256)
    return listening


def main(argv: list[str] | None = None) -> int:
    """The server process: ``python -m mlci_local.rollout.traffic CONFIG FD``.

    Serves the router app on the inherited listening socket ``FD`` until SIGTERM.
    """
    import gc
    import sys

    import uvicorn

    from mlci_local.rollout.router import build_app
    from pytest_mlci.config import load_config

    args = sys.argv[1:] if argv is None else argv
    config = load_config(Path(args[0]))
    listening = socket.socket(fileno=int(args[1]))
    app = build_app(config)
    gc.collect()
    gc.freeze()  # as `mlci serve` does: no full collection walks the loaded libraries
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")).run(
        sockets=[listening]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
