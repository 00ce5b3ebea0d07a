"""What checking the registry's store on every use costs, against loading a cached copy unchecked.

Staging, the ``pytest --mlci`` baseline and ``mlci serve`` load registered models through
``pytest_mlci.artifact_check.load_verified``: every file of the version in the store is hashed
against the registered manifest and the model is loaded from the very bytes hashed. This script
registers two models in a fresh embedded registry and times, per model:

  * ``load cached, unchecked``: ``load_model`` on a local copy, no hashing (the floor);
  * ``hash cached copy + load``: what the old path did on a cache hit (checked the copy, not the
    store, so a tampered store passed);
  * ``load_verified`` (now): hash the store's files, load the hashed bytes from memory.

The models are the bundled example's (HistGradientBoosting on 20,000 generated rows) and an
ExtraTrees forest grown until its skops file is about ``--large-mb`` MB. With ``--server URI``
(an ``mlflow server`` with proxied artifacts) the remote check is timed too: listing plus a hash
of the cached copy, against a fresh download and hash every time (``MLCI_ARTIFACT_CHECK=download``).
Medians of ``--repeat`` runs after one warm-up (page cache warm).

Run: .venv/bin/python benchmarks/bench_artifact_check.py [--repeat 5] [--large-mb 100]
     [--server http://127.0.0.1:5000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the bundled example package


def example_model(path: Path) -> None:
    from example.generate import generate
    from example.train import save, train

    save(train(generate(20_000, seed=1)), path)


def large_model(path: Path, megabytes: int) -> None:
    """An ExtraTrees forest whose skops file is about ``megabytes`` MB (fully grown trees)."""
    import numpy as np
    import skops.io as sio
    from sklearn.ensemble import ExtraTreesClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 10))
    y = (x[:, 0] + rng.normal(size=20_000) > 0).astype(int)
    one = sio.dumps(ExtraTreesClassifier(n_estimators=4, random_state=0).fit(x, y))
    trees = max(4, round(4 * megabytes * 1e6 / len(one)))
    sio.dump(ExtraTreesClassifier(n_estimators=trees, random_state=0, n_jobs=2).fit(x, y), path)


def project(root: Path, name: str, registry: str | None = None):
    from pytest_mlci.config import load_config

    (root / "models").mkdir(parents=True, exist_ok=True)
    extra = f'registry = "{registry}"\n' if registry else ""
    (root / "mlci.toml").write_text(
        f'model = "{name}"\ntask = "binary_classification"\ntarget = "y"\n'
        f'artifact = "models/model.skops"\n{extra}'
        'trusted_types = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",'
        ' "sklearn.tree._tree.Tree"]\n'
    )
    return load_config(root / "mlci.toml")


def median_seconds(fn, repeat: int) -> float:
    fn()  # warm-up: page cache, first imports
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(config, version, repeat: int, cache: Path) -> dict[str, float]:
    from pytest_mlci.artifact_check import load_verified, verify
    from pytest_mlci.model_io import load_model, sha256_file

    copy = verify(version, cache, registry_uri=config.registry_uri,
                  state_dir=config.state_dir).path  # fmt: skip

    trusted = config.trusted_types

    def unchecked() -> None:
        load_model(copy, trusted_types=trusted)

    def old_cache_hit() -> None:
        assert sha256_file(copy) == version.digest
        load_model(copy, trusted_types=trusted)

    def now() -> None:
        load_verified(version, cache, registry_uri=config.registry_uri,
                      state_dir=config.state_dir, trusted_types=trusted)  # fmt: skip

    return {
        "load cached, unchecked": median_seconds(unchecked, repeat),
        "hash cached copy + load (old)": median_seconds(old_cache_hit, repeat),
        "load_verified (now)": median_seconds(now, repeat),
    }


def download_each_time(config, version, repeat: int, cache: Path) -> float:
    """The strict remote check: ``MLCI_ARTIFACT_CHECK=download`` (no listing shortcut)."""
    from pytest_mlci.artifact_check import CHECK_ENV, load_verified

    os.environ[CHECK_ENV] = "download"
    try:
        return median_seconds(
            lambda: load_verified(
                version, cache, registry_uri=config.registry_uri, trusted_types=config.trusted_types
            ),
            repeat,
        )
    finally:
        del os.environ[CHECK_ENV]


def main() -> None:
    from mlci_local.registry import Registry
    from pytest_mlci.model_io import sha256_file

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--large-mb", type=int, default=100)
    parser.add_argument("--server", help="an mlflow server URI to time the remote check too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = {"example": Path(tmp) / "example.skops", "large": Path(tmp) / "large.skops"}
        example_model(models["example"])
        large_model(models["large"], args.large_mb)
        rows = []
        for label, source in models.items():
            size = source.stat().st_size / 1e6
            backends = [("embedded", None)] + ([("server", args.server)] if args.server else [])
            for backend, uri in backends:
                root = Path(tmp) / f"{label}-{backend}"
                config = project(root, f"bench-{uuid.uuid4().hex[:8]}", uri)
                config.artifact.write_bytes(source.read_bytes())
                registry = Registry(config)
                version = registry.register(
                    config.artifact, sha256_file(config.artifact), tags={}
                ).version
                cache = root / "cache"
                figures = measure(config, version, args.repeat, cache)
                if uri:
                    figures["load_verified, download every time"] = download_each_time(
                        config, version, args.repeat, cache
                    )
                floor = figures["load cached, unchecked"]
                for what, seconds in figures.items():
                    rows.append(
                        (f"{label} ({size:.1f} MB)", backend, what, seconds, seconds / floor)
                    )
    print(f"{'model':<20} {'store':<9} {'how':<38} {'seconds':>8} {'vs floor':>9}")
    for model, backend, what, seconds, ratio in rows:
        print(f"{model:<20} {backend:<9} {what:<38} {seconds:>8.3f} {ratio:>8.2f}x")


if __name__ == "__main__":
    main()
