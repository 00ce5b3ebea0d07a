"""The live metrics source: the router's request log and its delayed labels.

Each poll reads the request lines appended since the last one (a byte offset, so nothing is
read twice), keeps the requests served by the production or candidate arm at the current
step, and joins the delayed labels that ``/feedback`` has appended by request id. A label
that arrives after its request was first seen is counted when it arrives: as right or wrong
(classification) and, when prediction and label are both numbers, as the residual
``prediction - label`` the regression judge reads (the judge picks by the model's task).
Batches stop when the step's time budget runs out; a step that saw no traffic is therefore
judged inconclusive by the judge, never passed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlci_local.rollout.router import CANDIDATE, FEEDBACK_LOG, PRODUCTION, REQUEST_LOG


class LogSource:
    """A :class:`~mlci_local.rollout.controller.TrafficSource` over the router's logs."""

    def __init__(self, directory: Path, *, step_seconds: float = 300.0,
                 poll_seconds: float = 10.0, sleep: Any = time.sleep) -> None:  # fmt: skip
        self.requests = directory / REQUEST_LOG
        self.feedback = directory / FEEDBACK_LOG
        self.step_seconds = step_seconds
        self.poll_seconds = poll_seconds
        self.sleep = sleep
        self._request_offset = self.requests.stat().st_size if self.requests.exists() else 0
        self._feedback_offset = self.feedback.stat().st_size if self.feedback.exists() else 0
        self._predicted: dict[str, tuple[str, Any]] = {}  # request id -> (arm, predicted label)
        self._labels: dict[str, Any] = {}

    def batches(self, weight: float) -> Iterator[tuple[Any, Any]]:
        deadline = time.monotonic() + self.step_seconds
        while time.monotonic() < deadline:
            self.sleep(self.poll_seconds)
            yield self._poll()

    def poll(self) -> tuple[Any, Any]:
        """Everything logged since the last poll, as (control, canary) observations."""
        return self._poll()

    def _poll(self) -> tuple[Any, Any]:
        from mlci_local.rollout.judge import ArmObservations

        arms: dict[str, dict[str, list[Any]]] = {
            arm: {"latency": [], "errors": [], "correct": [], "residual": []}
            for arm in (PRODUCTION, CANDIDATE)
        }
        for record in self._read_new(self.requests, "_request_offset"):
            arm = record.get("arm")
            if arm not in arms or record.get("preview"):
                # malformed requests and unavailable models belong to no arm; blue-green's
                # preview requests are its smoke test, not users' traffic
                continue
            if record.get("error"):
                arms[arm]["errors"].append(1)
                continue
            arms[arm]["latency"].append(float(record.get("latency_ms") or 0.0))
            predicted = (record.get("labels") or record.get("predictions") or [None])[0]
            self._predicted[record["request_id"]] = (arm, predicted)
        for item in self._read_new(self.feedback, "_feedback_offset"):
            request_id = item.get("request_id")
            if request_id in self._predicted and request_id not in self._labels:
                self._labels[request_id] = item.get("label")
                arm, predicted = self._predicted[request_id]
                arms[arm]["correct"].append(int(predicted == item.get("label")))
                difference = residual(predicted, item.get("label"))
                if difference is not None:
                    arms[arm]["residual"].append(difference)
        observed = []
        for arm in (PRODUCTION, CANDIDATE):
            data = arms[arm]
            observed.append(
                ArmObservations(
                    requests=len(data["latency"]) + len(data["errors"]),
                    errors=len(data["errors"]),
                    latency_ms=data["latency"],
                    labelled_correct=data["correct"],
                    labelled_residual=data["residual"],
                )
            )
        return observed[0], observed[1]

    def _read_new(self, path: Path, offset_name: str) -> Iterator[dict[str, Any]]:
        if not path.exists():
            return
        with open(path, "rb") as handle:
            handle.seek(getattr(self, offset_name))
            data = handle.read()
        complete = data.rfind(b"\n") + 1  # a line still being written waits for the next poll
        setattr(self, offset_name, getattr(self, offset_name) + complete)
        for line in data[:complete].splitlines():
            try:
                yield json.loads(line)
            except ValueError:
                continue


def residual(predicted: Any, label: Any) -> float | None:
    """``predicted - label`` when both are numbers (not booleans), else None."""
    numbers = (int, float)
    if isinstance(predicted, bool) or isinstance(label, bool):
        return None
    if isinstance(predicted, numbers) and isinstance(label, numbers):
        return float(predicted) - float(label)
    return None
