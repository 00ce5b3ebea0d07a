"""`GET /metrics` on the router: scraped and parsed by prometheus-client's own parser, the
counts agree with the request log, and `[serve] metrics = false` removes the route."""

from __future__ import annotations

import dataclasses

from prometheus_client.parser import text_string_to_metric_families

from tests.rollout.test_router import CAND, PROD, Constant, request_log, serve, set_state
from tests.rollout.test_router import config as config


class Raises(Constant):
    def predict_proba(self, X):
        raise ValueError("model exploded")


def scraped(client) -> dict[str, dict[tuple, float]]:
    """{sample name: {labels as sorted tuple: value}} from a real scrape."""
    reply = client.get("/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain; version=")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(reply.body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_metrics_count_requests_errors_latency_and_scores_per_arm(config):
    set_state(config, "canary", 0.5)
    client = serve(config)
    for i in range(40):
        assert client.score(key=f"user-{i}").status == 200
    samples = scraped(client)
    log = request_log(config)
    by_arm = {arm: sum(1 for r in log if r["arm"] == arm) for arm in ("production", "candidate")}
    assert by_arm["production"] > 0 and by_arm["candidate"] > 0
    requests = samples["mlci_requests_total"]
    assert (
        requests[(("arm", "candidate"), ("status", "200"), ("version", "2"))] == by_arm["candidate"]
    )
    production = [v for k, v in requests.items() if ("arm", "production") in k]
    assert sum(production) == by_arm["production"]
    counts = samples["mlci_latency_seconds_count"]
    assert sum(counts.values()) == 40
    # scores: production answers 0.25, the candidate 0.75: each lands in its own bucket
    buckets = samples["mlci_prediction_bucket"]
    candidate_low = [v for k, v in buckets.items() if ("arm", "candidate") in k
                     and ("le", "0.5") in k]  # fmt: skip
    production_low = [v for k, v in buckets.items() if ("arm", "production") in k
                      and ("le", "0.3") in k]  # fmt: skip
    assert candidate_low == [0.0] and production_low == [by_arm["production"]]
    assert PROD < 0.3 < 0.5 < CAND


def test_errors_are_counted_for_the_arm_that_raised(config):
    set_state(config, "canary", 1.0)
    client = serve(config, candidate=Raises(CAND))
    for i in range(5):
        assert client.score(key=f"k{i}").status == 500
    samples = scraped(client)
    assert samples["mlci_errors_total"][(("arm", "candidate"), ("version", "2"))] == 5


def test_metrics_off_removes_the_route(config):
    off = dataclasses.replace(config, serve=dataclasses.replace(config.serve, metrics=False))
    client = serve(off)
    assert client.score().status == 200
    assert client.get("/metrics").status == 404


def test_the_request_log_keeps_the_served_features_for_monitoring(config):
    from tests.rollout.test_router import COLUMNS, ROW

    client = serve(config)
    assert client.score(rows=3).status == 200
    [line] = request_log(config)
    assert line["features"] == [dict(zip(COLUMNS, ROW, strict=True))] * 3
    off = dataclasses.replace(config, serve=dataclasses.replace(config.serve, log_features=False))
    assert serve(off).score().status == 200
    assert "features" not in request_log(config)[-1]


def test_logged_rows_are_plain_json_values():
    import json
    import math

    import numpy as np
    import pandas as pd

    from mlci_local.rollout.router import _logged_rows

    frame = pd.DataFrame({"a": [1.5, np.nan, np.inf], "b": np.array([1, 2, 3], dtype="int32"),
                          "c": ["x", None, "z"]})  # fmt: skip
    rows = _logged_rows(frame)
    assert rows == [{"a": 1.5, "b": 1, "c": "x"}, {"a": None, "b": 2, "c": None},
                    {"a": None, "b": 3, "c": "z"}]  # fmt: skip
    text = json.dumps(rows)  # strict JSON: no NaN or Infinity
    assert "NaN" not in text and "Infinity" not in text
    assert not any(isinstance(v, float) and math.isnan(v) for r in rows for v in r.values())
