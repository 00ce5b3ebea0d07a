"""What the local serving router (``mlci serve``) adds to a prediction's latency.

The canary puts the router in front of every production request, so its cost has a target:
at 200 requests/s, the p95 latency of a request through the router (HTTP on loopback, JSON
parsing, routing, the request log) may exceed the p95 of calling the same model in-process by
at most 2 ms.

Set-up: a scikit-learn pipeline (one-hot encoder + logistic regression, like the tiny test
project) saved with skops and loaded with ``load_model``. The router runs under uvicorn in a
child process on 127.0.0.1 and a free port, with the models injected (no registry in the timed
path). A load generator in this process sends ``--requests`` one-row ``dataframe_split``
requests on an open-loop schedule of ``--rate`` per second from a thread pool, each thread with
a kept-alive ``http.client`` connection, and measures every round trip. The in-process baseline
calls the same model on the same row on the same schedule. Both sides run on this machine, so
the load generator's own Python time counts against the router: the figure is an upper bound.

Three router set-ups are measured: production only (no rollout), a 30 % canary (both arms
serve), and shadow mode (the candidate also scores every request after the answer is sent).
"overhead p95" is the target's measure: router p95 minus in-process p95. "added p95 (paired)"
is the p95 over requests of the round trip minus the model time the router logged for that
same request: what the router adds, less sensitive to the machine's other load.
The child runs the app through ``run_server``, exactly as ``mlci serve`` does.

Run: ``.venv/bin/python benchmarks/bench_router.py [--requests 3000] [--rate 200]``.
Exits 1 if the target is missed. Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
OVERHEAD_TARGET_MS = 2.0
COLUMNS = ["x0", "x1", "x2", "x3", "group"]
ROW = [0.5, -0.2, 0.1, 1.0, "a"]
MODES = {
    # /metrics and the logged feature rows (issue 17) off: what they cost is the difference
    "production only, metrics and feature log off": ("none", 0.0, False),
    "production only": ("none", 0.0, True),
    "canary 30 %": ("canary", 0.3, True),
    "shadow": ("shadow", 0.0, True),
}


# --------------------------------------------------------------------------- models and config


def train_models(directory: Path) -> tuple[Path, Path]:
    """Two slightly different pipelines (production, candidate) saved with skops."""
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    paths = []
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        features = rng.normal(size=(3000, 4))
        logits = 1.5 * features[:, 0] - features[:, 1] + 0.5 * features[:, 2]
        frame = pd.DataFrame(features, columns=COLUMNS[:4])
        frame["group"] = np.where(rng.random(3000) < 0.5, "a", "b")
        label = (rng.random(3000) < 1 / (1 + np.exp(-logits))).astype(int)
        encoder = ColumnTransformer(
            [("cat", OneHotEncoder(handle_unknown="ignore"), ["group"])], remainder="passthrough"
        )
        model = make_pipeline(encoder, LogisticRegression(max_iter=500)).fit(frame, label)
        path = directory / f"model-{seed}.skops"
        sio.dump(model, path)
        paths.append(path)
    return paths[0], paths[1]


SCHEMA = """import pandera.pandas as pa

