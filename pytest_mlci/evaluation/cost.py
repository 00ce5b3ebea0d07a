"""Cost of serving the model: latency, throughput, size on disk, memory of a predict call.

Latency is measured after a warm-up (first calls pay for lazy initialisation and caches),
one row at a time for the online case and in batches for the offline case; percentiles come
from many timed calls, not one. These are point measurements of this machine, so gates on
them compare values directly (no interval).

Gate names: ``latency.p50_ms``, ``latency.p95_ms``, ``latency.p99_ms`` (one row per call),
``latency.batch_ms`` (one batch), ``throughput.rows_per_s``, ``size.model_mb``,
``memory.predict_mb`` (peak Python-tracked allocation during one batch predict).
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

from pytest_mlci.config import CostSettings

COST_METRICS = (
    "latency.p50_ms",
    "latency.p95_ms",
    "latency.p99_ms",
    "latency.batch_ms",
    "throughput.rows_per_s",
    "size.model_mb",
    "memory.predict_mb",
)


def measure_cost(model: Any, features: Any, artifact: Path, settings: CostSettings) -> dict:
    """Every cost metric of ``model`` on rows of ``features``, as ``{name: value}``."""
    import numpy as np

    predict = _predict_function(model)
    rows = _head(features, max(settings.single_row_calls, 1))
    count = rows.shape[0]
    singles = [_row(rows, i % count) for i in range(settings.single_row_calls)]
    for row in singles[: settings.warmup]:
        predict(row)
    timings = np.empty(len(singles))
    for i, row in enumerate(singles):
        started = time.perf_counter()
        predict(row)
        timings[i] = time.perf_counter() - started
    batch = _head(features, settings.batch_rows)
    batch_times = []
    for _ in range(settings.batch_repeats):
        started = time.perf_counter()
        predict(batch)
        batch_times.append(time.perf_counter() - started)
    batch_seconds = float(np.median(batch_times))
    tracemalloc.start()
    try:
        predict(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    p50, p95, p99 = np.percentile(timings * 1000, [50, 95, 99])
    return {
        "latency.p50_ms": float(p50),
        "latency.p95_ms": float(p95),
        "latency.p99_ms": float(p99),
        "latency.batch_ms": batch_seconds * 1000,
        "throughput.rows_per_s": batch.shape[0] / batch_seconds if batch_seconds > 0 else 0.0,
        "size.model_mb": Path(artifact).stat().st_size / 1e6,
        "memory.predict_mb": peak / 1e6,
    }


def _head(features: Any, rows: int) -> Any:
    """The first ``rows`` rows of a DataFrame, numpy array or CSR matrix (which stays sparse)."""
    return features.head(rows) if hasattr(features, "head") else features[:rows]


def _row(features: Any, index: int) -> Any:
    """One row, still two-dimensional (a one-row frame, array or matrix), as serving sends it."""
    if hasattr(features, "iloc"):
        return features.iloc[[index]]
    return features[index : index + 1]


def _predict_function(model: Any) -> Any:
    """What serving calls: probabilities where the model has them, else predictions."""
    from pytest_mlci.model_adapters import serving_function

    return serving_function(model)
