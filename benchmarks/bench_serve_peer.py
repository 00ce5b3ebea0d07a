"""``mlci serve`` side by side with its peer, ``mlflow models serve --env-manager local``.

The same scikit-learn pipeline (``bench_router.train_models``: one-hot encoder + logistic
regression) is served twice on 127.0.0.1: by the router exactly as ``bench_router.py`` starts
it (uvicorn in a child process, ``run_server``, the models injected, the pandera schema
declared), and by MLflow's scoring server from an ``mlflow.sklearn.save_model`` directory whose
signature is inferred from eval rows with ``mlflow.models.infer_signature``, so MLflow's own
schema enforcement is on. Both get the same requests:

(a) a ``--mb`` MiB ``dataframe_records`` body sent with ``Content-Length`` (the body of
    ``bench_router_body.py``): status, seconds to answer, resident memory of the serving
    process before (``VmRSS``) and its peak (``VmHWM``), from ``/proc``. The router is measured
    at its default ``max_body_mb`` (5, so it answers 413) and again with the limit raised to
    ``--limit-mb`` so that it scores the rows as MLflow does.
(b) client mistakes: the status and the first 100 characters of the answer's ``message``.
(c) ``--requests`` sequential one-row ``dataframe_split`` requests on one kept-alive
    ``http.client`` connection after 20 warm-up requests: median and p95 milliseconds.

Memory: "worker" is the process of the server's tree with the highest ``VmHWM`` (the one
holding the model: the router child, MLflow's uvicorn process); "tree" sums ``VmRSS`` over
the whole tree (for MLflow also the ``mlflow`` CLI process that launched uvicorn).
Every server is started in its own session and its process group is stopped at the end.

Run: ``.venv/bin/python benchmarks/bench_serve_peer.py [--mb 62] [--requests 300]``
(Linux; about 30 s on 2 cores).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_router as bench  # the router's set-up: models, config, free port, /health wait
import bench_router_body as body_bench  # /proc memory of one process

HOST = bench.HOST
ROW = dict(zip(bench.COLUMNS, bench.ROW, strict=True))
ONE_ROW = json.dumps({"dataframe_split": {"columns": bench.COLUMNS, "data": [bench.ROW]}})


def records(*rows: dict[str, Any]) -> str:
    return json.dumps({"dataframe_records": list(rows)})


MISTAKES = {
    "missing column (no x2)": records({k: v for k, v in ROW.items() if k != "x2"}),
    "string in a numeric column (x0)": records({**ROW, "x0": "abc"}),
    "empty list of records": records(),
    "NaN in a non-nullable column (x0)": records({**ROW, "x0": math.nan}),
    "null in a non-nullable column (x0)": records({**ROW, "x0": None}),
    "malformed JSON (truncated)": records(ROW)[:-5],
    "unknown top-level key": json.dumps({"dataframe_records": [ROW], "foo": 1}),
}


# --------------------------------------------------------------------------- servers


def serve_mlci(directory: Path, port: int, max_body_mb: float) -> None:
    """Child process: ``bench_router.serve`` (production only) with ``max_body_mb`` set."""
    from pytest_mlci.config import ServeSettings

    make_config = bench.make_config
    bench.make_config = lambda d: dataclasses.replace(
        make_config(d), serve=ServeSettings(max_body_mb=max_body_mb)
    )
    bench.serve(directory, port, "none", 0.0)


def save_mlflow_model(directory: Path) -> Path:
    """The router's production pipeline as an MLflow sklearn model with an inferred signature."""
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    import sklearn
    from mlflow.models import infer_signature

    model = bench.load(directory / "model-1.skops")
    rng = np.random.default_rng(3)
    rows = pd.DataFrame(rng.normal(size=(200, 4)), columns=bench.COLUMNS[:4])
    rows["group"] = np.where(rng.random(200) < 0.5, "a", "b")  # the eval rows' columns
    path = directory / "mlflow-model"
    mlflow.sklearn.save_model(
        model,
        path,
        signature=infer_signature(rows, model.predict(rows)),
        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],  # unused with local env
    )
    return path