Schema = pa.DataFrameSchema({
    **{name: pa.Column(float) for name in ("x0", "x1", "x2", "x3")},
    "group": pa.Column(str, pa.Check.isin(["a", "b"])),
    "label": pa.Column(int, pa.Check.isin([0, 1])),
})
"""


def make_config(directory: Path, observe: bool = True) -> Any:
    """A minimal project configuration rooted in ``directory`` (no registry is touched).

    It declares the evaluation data's pandera schema, so every request pays for the router's
    full input checks (types, categories, finiteness), as in a configured project.
    """
    from pytest_mlci.config import DatasetConfig, MlciConfig, ServeSettings

    (directory / "bench_schema.py").write_text(SCHEMA)
    dataset = DatasetConfig(
        name="eval", path=directory / "eval.parquet", schema="bench_schema:Schema"
    )
    return MlciConfig(
        root=directory,
        source=directory / "mlci.toml",
        model="bench",
        task="binary_classification",
        target="label",
        artifact=directory / "model-1.skops",
        datasets={"eval": dataset},
        serve=ServeSettings(metrics=observe, log_features=observe),
    )


def load(path: Path) -> Any:
    from pytest_mlci.model_io import load_model

    return load_model(path)


# --------------------------------------------------------------------------- the server child


def serve(directory: Path, port: int, mode: str, weight: float, observe: bool) -> None:
    """Child process: the router with injected models under uvicorn on loopback."""
    from mlci_local.rollout.router import build_app, run_server
    from mlci_local.rollout.state import RolloutState, write_state

    config = make_config(directory, observe)
    version = None if mode == "none" else "2"
    write_state(config, RolloutState(config.model, version, weight, mode, 1, "bench"))
    app = build_app(
        config,
        production_model=load(directory / "model-1.skops"),
        candidate_model=load(directory / "model-2.skops"),
    )
    run_server(app, host=HOST, port=port)  # exactly what `mlci serve` runs


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_healthy(port: int, child: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"the router exited with code {child.returncode} before serving")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the router on {HOST}:{port} was not healthy within {timeout:.0f} s")


# --------------------------------------------------------------------------- measuring


def paced(count: int, rate: float, call: Callable[[int], float], workers: int) -> list[float]:
    """Run ``call(i)`` at ``rate`` per second (open loop); the milliseconds each call took."""
    start = time.perf_counter() + 0.2
    results = [0.0] * count

    def run(index: int) -> None:
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        results[index] = call(index)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(run, i) for i in range(count)]:
            future.result()
    return results


def router_latencies(port: int, count: int, rate: float, workers: int) -> list[float]:
    """Round-trip milliseconds of ``count`` one-row requests through the router.

    Request ``i`` carries ``X-Request-Id: bench-<i>`` so its log line can be paired with it.
    """
    local = threading.local()
    body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [ROW]}}).encode()

    def call(index: int) -> float:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection(HOST, port, timeout=10)
        headers = {"Content-Type": "application/json", "X-Request-Key": f"user-{index}",
                   "X-Request-Id": f"bench-{index}"}  # fmt: skip
        started = time.perf_counter()
        connection.request("POST", "/invocations", body, headers)
        reply = connection.getresponse()
        payload = reply.read()
        elapsed = 1000 * (time.perf_counter() - started)
        if reply.status != 200:
            raise SystemExit(f"request {index}: HTTP {reply.status}: {payload[:200]!r}")
        return elapsed

    for index in range(count, count + 50):  # warm-up: connections, imports, caches
        call(index)
    return paced(count, rate, call, workers)


def in_process_latencies(model: Any, count: int, rate: float) -> list[float]:
    """Milliseconds of calling the model directly on the same row, on the same schedule."""
    import pandas as pd

    from mlci_local.rollout.router import predict_output

    frame = pd.DataFrame([ROW], columns=COLUMNS)

    def call(_: int) -> float:
        started = time.perf_counter()
        predict_output(model, frame, "binary_classification")
        return 1000 * (time.perf_counter() - started)

    for index in range(50):
        call(index)
    return paced(count, rate, call, workers=1)


def percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q))


def logged(directory: Path) -> list[dict[str, Any]]:
    path = directory / ".mlci" / "rollout" / "requests.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def measure_mode(
    directory: Path, mode: str, weight: float, args: argparse.Namespace, observe: bool = True
) -> tuple[list[float], list[dict[str, Any]]]:
    """Start the router child in ``mode``, drive it, stop it; latencies and its request log."""
    log = directory / ".mlci" / "rollout" / "requests.jsonl"
    log.unlink(missing_ok=True)
    port = free_port()
    command = [sys.executable, __file__, "--serve", str(directory), str(port), mode, str(weight),
               "1" if observe else "0"]  # fmt: skip
    root = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    child = subprocess.Popen(command, env=env)
    try:
        wait_healthy(port, child)
        latencies = router_latencies(port, args.requests, args.rate, args.workers)
        time.sleep(0.5)  # let shadow background tasks finish their log lines
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return latencies, logged(directory)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3_000, help="timed requests per set-up")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--workers", type=int, default=8, help="load generator threads")
    parser.add_argument("--serve", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        directory, port, mode, weight, observe = args.serve
        serve(Path(directory), int(port), mode, float(weight), observe == "1")
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-router-") as tmp:
        directory = Path(tmp)
        production_path, _ = train_models(directory)
        model = load(production_path)
        baseline = in_process_latencies(model, args.requests, args.rate)
        rows = [("in-process model call", baseline, None, None)]
        for name, (mode, weight, observe) in MODES.items():
            latencies, lines = measure_mode(directory, mode, weight, args, observe)
            rows.append((name, latencies, lines, mode))

    base_p95 = percentile(baseline, 95)
    print(
        f"\n{args.requests:,} one-row requests per set-up at {args.rate:.0f}/s on {HOST}, "
        f"{args.workers} client threads, {os.cpu_count()} CPUs\n"
    )
    print(
        "| set-up | p50 ms | p95 ms | p99 ms | overhead p95 ms | added p95 ms (paired) "
        "| candidate share | log lines |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    missed = []
    for name, latencies, lines, mode in rows:
        p50, p95, p99 = (percentile(latencies, q) for q in (50, 95, 99))
        if lines is None:
            print(f"| {name} | {p50:.3f} | {p95:.3f} | {p99:.3f} | – | – | – | – |")
            continue
        overhead = p95 - base_p95
        # Per request: the round trip minus the model time the router logged for it.
        model_ms = {line["request_id"]: line["latency_ms"] for line in lines}
        added = [rtt - model_ms[f"bench-{i}"] for i, rtt in enumerate(latencies)]
        served = [line for line in lines if line.get("status") == 200]
        share = sum(line["arm"] == "candidate" for line in served) / max(len(served), 1)
        shadowed = sum(1 for line in lines if (line.get("shadow") or {}).get("error") is None
                       and "shadow" in line)  # fmt: skip
        share_text = f"{share:.1%}" + (f" (+{shadowed:,} shadowed)" if mode == "shadow" else "")
        print(
            f"| {name} | {p50:.3f} | {p95:.3f} | {p99:.3f} | {overhead:+.3f} "
            f"| {percentile(added, 95):.3f} | {share_text} | {len(lines):,} |"
        )
        if overhead > OVERHEAD_TARGET_MS:
            missed.append(f"{name}: p95 overhead {overhead:.3f} ms > {OVERHEAD_TARGET_MS} ms")
        if len(lines) < args.requests:
            missed.append(f"{name}: {len(lines):,} log lines for {args.requests:,}+ requests")
    print(f"\ncommand: .venv/bin/python benchmarks/bench_router.py "
          f"--requests {args.requests} --rate {args.rate:g} --workers {args.workers}")  # fmt: skip
    for line in missed:
        print(f"TARGET MISSED: {line}")
    if not missed:
        print(f"target met: router p95 overhead <= {OVERHEAD_TARGET_MS} ms in every set-up")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
