"""Offline replay: drive the canary controller from a recorded request log with labels.

Each line of the log is one request: ``{"request_id": ..., "features": {column: value},
"label": ...}``. At each step the replay routes every request by the same sticky hash the
router uses, scores it with the arm's real model (production or candidate, loaded from the
registry after their digests are verified), one row at a time so latencies are per request,
and hands the judge batches of observations. A canary policy is thereby testable in CI with
no live traffic, against the models that would really serve.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlci_local.rollout.live import residual
from mlci_local.rollout.router import bucket  # the live router's split, exactly
from pytest_mlci.errors import DataError


def read_log(path: Path) -> list[dict[str, Any]]:
    """The recorded requests; a malformed line names its line number."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record.get("features"), dict):
                    raise ValueError("no features")
            except (ValueError, AttributeError):
                raise DataError(
                    f"{path}:{number}: not a request record; each line must be JSON with "
                    "'request_id', 'features' and (for the quality judge) 'label'"
                ) from None
            records.append(record)
    if not records:
        raise DataError(f"{path}: the request log is empty")
    return records


class ReplaySource:
    """A :class:`~mlci_local.rollout.controller.TrafficSource` over a recorded log.

    The log is consumed in order across steps; each step draws batches from where the
    previous one stopped, as live traffic would.
    """

    def __init__(self, records: list[dict[str, Any]], production: Any, candidate: Any,
                 *, task: str, batch_size: int = 500) -> None:  # fmt: skip
        self.records = records
        self.models = {"production": production, "candidate": candidate}
        self.task = task
        self.batch_size = batch_size
        self.position = 0

    def batches(self, weight: float) -> Iterator[tuple[Any, Any]]:
        while self.position < len(self.records):
            chunk = self.records[self.position : self.position + self.batch_size]
            self.position += len(chunk)
            yield self._observe(chunk, weight)

    def _observe(self, chunk: list[dict[str, Any]], weight: float) -> tuple[Any, Any]:
        import pandas as pd

        from mlci_local.rollout.judge import ArmObservations

        seen: dict[str, dict[str, list[Any]]] = {
            arm: {"latency": [], "errors": [], "correct": [], "residual": []} for arm in self.models
        }
        for index, record in enumerate(chunk):
            key = str(record.get("request_id", self.position + index))
            arm = "candidate" if bucket(key) < weight else "production"
            row = pd.DataFrame([record["features"]])
            started = time.perf_counter()
            try:
                prediction = self.models[arm].predict(row)[0]
            except Exception:
                seen[arm]["errors"].append(1)
                continue
            seen[arm]["latency"].append((time.perf_counter() - started) * 1000)
            if "label" in record and self.task != "regression":
                seen[arm]["correct"].append(int(prediction == record["label"]))
            elif "label" in record:  # regression: the judge reads prediction - label
                difference = residual(_plain(prediction), record["label"])
                if difference is not None:  # a label that is not a number says nothing
                    seen[arm]["residual"].append(difference)
        arms = []
        for arm in ("production", "candidate"):
            data = seen[arm]
            arms.append(
                ArmObservations(
                    requests=len(data["latency"]) + len(data["errors"]),
                    errors=len(data["errors"]),
                    latency_ms=data["latency"],
                    labelled_correct=data["correct"] if self.task != "regression" else None,
                    labelled_residual=data["residual"] if self.task == "regression" else None,
                )
            )
        return arms[0], arms[1]


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (what the router's JSON log carries)."""
    return value.item() if hasattr(value, "item") else value
