"""Prometheus metrics of the router (``GET /metrics``), through the prometheus-client library.

Every request the router logs is counted once, where it is logged, so ``/metrics`` and the
request log can never disagree: requests and errors by arm, version and status; latency
histograms by arm and version; and the distribution of the predictions served (scores of
classifiers fall in [0, 1]; regressors get wide default buckets). A registry per app, never
the process-global one, so two routers in one process (tests, benchmarks) do not collide.
"""

from __future__ import annotations

from typing import Any

#: Latency buckets in seconds: a model answers in milliseconds, a slow one in a second or two.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))
#: Predictions observed per request at most (a 10,000-row batch is 10 samples, not 10,000).
MAX_OBSERVED = 10


class RouterMetrics:
    """The counters and histograms of one router."""

    def __init__(self, task: str) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["arm", "version"]
        self.requests = Counter(
            "mlci_requests",
            "Requests answered, by arm, version and status",
            [*labels, "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "mlci_errors",
            "Requests answered with a 5xx, by arm and version",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlci_latency_seconds",
            "Model latency per request",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        scores = SCORE_BUCKETS if task != "regression" else Histogram.DEFAULT_BUCKETS
        self.predictions = Histogram(
            "mlci_prediction",
            f"Predictions served (first {MAX_OBSERVED} of each request)",
            labels,
            buckets=scores,
            registry=self.registry,
        )

    def observe(self, record: dict[str, Any]) -> None:
        """Count one request-log record (called where the router logs it)."""
        arm = str(record.get("arm") or "none")
        version = str(record.get("version") or "none")
        status = int(record.get("status") or 0)
        self.requests.labels(arm, version, str(status)).inc()
        if status >= 500:
            self.errors.labels(arm, version).inc()
        latency = record.get("latency_ms")
        if isinstance(latency, (int, float)):
            self.latency.labels(arm, version).observe(latency / 1000.0)
        predictions = record.get("predictions")
        if isinstance(predictions, list):
            histogram = self.predictions.labels(arm, version)
            for value in predictions[:MAX_OBSERVED]:
                score = _score(value)
                if score is not None:
                    histogram.observe(score)

    def exposition(self) -> tuple[bytes, str]:
        """(body, content type) of the Prometheus text format."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _score(value: Any) -> float | None:
    """A number to observe: the value, or a classifier's positive-class probability."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        return float(value[-1]) if len(value) == 2 else float(max(value))
    return None
