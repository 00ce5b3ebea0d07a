"""Registry operations embedded against the team server stack, and eight concurrent promoters.

Embedded: an sqlite registry, local artifact files, the ledger file and file locks.
Server: `mlflow server` on loopback with a PostgreSQL backend store and artifacts in an S3
endpoint (moto), the ledger and the promotion lock in PostgreSQL: the stack `.ci/stack.py`
starts (or the one whose addresses are in $MLCI_TEST_MLFLOW / $MLCI_TEST_POSTGRES).

Measures, median of --repeat after a warm-up, for each backend:
  * register: mlci registration (upload, version, tags, manifest, attachments);
  * set alias: a bare ``MlflowClient.set_registered_model_alias``;
  * get by alias: mlci's alias read;
  * load by alias: fetch the artifact through the registry, verify it against the manifest,
    load it with skops;
  * promote: the whole mlci promotion (lock, intent record, alias moves, read-back, record);
then eight processes promoting versions of one model for --seconds at once, each through the
lock: promotions completed per second, and a check that the ledger verifies afterwards.

Run: .venv/bin/python benchmarks/bench_team.py [--repeat 7] [--seconds 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
REPO = Path(__file__).resolve().parents[1]


def small_model(seed: int):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(500, 5))
    y = (x[:, 0] + rng.normal(size=500) > 0).astype(int)
    return LogisticRegression(random_state=seed, C=1.0 + seed).fit(x, y)


def project(root: Path, model: str, extra: str = ""):
    from pytest_mlci.config import load_config

    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "mlci.toml").write_text(
        f'model = "{model}"\ntask = "binary_classification"\ntarget = "y"\n'
        f'artifact = "models/model.skops"\n{extra}'
    )
    return load_config(root / "mlci.toml")


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def register_passing(config, registry, ledger, seed: int) -> str:
    import skops.io as sio

    from pytest_mlci.model_io import sha256_file

    sio.dump(small_model(seed), config.artifact)
    digest = sha256_file(config.artifact)
    version = registry.register(
        config.artifact, digest, tags={"mlci.tier": "medium"},
        attachments={"lineage.json": "{}", "evaluation.json": "{}"},
    ).version.version  # fmt: skip
    for action in ("evaluation", "staging"):
        ledger.append(action, {"model": config.model, "digest": digest, "passed": True})
    return version


def operations(config, repeat: int) -> dict[str, float]:
    from mlci_local.promotion import ledger_for, promote
    from mlci_local.registry import Registry
    from pytest_mlci import registry_read as rr
    from pytest_mlci.model_io import load_model

    registry, ledger = Registry(config), ledger_for(config)
    times: dict[str, list[float]] = {k: [] for k in
                                     ("register", "set alias", "get by alias", "load by alias",
                                      "promote")}  # fmt: skip
    versions = []
    for i in range(repeat + 1):
        times["register"].append(
            timed(lambda i=i: versions.append(register_passing(config, registry, ledger, i)))
        )
    client = registry.client
    for v in versions:
        times["set alias"].append(
            timed(lambda v=v: client.set_registered_model_alias(config.model, "candidate", v))
        )
        times["get by alias"].append(timed(lambda: registry.by_alias("candidate")))
    with tempfile.TemporaryDirectory() as cache:
        for v in versions:
            registry.set_alias("staging", v)

            def load(v=v, cache=cache):
                found = rr.version_by_alias(client, config.model, "staging")
                path = rr.fetch_verified(found, Path(cache) / v, registry_uri=config.registry_uri)
                load_model(path)

            times["load by alias"].append(timed(load))
    for v in versions:
        times["promote"].append(timed(lambda v=v: promote(config, registry, ledger, v)))
    return {name: statistics.median(values[1:]) for name, values in times.items()}


def _promoter(config_path: str, versions: list[str], seconds: float, barrier) -> int:
    from mlci_local.promotion import ledger_for, promote
    from mlci_local.registry import Registry
    from pytest_mlci.config import load_config

    config = load_config(Path(config_path))
    registry, ledger = Registry(config), ledger_for(config)
    barrier.wait()
    done, index = 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        move = promote(config, registry, ledger, versions[index % len(versions)])
        done += int(move.changed)
        index += 1
    return done


def concurrent_promoters(config, seconds: float, workers: int = 8) -> tuple[float, bool]:
    from mlci_local.promotion import ledger_for
    from mlci_local.registry import Registry

    registry, ledger = Registry(config), ledger_for(config)
    versions = [register_passing(config, registry, ledger, 50 + i) for i in range(workers)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(workers)
    # Each worker cycles through the versions, starting at a different one.
    plans = [versions[i:] + versions[:i] for i in range(workers)]
    started = time.perf_counter()
    with context.Pool(workers) as pool:
        counts = pool.starmap(
            _promoter, [(str(config.source), plan, seconds, barrier) for plan in plans]
        )
    elapsed = time.perf_counter() - started
    return sum(counts) / min(elapsed, seconds), ledger.verify().ok


def stack_addresses(state: Path):
    """(mlflow URI, PostgreSQL URL, stop function): from the environment, or started here."""
    if os.environ.get("MLCI_TEST_MLFLOW") and os.environ.get("MLCI_TEST_POSTGRES"):
        return os.environ["MLCI_TEST_MLFLOW"], os.environ["MLCI_TEST_POSTGRES"], lambda: None
    spec = importlib.util.spec_from_file_location("stack", REPO / ".ci" / "stack.py")
    stack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stack)
    env = stack.start(state)
    return env["MLCI_TEST_MLFLOW"], env["MLCI_TEST_POSTGRES"], lambda: stack.stop(state)


def main() -> None:
    import psycopg

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        mlflow_uri, postgres, stop = stack_addresses(tmp_path / "stack")
        try:
            database = f"bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(f"{postgres}/postgres", autocommit=True) as admin:
                admin.execute(f"CREATE DATABASE {database}")
            server_extra = f'registry = "{mlflow_uri}"\ndatabase = "{postgres}/{database}"\n'
            name = f"bench-{uuid.uuid4().hex[:6]}"
            embedded = project(tmp_path / "embedded", "bench")
            server = project(tmp_path / "server", name, server_extra)
            results = {"embedded": operations(embedded, args.repeat),
                       "server": operations(server, args.repeat)}  # fmt: skip
            embedded_c = project(tmp_path / "embedded-c", "bench-c")
            server_c = project(tmp_path / "server-c", name + "-c", server_extra)
            rates = {"embedded": concurrent_promoters(embedded_c, args.seconds),
                     "server": concurrent_promoters(server_c, args.seconds)}  # fmt: skip
        finally:
            stop()
    print(f"{'operation':<16} {'embedded s':>11} {'server s':>10} {'server/embedded':>16}")
    for op in results["embedded"]:
        e, s = results["embedded"][op], results["server"][op]
        print(f"{op:<16} {e:>11.4f} {s:>10.4f} {s / e:>15.1f}x")
    print()
    print(f"{'8 concurrent promoters':<24} {'promotions/s':>13} {'ledger verifies':>16}")
    for backend, (rate, ok) in rates.items():
        print(f"{backend:<24} {rate:>13.1f} {ok!s:>16}")


if __name__ == "__main__":
    main()
