"""``mlci monitor``: is production still fine now? Drift of the served features and live
quality on delayed labels, over a window of the router's logs, judged by the same judges as
stage 2 (drift) and stage 4 (an interval against a bound), recorded in the ledger.

Retraining is due when a served feature drifted from the reference (any drift row fails, with
the thresholds the dataset declares), or when live accuracy (classification) is below the
evaluation's estimate for the serving version by more than the margin with the whole interval
(Wilson, 95 %) below it: the stage 4 rule, "the whole interval must clear the bound", turned
around so that noise never triggers a retrain.

The request log is read line by line (a million requests is a few hundred MB); only rows in
the window are kept, and a malformed line is counted and skipped, never fatal: a log the
router was writing when the job started may end in half a line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pytest_mlci.errors import ConfigError, DataError

#: Fewer served rows than this in the window: drift is not judged (too few to say anything).
MIN_ROWS = 200
#: Fewer labelled requests than this: live quality is not judged.
MIN_LABELS = 200


@dataclass
class ServedWindow:
    """What the router logged in the window."""

    requests: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    predicted: dict[str, tuple[str, Any]] = field(default_factory=dict)  # id -> (version, label)
    versions: dict[str, int] = field(default_factory=dict)
    skipped_lines: int = 0


@dataclass
class MonitorResult:
    """The verdict of one monitoring window."""

    window_hours: float
    served: ServedWindow
    drift_rows: list[Any]
    drifted: list[str]
    quality: dict[str, Any]
    due: bool
    reasons: list[str]

    def record(self, model: str) -> dict[str, Any]:
        """The ledger record's data."""
        from mlci_local.run_journal import drift_summary

        return {
            "model": model, "window_hours": self.window_hours,
            "requests": self.served.requests, "rows": len(self.served.rows),
            "versions": self.served.versions, "drift": drift_summary(self.drift_rows),
            "drifted": self.drifted, "quality": self.quality, "retrain": self.due,
            "reasons": self.reasons, "skipped_lines": self.served.skipped_lines,
        }  # fmt: skip


def read_window(log: Path, since: datetime, *, max_rows: int = 2_000_000) -> ServedWindow:
    """Requests answered (status 200) at or after ``since``: their logged feature rows, the
    label each predicted, and the version that answered."""
    from mlci_local.delivery_metrics import parse_time

    served = ServedWindow()
    cutoff = since.strftime("%Y-%m-%dT%H:%M:%S")
    for record in _lines(log, served):
        when = record.get("time")
        # ISO times in UTC compare as text; parse only the ones that look different
        if not isinstance(when, str):
            continue
        if when[:19] < cutoff and (parsed := parse_time(when)) is not None and parsed < since:
            continue
        if record.get("status") != 200:
            continue
        served.requests += 1
        version = str(record.get("version"))
        served.versions[version] = served.versions.get(version, 0) + 1
        labels = record.get("labels") or record.get("predictions") or [None]
        if isinstance(record.get("request_id"), str):
            served.predicted[record["request_id"]] = (version, labels[0])
        features = record.get("features")
        if isinstance(features, list) and len(served.rows) < max_rows:
            served.rows.extend(f for f in features if isinstance(f, dict))
    return served


def _lines(path: Path, served: ServedWindow) -> Iterator[dict[str, Any]]:
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise DataError(
            f"{path}: no request log; `mlci serve` writes it (or pass --log FILE)"
        ) from None
    with handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                served.skipped_lines += 1
                continue
            if isinstance(record, dict):
                yield record


