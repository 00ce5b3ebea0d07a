"""A long, realistic ledger history for the dashboard's tests and benchmark.

Written record by record through the ledger's own chaining (``make_record``) with a simulated
clock, so the file verifies like one the pipeline wrote over months: per version several CI
runs (mostly passing, some stopped by a gate, a few infrastructure failures and flaky stops),
a registration with its evaluation summary and lineage, staging, a canary with its steps and
judgements, approvals, a promotion, and now and then a failed canary and a rollback.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

from mlci_local import ledger as ledger_module

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def write_history(
    path: Path, *, model: str = "churn", versions: int = 12, runs_per_version: int = 3,
    seed: int = 0,
) -> int:  # fmt: skip
    """Write the history to ``path``; return the number of records."""
    rng = random.Random(seed)
    clock = [START]
    lines: list[str] = []
    last: list[ledger_module.LedgerRecord | None] = [None]

    def tick(minutes: float) -> None:
        clock[0] += timedelta(minutes=minutes)

    def append(action: str, data: dict, actor: str = "ci@example.com") -> None:
        with mock.patch.object(ledger_module, "_utc_now",
                               lambda: clock[0].strftime("%Y-%m-%dT%H:%M:%S.%fZ")):  # fmt: skip
            record = ledger_module.next_record(last[0], action=action, actor=actor,
                                               data={"model": model, **data})  # fmt: skip
        last[0] = record
        lines.append(record.to_json())

    production = None
    auc = 0.80
    run_number = 0
    for number in range(1, versions + 1):
        commit = f"{rng.getrandbits(160):040x}"
        inputs = f"{rng.getrandbits(256):064x}"
        for attempt in range(runs_per_version):
            run_number += 1
            run_id = f"run{run_number:06d}"
            tick(rng.uniform(20, 300))
            append("run.start", {"run": run_id, "commit": commit, "inputs": inputs,
                                 "until": "promote"})  # fmt: skip
            last_attempt = attempt == runs_per_version - 1
            roll = rng.random()
            if last_attempt:
                outcome, code, stopped = "passed", 0, None
            elif roll < 0.06:
                outcome, code, stopped = "infrastructure", 3, "register"
            elif roll < 0.10:  # a flaky stop: the same inputs pass on the last attempt
                outcome, code, stopped = "stopped", 1, "evaluate"
            else:
                outcome, code, stopped = "stopped", 1, rng.choice(["static", "data", "evaluate"])
                inputs = f"{rng.getrandbits(256):064x}"  # a fix commit follows
            stages = []
            for stage in ("static", "data", "train", "evaluate", "register", "stage", "promote"):
                seconds = {"static": 1.2, "data": 8.0, "train": 95.0, "evaluate": 40.0,
                           "register": 3.0, "stage": 12.0, "promote": 60.0}[stage]  # fmt: skip
                failed = stage == stopped
                stages.append({"stage": stage, "status": "failed" if failed else "ok",
                               "seconds": round(seconds * rng.uniform(0.7, 1.5), 2)})  # fmt: skip
                if failed:
                    break
            drift = {"eval": {
                column: {"test": "psi", "score": round(abs(rng.gauss(base, base / 2)), 4),
                         "threshold": 0.2, "verdict": "pass"}
                for column, base in (("age", 0.03), ("income", 0.08), ("channel", 0.05))
            }}  # fmt: skip
            if number % 9 == 0:
                drift["eval"]["income"].update(score=0.31, verdict="fail")
            tick(sum(s["seconds"] for s in stages) / 60)
            total = round(sum(s["seconds"] for s in stages), 2)
            end = {"run": run_id, "outcome": outcome, "exit_code": code, "stages": stages,
                   "seconds": total, "drift": drift}  # fmt: skip
            if stopped:
                end.update(stopped_at=stopped, reason=f"{stopped} said no")
            append("run", end)
        auc = min(0.95, max(0.70, auc + rng.gauss(0.002, 0.01)))
        digest = f"{rng.getrandbits(256):064x}"
        width = 0.012
        delta = rng.gauss(0.002, 0.006)
        append("register", {
            "version": str(number), "digest": digest, "created": True, "commit": commit,
            "dirty": False, "author": "dev@example.com",
            "quality": {
                "passed": True, "baseline_version": production,
                "gates": [
                    {"gate": "roc_auc >= 0.75", "metric": "roc_auc", "verdict": "pass",
                     "candidate": [round(auc, 6), round(auc - width, 6), round(auc + width, 6)],
                     "delta": None, "baseline": None},
                    {"gate": "roc_auc >= baseline - 0.01", "metric": "roc_auc", "verdict": "pass",
                     "candidate": [round(auc, 6), round(auc - width, 6), round(auc + width, 6)],
                     "delta": [round(delta, 6), round(delta - 0.005, 6), round(delta + 0.005, 6)]
                     if production else None, "baseline": None},
                    {"gate": "f1 >= 0.35", "metric": "f1", "verdict": "pass",
                     "candidate": [round(auc - 0.4, 6), round(auc - 0.42, 6),
                                   round(auc - 0.38, 6)], "delta": None, "baseline": None},
                ],
                "fairness_gaps": {"age_band": {"selection_rate": round(rng.uniform(0.01, 0.08), 4),
                                               "recall": round(rng.uniform(0.02, 0.12), 4)}},
                "calibration": {"expected_calibration_error": round(rng.uniform(0.005, 0.03), 5),
                                "brier_score": round(rng.uniform(0.08, 0.12), 5)},
            },
            "lineage": {"data": f"{rng.getrandbits(256):064x}",
                        "dvc": {"data/train.parquet": f"{rng.getrandbits(128):032x}",
                                "models/model.skops": f"{rng.getrandbits(128):032x}"},
                        "params": {"train.seed": str(number % 5), "train.max_iter": "200",
                                   "train.learning_rate": str(round(rng.uniform(0.05, 0.2), 3))}},
        })  # fmt: skip
        tick(2)
        append("staging", {"version": str(number), "digest": digest, "passed": True})
        if number % 3 == 0:
            append("approve", {"version": str(number), "digest": digest,
                               "approver": "lead@example.com", "role": "ml-lead",
                               "identity": "ssh"}, actor="lead@example.com")  # fmt: skip
        failed_canary = production is not None and number % 7 == 0
        for step, weight in enumerate((0.25, 0.5, 1.0)):
            tick(10)
            append("canary.step", {"version": str(number), "step": step, "weight": weight})
            append("canary.judgement", {"version": str(number), "step": step, "weight": weight,
                                        "verdict": "pass"})  # fmt: skip
            if failed_canary and step == 1:
                break
        if failed_canary:
            append("canary", {"version": str(number), "digest": digest, "passed": False,
                              "verdict": "fail", "weight": 0.5,
                              "reason": "quality worse than production"})  # fmt: skip
            continue
        append("canary", {"version": str(number), "digest": digest, "passed": True,
                          "verdict": "pass", "weight": 1.0})  # fmt: skip
        append("promote.intent", {"version": str(number), "replaces": production})
        append("promote", {"version": str(number), "replaces": production, "digest": digest,
                           "reason": "canary passed", "traffic": "all"})  # fmt: skip
        previous, production = production, str(number)
        if number % 11 == 0 and previous:
            tick(rng.uniform(4, 40))
            append("rollback.intent", {"version": previous, "replaces": production})
            append("rollback", {"version": previous, "replaces": production,
                                "reason": "error rate rose after promotion"},
                   actor="oncall@example.com")  # fmt: skip
            production = previous
        tick(rng.uniform(60, 60 * 30))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)
