"""Stage 6: load the candidate from the registry in a fresh process and try it.

A fresh interpreter is the point: it proves the registered artifact loads by alias with only
what is installed, without anything the training process happened to have in memory. The
child verifies the artifact's sha256 before loading, predicts on sample rows and checks the
outputs (shape, no NaN, probabilities within [0, 1]); it prints one JSON line for the parent.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import CheckFailed
from pytest_mlci.redact import redact_text, redact_uri

PROBE_TIMEOUT_S = 300


@dataclass(frozen=True)
class StagingResult:
    """What the fresh process saw, including the bounded load test."""

    version: str
    digest: str
    rows: int
    load_seconds: float
    predict_ms_per_row: float
    requests: int = 0
    errors: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    throughput_rps: float = 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 1.0


def judge_load(result: StagingResult, config: MlciConfig) -> list[str]:
    """The load test's breaches of the configured limits (empty when within them)."""
    limits = config.staging
    problems = []
    if result.requests == 0:
        problems.append("the load test completed no request")
    if result.error_rate > limits.max_error_rate:
        problems.append(
            f"error rate {result.error_rate:.2%} over {result.requests} requests exceeds "
            f"staging.max_error_rate {limits.max_error_rate:.2%}"
        )
    if limits.p95_ms is not None and result.p95_ms > limits.p95_ms:
        problems.append(
            f"p95 latency {result.p95_ms:.2f} ms exceeds staging.p95_ms {limits.p95_ms}"
        )
    return problems


def compliance_problems(config: MlciConfig, version: Any) -> list[str]:
    """What a reviewer needs before production: lineage and a model card (stricter if high).

    Approvals are checked at promotion, where they are required; here only what staging can
    already know.
    """
    tags = version.tags
    problems = []
    commit = tags.get("mlci.git.commit")
    if not commit or commit == "none":
        problems.append("lineage: no git commit recorded (register from a git repository)")
    if "mlci.data_digest" not in tags or tags["mlci.data_digest"] == "None":
        problems.append("lineage: no evaluation data digest recorded")
    if not any(key.startswith("mlci.dvc.") for key in tags):
        problems.append("lineage: no dvc.lock hashes recorded (train with `dvc repro`)")
    if "mlci.model_card_sha256" not in tags:
        problems.append("model card: none attached to this version")
    if config.tier == "high" and tags.get("mlci.git.dirty") != "false":
        problems.append("lineage: a high-tier model must come from a clean, committed tree")
    return problems


def stage_version(
    config: MlciConfig,
    registry: Any,
    ledger: Any,
    alias: str = "candidate",
    *,
    version: str | None = None,
    expected_digest: str | None = None,
) -> StagingResult:
    """Stage 6 as one step: probe ``alias`` (or exactly ``version``) in a fresh process,
    judge the load test and compliance, record the outcome in the ledger, and point
    ``staging`` at a version that passed. :class:`CheckFailed` names every problem.

    ``expected_digest`` (the artifact ``mlci run`` just built) must be what is loaded.
    ``mlci run`` passes the version it registered: with many runners sharing one registry,
    another runner may move ``candidate`` between this run's registration and its staging.
    """
    from dataclasses import asdict

    from pytest_mlci.errors import MlciError

    registered = registry.by_version(version) if version else registry.by_alias(alias)
    if registered is None:
        raise CheckFailed(f"{config.model}@{alias} does not exist; run `mlci run --until register`")
    digest = expected_digest or registered.digest or ""
    facts = {"model": config.model, "version": registered.version, "digest": digest}
    try:
        result = validate_staging(config, registered.version if version else alias)
        if result.digest != digest:
            raise CheckFailed(
                f"staging loaded artifact {result.digest[:12]}, expected {digest[:12]}"
            )
        problems = judge_load(result, config) + compliance_problems(
            config, registry.by_version(result.version)
        )
    except MlciError as exc:
        ledger.append("staging", {**facts, "passed": False, "error": str(exc)})
        raise
    ledger.append(
        "staging", {**facts, "passed": not problems, "problems": problems, **asdict(result)}
    )
    if problems:
        raise CheckFailed("staging did not pass:\n" + "\n".join(problems))
    from mlci_local.environments import is_custom, record_entry

    if is_custom(config):  # a declared chain: stage 6 is the way into its first environment
        record_entry(config, registry, ledger, config.environment_names[0], result.version)
    else:
        registry.set_alias("staging", result.version)
    return result


def describe(result: StagingResult) -> str:
    """The one-line summary ``mlci run`` and ``mlci stage`` print."""
    return (
        f"v{result.version} loaded in a fresh process; {result.requests} requests "
        f"p95 {result.p95_ms:.2f} ms, {result.throughput_rps:.0f}/s, "
        f"{result.error_rate:.1%} errors; lineage and model card complete"
    )


