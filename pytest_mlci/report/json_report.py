"""The machine-readable result of an evaluation run (``--mlci-report-json``).

``mlci run`` reads this file to build the gate record that promotion later requires, so it
carries the exact candidate digest and data digest the verdicts were computed on.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pytest_mlci.gates import FAIL, INCONCLUSIVE

SCHEMA_VERSION = 1


def build_report(state: Any, *, exitstatus: int) -> dict[str, Any]:
    """Everything a later stage needs to trust this verdict, as JSON-ready values."""
    evaluation = state.evaluation
    results = evaluation.results
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model": state.config.model,
        "task": state.config.task,
        "pytest_exitstatus": exitstatus,
        "gates": [_result(r) for r in results],
        "crashed": list(state.crashed),
        # why each crashed, one line per item (what `mlci run` prints instead of a traceback)
        "crash_reasons": dict(getattr(state, "crash_reasons", {})),
        "data_checks": [row.as_json() for row in getattr(state, "data_checks", [])],
        # Where each estimate came from: "computed" (with seconds) or read from the "cache";
        # under pytest-xdist each entry names the worker.
        "evaluation_log": list(getattr(evaluation, "log", [])),
    }
    if results:
        report["candidate"] = {
            "path": str(evaluation.artifact),
            "sha256": evaluation.candidate_digest,
        }
        # how each model's labels were obtained: derived from its scores, or predict called
        report["scoring"] = _safe(lambda: evaluation.scoring, {})
        report["data"] = {
            "path": str(state.config.eval_dataset.path),
            "sha256": evaluation.data_digest,
            "rows": evaluation.row_count,
            # "spark": scored on executors, intervals from the Poisson bootstrap (docs/spark.md)
            "engine": state.config.evaluation.engine,
            "location": state.config.eval_dataset.location,
        }
        report["fairness"] = [
            {"attribute": t.attribute, "groups": t.rows, "excluded": list(t.excluded)}
            for t in _safe(evaluation.fairness_tables, [])
        ]
        report["slices"] = _safe(evaluation.slice_tables, [])
        report["calibration"] = _safe(lambda: _calibration(evaluation), None)
        # accuracy on the evaluation data: what `mlci monitor` holds live accuracy against
        report["points"] = _safe(lambda: _points(evaluation), None)
        cost = evaluation.measured_cost
        if cost:
            report["cost"] = cost
        baseline = evaluation.baseline
        report["baseline"] = {
            "status": baseline.status,
            "reason": baseline.reason,
            "version": baseline.version,
            "sha256": baseline.digest,
        }
        if evaluation.known_incompatibility:
            report["baseline"]["incompatible"] = evaluation.known_incompatibility
    judged = bool(results) and not state.crashed
    failed = any(r.verdict in (FAIL, INCONCLUSIVE) for r in results)
    report["passed"] = judged and not failed and exitstatus == 0
    return report


def _safe(call: Any, default: Any) -> Any:
    """Report extras must not turn a finished evaluation into a crash of the report."""
    from pytest_mlci.errors import MlciError

    try:
        return call()
    except MlciError:
        return default


def _result(result: Any) -> dict[str, Any]:
    row = dataclasses.asdict(result)
    for key in ("candidate", "delta"):
        if row[key] is not None:
            row[key] = {k: v for k, v in row[key].items()}
    return row


def results_from_report(report: dict[str, Any]) -> list[Any]:
    """Rebuild the gate results of a JSON report (for ``mlci run``'s display)."""
    from pytest_mlci.evaluation.session import GateResult
    from pytest_mlci.gates import Estimate

    results = []
    for row in report.get("gates", []):
        results.append(
            GateResult(
                gate=row["gate"],
                metric=row["metric"],
                verdict=row["verdict"],
                message=row["message"],
                candidate=Estimate(**row["candidate"]) if row.get("candidate") else None,
                baseline=row.get("baseline"),
                delta=Estimate(**row["delta"]) if row.get("delta") else None,
            )
        )
    return results


def _calibration(evaluation: Any) -> dict[str, float] | None:
    """The candidate's expected calibration error and Brier score (binary, local engine; the
    Spark engine's come from its gates), from the predictions the gates already made."""
    if evaluation.config.task != "binary_classification" or evaluation.spark_engine:
        return None
    from pytest_mlci.evaluation.metrics import get_metric

    predictions = evaluation.candidate_predictions
    if predictions.y_score is None:
        return None
    y = evaluation.y_true
    return {
        name: round(float(get_metric(name, "binary_classification").fn(
            y, predictions.y_pred, predictions.y_score)), 6)
        for name in ("expected_calibration_error", "brier_score")
    }  # fmt: skip


def _points(evaluation: Any) -> dict[str, float] | None:
    """The candidate's plain accuracy (classification, local engine), from the predictions
    the gates already made."""
    if evaluation.config.task == "regression" or evaluation.spark_engine:
        return None
    import numpy as np

    predictions = evaluation.candidate_predictions
    y = np.asarray(evaluation.y_true)
    if evaluation.config.task == "binary_classification":
        y = (y == evaluation.positive_class).astype(np.int64)
    return {"accuracy": round(float(np.mean(np.asarray(predictions.y_pred) == y)), 6)}