def read_labels(path: Path, wanted: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """Delayed labels of the requests in ``wanted`` (the first label given per request)."""
    labels: dict[str, Any] = {}
    if not path.exists():
        return labels
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            request_id = item.get("request_id") if isinstance(item, dict) else None
            if request_id in wanted and request_id not in labels:
                labels[request_id] = item.get("label")
    return labels


def monitor(
    config: Any,
    *,
    window_hours: float,
    log: Path,
    feedback: Path,
    dataset_name: str | None = None,
    now: datetime | None = None,
    quality_margin: float = 0.02,
    expected: Any = None,
) -> MonitorResult:
    """Judge the window; nothing is written here (the command records the result).
    ``expected(versions)`` gives the evaluation's accuracy for the versions that served
    (see :func:`expected_accuracy`), None when none is recorded."""
    import pandas as pd

    from mlci_local.delivery_metrics import _now
    from pytest_mlci.data.drift import check_drift

    dataset = _dataset(config, dataset_name)
    end = now or _now()
    served = read_window(log, end - timedelta(hours=window_hours))
    reasons: list[str] = []
    drift_rows: list[Any] = []
    drifted: list[str] = []
    if len(served.rows) >= MIN_ROWS:
        current = pd.DataFrame.from_records(served.rows)
        reference = _reference(dataset, config.root)
        shared = [c for c in reference.columns if c in current.columns]
        if not shared:
            raise DataError(
                f"the served features ({', '.join(map(str, current.columns[:8]))}) share no "
                f"column with the reference of dataset '{dataset.name}'"
            )
        drift_rows = check_drift(reference[shared], current[shared], dataset)
        drifted = sorted({r.column for r in drift_rows if r.verdict == "fail"})
        if drifted:
            reasons.append(f"served features drifted from the reference: {', '.join(drifted)}")
    accuracy = expected(served.versions) if expected is not None else None
    quality = _quality(config, served, feedback, quality_margin, accuracy)
    if quality.get("degraded"):
        reasons.append(quality["why"])
    return MonitorResult(window_hours, served, drift_rows, drifted, quality, bool(reasons),
                         reasons)  # fmt: skip


def _dataset(config: Any, name: str | None) -> Any:
    if name is not None:
        if name not in config.datasets:
            raise ConfigError(
                f"no dataset '{name}'; declared: {', '.join(config.datasets) or 'none'}",
                key="datasets",
            )
        chosen = config.datasets[name]
    else:
        chosen = next((d for d in config.datasets.values() if d.reference is not None), None)
        if chosen is None:
            raise ConfigError(
                "mlci monitor compares served features with a dataset's reference, and no "
                "dataset declares one; add reference = '...' to a [tool.mlci.datasets.NAME]",
                key="datasets",
            )
    if chosen.reference is None:
        raise ConfigError(
            f"dataset '{chosen.name}' declares no reference to compare served features with; "
            "add reference = '...'",
            key=f"datasets.{chosen.name}.reference",
        )
    return chosen


def _reference(dataset: Any, root: Path) -> Any:
    from pytest_mlci.data.validate import DatasetChecks

    return DatasetChecks(dataset, root=root).frame("reference")


def _quality(
    config: Any,
    served: ServedWindow,
    feedback: Path,
    margin: float,
    expected: float | None,
) -> dict[str, Any]:
    """Live accuracy on delayed labels against the evaluation's estimate for the version."""
    if config.task == "regression":
        return {"judged": False, "why": "live quality is judged for classifiers only"}
    labels = read_labels(feedback, served.predicted)
    if len(labels) < MIN_LABELS:
        why = f"{len(labels)} labelled requests in the window (needs {MIN_LABELS})"
        return {"judged": False, "labelled": len(labels), "why": why}
    from scipy.stats import binomtest

    hits = sum(1 for rid, label in labels.items() if str(served.predicted[rid][1]) == str(label))
    n = len(labels)
    interval = binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    found = {"judged": expected is not None, "labelled": n, "accuracy": hits / n,
             "low": float(interval.low), "high": float(interval.high), "expected": expected,
             "margin": margin}  # fmt: skip
    if expected is None:
        found["why"] = "no evaluation estimate of accuracy recorded for the serving version"
        return found
    bound = expected - margin
    found["degraded"] = bool(interval.high < bound)
    if found["degraded"]:
        found["why"] = (
            f"live accuracy {hits / n:.3f} [{interval.low:.3f}, {interval.high:.3f}] on {n} "
            f"labelled requests is below the evaluation's {expected:.3f} - {margin:g}"
        )
    return found


def expected_accuracy(ledger: Any, model: str, versions: dict[str, int]) -> float | None:
    """The recorded evaluation estimate of accuracy for the version that served most: a gate
    on accuracy if there was one, else the report's plain accuracy (register record)."""
    if not versions:
        return None
    serving = max(versions, key=lambda v: versions[v])
    found = ledger.find("register", model=model, version=serving)
    if not found:
        return None
    quality = found[-1].data.get("quality") or {}
    for gate in quality.get("gates", []):
        if gate.get("metric") == "accuracy" and gate.get("candidate"):
            return float(gate["candidate"][0])
    point = (quality.get("points") or {}).get("accuracy")
    return None if point is None else float(point)