def start(command: list[str], port: int, name: str, log: Path) -> subprocess.Popen:
    """Start a server in its own session, output to ``log``; return once /health answers 200."""
    root = str(Path(__file__).resolve().parents[1])
    paths = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    # The venv's bin first, as in an activated venv: `mlflow models serve` runs `uvicorn`.
    bin_dir = os.pathsep.join(
        filter(None, [str(Path(sys.executable).parent), os.environ.get("PATH")])
    )
    env = {**os.environ, "PYTHONPATH": paths, "PATH": bin_dir}
    with log.open("ab") as output:  # the servers' own logs (MLflow logs every request)
        child = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        started = time.monotonic()
        bench.wait_healthy(port, child, timeout=180)
        print(f"{name}: healthy after {time.monotonic() - started:.1f} s (pid {child.pid})")
    except BaseException:
        stop(child)
        print(log.read_text()[-3000:], file=sys.stderr)
        raise
    return child


def stop(child: subprocess.Popen) -> None:
    """SIGTERM the child's process group (it was started in its own session), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, sig)
        try:
            child.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += tree(int(child))
    return found


def memory(pid: int) -> dict[str, int]:
    """MiB: the worker's (highest-peak process) RSS and peak, and the tree's summed RSS."""
    figures = {}
    for member in tree(pid):
        try:
            figures[member] = body_bench.memory(member)
        except (OSError, KeyError):
            continue  # gone, or a kernel thread without Vm fields
    rss, peak = max(figures.values(), key=lambda pair: pair[1])
    return {"rss": rss, "peak": peak, "tree": sum(pair[0] for pair in figures.values())}


# --------------------------------------------------------------------------- requests


def post(connection: http.client.HTTPConnection, body: bytes) -> tuple[int | str, bytes]:
    try:
        connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        reply = connection.getresponse()
        return reply.status, reply.read()
    except OSError as exc:
        connection.close()
        return "connection error", repr(exc).encode()


def message(answer: bytes) -> str:
    """The start of the answer's ``message`` (or of the raw answer when it is not JSON)."""
    try:
        text = str(json.loads(answer).get("message", answer.decode()))
    except (ValueError, AttributeError):
        text = answer.decode(errors="replace")
    return " ".join(text.split())[:100]


def big_request(port: int, pid: int, body: bytes) -> dict[str, Any]:
    before = memory(pid)
    connection = http.client.HTTPConnection(HOST, port, timeout=300)
    started = time.monotonic()
    status, answer = post(connection, body)
    seconds = time.monotonic() - started
    connection.close()
    after = memory(pid)
    return {"status": status, "seconds": seconds, "before": before, "after": after,
            "answer": message(answer)}  # fmt: skip


def mistakes(port: int) -> dict[str, tuple[int | str, str]]:
    answers = {}
    for name, body in MISTAKES.items():
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        status, answer = post(connection, body.encode())
        connection.close()
        answers[name] = (status, message(answer))
    return answers