def validate_staging(config: MlciConfig, alias: str = "candidate") -> StagingResult:
    """Run the probe in a child interpreter; :class:`CheckFailed` with its words on failure."""
    from mlci_local.children import run
    from pytest_mlci.config import child_env

    try:  # a child tied to this process: it dies with a killed `mlci run`
        done = run(
            "mlci_local.staging", [str(config.source), alias], cwd=config.root,
            timeout=PROBE_TIMEOUT_S, env=child_env(config),
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise CheckFailed(
            f"staging: the fresh process did not finish in {PROBE_TIMEOUT_S} s"
        ) from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise CheckFailed(
            f"staging: loading {config.model}@{alias} in a fresh process failed: {detail}"
        )
    payload = json.loads(lines[-1])
    return StagingResult(**payload)


def probe(config: MlciConfig, alias: str) -> StagingResult:
    """Inside the child: fetch by alias (or by version number), verify, load, predict, check
    outputs."""
    import numpy as np

    from pytest_mlci import registry_read as rr
    from pytest_mlci.artifact_check import load_verified
    from pytest_mlci.data.loaded import load_evaluation_data
    from pytest_mlci.evaluation.scoring import row_count, take_rows
    from pytest_mlci.flavours import ModelPolicy
    from pytest_mlci.model_adapters import predict_scores

    client = rr.open_client(config.registry_uri)
    if alias.isdigit():
        version = rr.RegisteredVersion.from_mlflow(client.get_model_version(config.model, alias))
    else:
        version = rr.version_by_alias(client, config.model, alias)
    if version is None:
        raise CheckFailed(
            f"{config.model}@{alias} does not exist in {redact_uri(config.registry_uri)}"
        )
    started = time.perf_counter()
    # The store is checked against the manifest on every probe; the cache saves only a download.
    model = load_verified(
        version,
        config.state_dir / "cache" / "staging",
        registry_uri=config.registry_uri,
        state_dir=config.state_dir,
        policy=ModelPolicy.from_config(config),
    )
    loaded = time.perf_counter() - started
    data = load_evaluation_data(config)
    sample = take_rows(data.X, list(range(min(data.rows, config.staging_sample_rows))))
    started = time.perf_counter()
    predictions = np.asarray(model.predict(sample))
    _check_outputs(predictions, row_count(sample), "predict")
    proba = predict_scores(model, sample) if config.task != "regression" else None
    if proba is not None:
        _check_outputs(proba, row_count(sample), "predict_proba")
        if (proba < 0).any() or (proba > 1).any():
            raise CheckFailed("staging: predict_proba returned values outside [0, 1]")
    elapsed = time.perf_counter() - started
    load = _load_test(model, sample, config)
    return StagingResult(
        version=version.version,
        digest=version.digest or "",
        rows=row_count(sample),
        load_seconds=round(loaded, 4),
        predict_ms_per_row=round(1000 * elapsed / max(row_count(sample), 1), 4),
        **load,
    )


def _load_test(model: Any, sample: Any, config: MlciConfig) -> dict[str, Any]:
    """Single-row requests from a few threads, bounded in count and in time."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from mlci_local.rollout.router import one_openmp_thread
    from pytest_mlci.evaluation.scoring import row_count, take_rows
    from pytest_mlci.model_adapters import serving_function

    limits = config.staging
    predict = serving_function(model)
    count = row_count(sample)
    rows = [take_rows(sample, [i % count]) for i in range(min(count, 200))]
    for row in rows[:10]:  # warm-up
        predict(row)
    deadline = time.monotonic() + limits.load_seconds
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def one(index: int) -> None:
        if time.monotonic() > deadline:
            return
        one_openmp_thread()  # score as the router serves: parallel requests, not parallel trees
        started = time.perf_counter()
        try:
            predict(rows[index % len(rows)])
        except Exception:
            with lock:
                errors[0] += 1
            return
        with lock:
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=limits.load_concurrency) as pool:
        list(pool.map(one, range(limits.load_requests)))
    wall = time.perf_counter() - started
    done = len(latencies) + errors[0]
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) if latencies else (0.0, 0.0, 0.0)
    return {
        "requests": done,
        "errors": errors[0],
        "p50_ms": round(float(p50), 3),
        "p95_ms": round(float(p95), 3),
        "p99_ms": round(float(p99), 3),
        "throughput_rps": round(done / wall, 1) if wall > 0 else 0.0,
    }


def _check_outputs(values: Any, rows: int, what: str) -> None:
    import numpy as np

    if len(values) != rows:
        raise CheckFailed(f"staging: {what} returned {len(values)} rows for {rows} inputs")
    if np.issubdtype(values.dtype, np.number) and np.isnan(values.astype(float)).any():
        raise CheckFailed(f"staging: {what} returned NaN")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry of the child process: ``python -m mlci_local.staging CONFIG ALIAS``."""
    from dataclasses import asdict

    from pytest_mlci.config import load_config
    from pytest_mlci.errors import MlciError

    parser = argparse.ArgumentParser(prog="mlci-staging-probe")
    parser.add_argument("config")
    parser.add_argument("alias")
    args = parser.parse_args(argv)
    try:
        result = probe(load_config(Path(args.config)), args.alias)
    except MlciError as exc:
        print(redact_text(str(exc)).replace("\n", " "), file=sys.stderr)
        return 1
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
