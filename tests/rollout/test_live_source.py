"""The live metrics source reads the router's logs incrementally and joins delayed labels."""

from __future__ import annotations

import json

from mlci_local.rollout.live import LogSource


def append(path, *records):
    with open(path, "a") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


def request(request_id, arm, *, error=None, label=1, latency=4.0):
    return {"request_id": request_id, "arm": arm, "latency_ms": latency, "error": error,
            "labels": [label], "predictions": [0.7]}  # fmt: skip


def test_new_requests_and_late_labels_are_counted_once(tmp_path):
    requests, feedback = tmp_path / "requests.jsonl", tmp_path / "feedback.jsonl"
    append(requests, request("old", "candidate"))  # before the canary: never counted
    source = LogSource(tmp_path, step_seconds=60, poll_seconds=0, sleep=lambda s: None)
    batches = source.batches(0.25)
    append(requests, request("a", "production"), request("b", "candidate"),
           request("c", "candidate", error="boom"), {"request_id": "d", "arm": None,
           "error": "bad request: no rows"})  # fmt: skip
    append(feedback, {"request_id": "a", "label": 1}, {"request_id": "b", "label": 0})
    control, canary = next(batches)
    assert (control.requests, control.errors, list(control.labelled_correct)) == (1, 0, [1])
    assert (canary.requests, canary.errors, list(canary.labelled_correct)) == (2, 1, [0])
    append(feedback, {"request_id": "b", "label": 0}, {"request_id": "old", "label": 1})
    with open(requests, "a") as handle:
        handle.write('{"request_id": "e", "arm": "produc')  # a line still being written
    control, canary = next(batches)
    assert control.requests == canary.requests == 0
    assert list(canary.labelled_correct) == []  # b's label was counted once; old is unknown
    with open(requests, "a") as handle:
        handle.write('tion", "latency_ms": 3.0, "error": null, "labels": [1]}\n')
    control, _ = next(batches)
    assert control.requests == 1


def test_a_step_ends_when_its_time_budget_runs_out(tmp_path):
    source = LogSource(tmp_path, step_seconds=0.0, poll_seconds=0, sleep=lambda s: None)
    assert list(source.batches(0.05)) == []