def latencies(port: int, count: int) -> list[float]:
    """Milliseconds of ``count`` sequential one-row requests on one kept-alive connection."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    body = ONE_ROW.encode()
    times = []
    try:
        for index in range(20 + count):
            started = time.perf_counter()
            status, answer = post(connection, body)
            elapsed = 1000 * (time.perf_counter() - started)
            if status != 200:
                raise SystemExit(f"one-row request {index}: HTTP {status}: {answer[:200]!r}")
            if index >= 20:
                times.append(elapsed)
    finally:
        connection.close()
    return times


# --------------------------------------------------------------------------- report


def ratio(mlci: float, mlflow: float) -> str:
    return f"{mlci / mlflow:.2f}" if mlflow else "–"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def report(args: argparse.Namespace, results: dict[str, Any], size: str) -> None:
    mlci, raised, mlflow = results["mlci"], results["mlci raised"], results["mlflow"]
    print(f"\n(a) one {size} dataframe_records body with Content-Length\n")
    print("| server | answer | seconds | worker RSS idle | worker RSS before | worker peak "
          "| tree RSS before | tree RSS after |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, key in (("mlci serve (default max_body_mb 5)", "mlci"),
                      (f"mlci serve (max_body_mb {args.limit_mb:g})", "mlci raised"),
                      ("mlflow models serve", "mlflow")):  # fmt: skip
        big, idle = results[key]["big"], results[key]["idle"]
        print(f"| {name} | {big['status']} | {big['seconds']:.2f} | {idle['rss']} "
              f"| {big['before']['rss']} | {big['after']['peak']} | {big['before']['tree']} "
              f"| {big['after']['tree']} |")  # fmt: skip
    for name, mine in (("default", mlci), ("raised", raised)):
        a, b = mine["big"], mlflow["big"]
        print(f"ratio mlci ({name}) / mlflow: seconds {ratio(a['seconds'], b['seconds'])}, "
              f"worker RSS idle {ratio(mine['idle']['rss'], mlflow['idle']['rss'])}, "
              f"worker peak {ratio(a['after']['peak'], b['after']['peak'])}, "
              f"tree RSS idle {ratio(mine['idle']['tree'], mlflow['idle']['tree'])}")  # fmt: skip
    for key in ("mlci", "mlci raised", "mlflow"):
        print(f"  {key} answer: {results[key]['big']['answer']}")

    print("\n(b) client mistakes: status and the first 100 characters of the message\n")
    print("| request | mlci status | mlci message | mlflow status | mlflow message |")
    print("|---|---:|---|---:|---|")
    for name in MISTAKES:
        (s1, m1), (s2, m2) = mlci["mistakes"][name], mlflow["mistakes"][name]
        print(f"| {name} | {s1} | {cell(m1)} | {s2} | {cell(m2)} |")

    print(f"\n(c) {args.requests} sequential one-row requests, one kept-alive connection\n")
    print("| | mlci serve | mlflow models serve | ratio mlci / mlflow |")
    print("|---|---:|---:|---:|")
    for label, pick in (("median ms", statistics.median),
                        ("p95 ms", lambda v: statistics.quantiles(v, n=20)[-1])):  # fmt: skip
        a, b = pick(mlci["latency"]), pick(mlflow["latency"])
        print(f"| {label} | {a:.3f} | {b:.3f} | {ratio(a, b)} |")


def measure(child: subprocess.Popen, port: int, body: bytes, count: int, full: bool) -> dict:
    result: dict[str, Any] = {"idle": memory(child.pid)}
    if full:
        result["latency"] = latencies(port, count)
        result["mistakes"] = mistakes(port)
    result["big"] = big_request(port, child.pid, body)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=62.0, help="big body size in MiB")
    parser.add_argument("--requests", type=int, default=300, help="timed one-row requests")
    parser.add_argument("--limit-mb", type=float, default=64.0,
                        help="the router's max_body_mb for its second run of case (a)")  # fmt: skip
    parser.add_argument("--serve-mlci", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_mlci:
        directory, port, limit = args.serve_mlci
        serve_mlci(Path(directory), int(port), float(limit))
        return 0

    print(f"load average at start: {Path('/proc/loadavg').read_text().strip()}")
    row = json.dumps(ROW)
    count = int(args.mb * 2**20) // (len(row) + 1)
    body = ('{"dataframe_records": [' + ",".join([row] * count) + "]}").encode()
    size = f"{len(body) / 2**20:.1f} MiB ({count:,} rows)"
    mlflow_cli = str(Path(sys.executable).parent / "mlflow")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-serve-peer-") as tmp:
        directory = Path(tmp)
        bench.train_models(directory)
        model_dir = save_mlflow_model(directory)
        router = [sys.executable, __file__, "--serve-mlci", tmp, "{port}"]
        peer = [mlflow_cli, "models", "serve", "-m", str(model_dir), "--env-manager", "local"]
        runs = [
            ("mlci", [*router, "5"], True),
            ("mlflow", [*peer, "-h", HOST, "-p", "{port}"], True),
            ("mlci raised", [*router, str(args.limit_mb)], False),
        ]
        for name, command, full in runs:
            port = bench.free_port()
            command = [part.format(port=port) for part in command]
            child = start(command, port, name, directory / f"{name.replace(' ', '-')}.log")
            try:
                results[name] = measure(child, port, body, args.requests, full)
            finally:
                stop(child)
    report(args, results, size)
    print(f"\nload average at end: {Path('/proc/loadavg').read_text().strip()}")
    print(f"command: .venv/bin/python benchmarks/bench_serve_peer.py --mb {args.mb:g} "
          f"--requests {args.requests} --limit-mb {args.limit_mb:g}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
