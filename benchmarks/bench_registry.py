"""Registry operations on the embedded (sqlite) registry, against MLflow's own calls.

Measures, on a fresh temporary project with a small scikit-learn model saved with skops:
  * registration through mlci (upload, version, tags, manifest, lineage attachments), against
    `mlflow.sklearn.log_model` + `register_model` (which infers pip requirements);
  * promote and rollback through mlci (lock, intent record, alias moves, read-back, store
    integrity check, completion record with fsync), against a bare
    `MlflowClient.set_registered_model_alias`.
Medians of several repetitions, after one warm-up (the first call creates the database).

Run: .venv/bin/python benchmarks/bench_registry.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def small_model(seed: int):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(500, 5))
    y = (x[:, 0] + rng.normal(size=500) > 0).astype(int)
    return LogisticRegression(random_state=seed).fit(x, y)


def project(root: Path):
    from pytest_mlci.config import load_config

    (root / "models").mkdir()
    (root / "mlci.toml").write_text(
        'model = "bench"\ntask = "binary_classification"\ntarget = "y"\n'
        'artifact = "models/model.skops"\n'
    )
    return load_config(root / "mlci.toml")


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    import skops.io as sio

    from mlci_local.promotion import ledger_for, promote, rollback
    from mlci_local.registry import Registry
    from pytest_mlci.model_io import sha256_file

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        config = project(Path(tmp))
        registry, ledger = Registry(config), ledger_for(config)
        versions = []
        register_times = []
        for i in range(args.repeat + 1):
            sio.dump(small_model(i), config.artifact)
            digest = sha256_file(config.artifact)

            def register(digest=digest):
                version = registry.register(
                    config.artifact, digest, tags={"mlci.tier": "medium"},
                    attachments={"lineage.json": "{}", "evaluation.json": "{}"},
                ).version.version  # fmt: skip
                versions.append(version)
                for action in ("evaluation", "staging"):
                    ledger.append(action, {"model": "bench", "digest": digest, "passed": True})

            register_times.append(timed(register))
        rows.append(("mlci register (upload, version, tags, manifest)",
                     statistics.median(register_times[1:])))  # fmt: skip
        promote_times = [timed(lambda v=v: promote(config, registry, ledger, v)) for v in versions]
        rows.append(("mlci promote", statistics.median(promote_times[1:])))
        rollback_times = []
        for v in versions[1:]:
            if registry.by_alias("production").version == v:
                continue  # promoting production again is a no-op and leaves no `previous`
            promote(config, registry, ledger, v)
            rollback_times.append(timed(lambda: rollback(config, registry, ledger, reason="bench")))
        rows.append(("mlci rollback", statistics.median(rollback_times)))
        client = registry.client
        bare = [timed(lambda v=v: client.set_registered_model_alias("bench", "production", v))
                for v in versions]  # fmt: skip
        rows.append(("bare MlflowClient.set_registered_model_alias", statistics.median(bare)))

        import mlflow
        import mlflow.sklearn

        mlflow.set_tracking_uri(config.registry_uri)
        mlflow.set_registry_uri(config.registry_uri)
        # Keep MLflow's artifacts in the temporary project, not ./mlruns of the caller.
        location = (Path(tmp) / "mlflow-artifacts").as_uri()
        experiment = mlflow.create_experiment("bench-mlflow", artifact_location=location)
        mlflow.set_experiment(experiment_id=experiment)
        log_times = []
        for i in range(3):
            model = small_model(100 + i)

            def log_and_register(model=model):
                with mlflow.start_run():
                    info = mlflow.sklearn.log_model(model, name="model")
                mlflow.register_model(info.model_uri, "bench-mlflow")

            log_times.append(timed(log_and_register))
        rows.append(("mlflow.sklearn.log_model + register_model", statistics.median(log_times)))
    bare_alias = rows[3][1]
    print(f"{'operation':<50} {'seconds':>8} {'vs bare alias':>14}")
    for name, seconds in rows:
        print(f"{name:<50} {seconds:>8.3f} {seconds / bare_alias:>13.1f}x")


if __name__ == "__main__":
    main()
