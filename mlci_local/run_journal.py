"""Every ``mlci run`` in the ledger: when it started, each stage's outcome and seconds, and how
it ended; and the pipeline reliability computed from those records.

Why the ledger and not a log file: the ledger is already the one durable, ordered, shared
record of the pipeline (a file at small scale, PostgreSQL for a team), and a run's end belongs
beside the promotions it caused. Two records per run:

* ``run.start`` (written before stage 1): the run id, the commit, and a fingerprint of the
  inputs (HEAD plus the uncommitted diff of tracked files), so a rerun of the same inputs is
  recognisable;
* ``run`` (written when it ends, however it ends): the outcome, the exit code, every stage
  with its status and seconds, the stage that stopped it and the first line of the reason.

Outcomes, and what they mean for reliability (the playbook's "share of runs not broken by
infrastructure or flaky tests", target over 95 %):

========================  ==================================================  ===============
outcome                   when                                                counts against
========================  ==================================================  ===============
``passed``                exit 0, the model went as far as it should          no
``held``                  exit 0, waiting for approvals or an undecided canary no
``stopped``               exit 1: a check, gate or judge said no              no (a correct no)
``misconfigured``         exit 2: the configuration or command line is wrong  no
``infrastructure``        exit 3: registry, database, engine or a bug         yes
``interrupted``           SIGINT / SIGTERM (a person or CI cancelled it)      not counted
``lost``                  a start with no end, and a later run started        yes
========================  ==================================================  ===============

A ``stopped`` run is counted as **flaky** (against reliability) when a later run of the same
model with the same inputs fingerprint passed or was held: nothing changed, yet the verdict
did. Runs of one model never overlap (the run lock), which is what makes "a later start
means this one is over" sound.

Standard library only: read by ``mlci metrics`` and the dashboard, which start fast.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

START = "run.start"
END = "run"
OUTCOME_BY_EXIT = {0: "passed", 1: "stopped", 2: "misconfigured", 3: "infrastructure"}
#: Outcomes that say the pipeline, not the change, failed.
UNRELIABLE = ("infrastructure", "lost")
#: The playbook's target for pipeline reliability.
RELIABILITY_TARGET = 0.95


class RunInterrupted(BaseException):
    """SIGTERM arrived during a run (a CI job cancelled): unwinds like KeyboardInterrupt so
    the end of the run is recorded and children are stopped, then the process ends."""


# --------------------------------------------------------------------------- writing


def inputs_fingerprint(root: Path) -> tuple[str, str]:
    """(commit, fingerprint): HEAD and a digest of HEAD plus the uncommitted diff of tracked
    files; ("none", "none") outside a git repository."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10)  # fmt: skip
        if head.returncode != 0:
            return "none", "none"
        diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=root,
                              capture_output=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return "none", "none"
    commit = head.stdout.strip()
    digest = hashlib.sha256(commit.encode() + b"\0" + diff.stdout).hexdigest()
    return commit, digest


class RunJournal:
    """Writes one run's ``run.start`` and ``run`` records."""

    def __init__(self, ledger: Any, model: str, root: Path, until: str) -> None:
        self.ledger = ledger
        self.model = model
        self.root = root
        self.until = until
        self.run_id = uuid.uuid4().hex[:16]
        self.started = time.perf_counter()
        self.ended = False

    def start(self) -> None:
        """Record the start; a ledger that cannot be written stops the run (exit 3)."""
        commit, fingerprint = inputs_fingerprint(self.root)
        self.ledger.append(START, {"model": self.model, "run": self.run_id, "until": self.until,
                                   "commit": commit, "inputs": fingerprint})  # fmt: skip

    def end(
        self,
        code: int | None,
        stages: list[Any],
        *,
        interrupted: str | None = None,
        drift: Mapping[str, Any] | None = None,
    ) -> str:
        """Record how the run ended and return the outcome. ``stages`` are the pipeline's
        StageOutcome values; ``interrupted`` names the signal when one ended the run;
        ``drift`` is stage 2's :func:`drift_summary` per dataset."""
        outcome = outcome_of(code, stages, interrupted)
        failed = next((s for s in stages if s.status == "failed"), None)
        data = {
            "model": self.model,
            "run": self.run_id,
            "outcome": outcome,
            "exit_code": code,
            "seconds": round(time.perf_counter() - self.started, 3),
            "stages": [
                {"stage": s.stage, "status": s.status, "seconds": s.seconds} for s in stages
            ],
        }
        if failed is not None:
            data["stopped_at"] = failed.stage
            data["reason"] = failed.detail[:500]
        if interrupted:
            data["signal"] = interrupted
        if drift:
            data["drift"] = dict(drift)
        self.ledger.append(END, data)
        self.ended = True
        return outcome


def outcome_of(code: int | None, stages: list[Any], interrupted: str | None = None) -> str:
    """The outcome name of a run (see the module docstring)."""
    if interrupted:
        return "interrupted"
    if code == 0 and any(s.status == "held" for s in stages):
        return "held"
    return OUTCOME_BY_EXIT.get(code if code is not None else 3, "infrastructure")


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`RunInterrupted` in the main thread (when this
    process has not installed its own handler), so a cancelled CI job still records its end."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        yield
        return

    def raise_interrupted(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
        raise RunInterrupted("SIGTERM")

    signal.signal(signal.SIGTERM, raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def drift_summary(rows: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """{column: {test, score, threshold, verdict}} of the drift rows, one per column: the
    row that decides (a failing one first, else the one nearest its threshold)."""
    chosen: dict[str, dict[str, Any]] = {}
    for row in rows:
        if getattr(row, "check", None) != "drift" or row.column.startswith("<"):
            continue
        score = row.effect_size if row.effect_size is not None else row.statistic
        if score is None or row.threshold in (None, 0):
            continue
        entry = {"test": row.test, "score": round(float(score), 6),
                 "threshold": float(row.threshold), "verdict": row.verdict}  # fmt: skip
        known = chosen.get(row.column)
        if known is None or (entry["verdict"] == "fail", _ratio(entry)) > (
            known["verdict"] == "fail",
            _ratio(known),
        ):
            chosen[row.column] = entry
    return chosen


def _ratio(entry: Mapping[str, Any]) -> float:
    return abs(entry["score"]) / abs(entry["threshold"])


def quality_summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """What a registered version's evaluation said, compactly: each gate's estimate and
    paired delta with their intervals, fairness gaps per attribute, calibration."""

    def interval(estimate: Any) -> list[float] | None:
        if not isinstance(estimate, Mapping) or estimate.get("value") is None:
            return None
        return [round(float(estimate[k]), 6) for k in ("value", "low", "high")]

    gates = [
        {"gate": g.get("gate"), "metric": g.get("metric"), "verdict": g.get("verdict"),
         "candidate": interval(g.get("candidate")), "delta": interval(g.get("delta")),
         "baseline": g.get("baseline")}
        for g in report.get("gates", [])
    ]  # fmt: skip
    gaps: dict[str, dict[str, float]] = {}
    for table in report.get("fairness", []) or []:
        groups = [g for g in table.get("groups", []) if not g.get("excluded")]
        for measure in ("selection_rate", "accuracy", "recall", "precision"):
            values = [g[measure] for g in groups if isinstance(g.get(measure), (int, float))]
            if len(values) >= 2:
                gaps.setdefault(table.get("attribute", "?"), {})[measure] = round(
                    max(values) - min(values), 6
                )
    return {"passed": report.get("passed"), "gates": gates, "fairness_gaps": gaps,
            "calibration": report.get("calibration"), "points": report.get("points"),
            "baseline_version": (report.get("baseline") or {}).get("version")}  # fmt: skip


# --------------------------------------------------------------------------- reading


@dataclass
class RunRecord:
    """One run as read back from the ledger."""

    run: str
    model: str
    started: str
    ended: str | None
    outcome: str  # see the module docstring; "running" when it may still be going
    exit_code: int | None = None
    seconds: float | None = None
    commit: str = "none"
    inputs: str = "none"
    actor: str = ""
    stopped_at: str | None = None
    reason: str | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)
    drift: dict[str, dict[str, Any]] = field(default_factory=dict)  # see drift_summary
    flaky: bool = False

    @property
    def counts_against(self) -> bool:
        return self.outcome in UNRELIABLE or self.flaky

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run, "model": self.model, "started": self.started, "ended": self.ended,
            "outcome": self.outcome, "exit_code": self.exit_code, "seconds": self.seconds,
            "commit": self.commit, "actor": self.actor, "stopped_at": self.stopped_at,
            "reason": self.reason, "stages": self.stages, "flaky": self.flaky,
            "drift": self.drift,
        }  # fmt: skip


def runs_of(records: Iterable[Any], model: str | None = None) -> list[RunRecord]:
    """Every run of ``model`` (all models if None) in ledger order, ends paired with starts,
    lost runs and flaky stops marked."""
    from mlci_local.delivery_metrics import record_data as _data

    runs: dict[str, RunRecord] = {}
    order: list[RunRecord] = []
    for record in records:
        if record.action not in (START, END):
            continue
        data = _data(record)
        if model is not None and data.get("model") != model:
            continue
        run_id = str(data.get("run"))
        if record.action == START:
            found = RunRecord(run=run_id, model=str(data.get("model")), started=record.time,
                              ended=None, outcome="running", commit=str(data.get("commit")),
                              inputs=str(data.get("inputs")), actor=record.actor)  # fmt: skip
            runs[run_id] = found
            order.append(found)
            continue
        found = runs.get(run_id)
        if found is None:  # an end without its start (a pruned or merged ledger): keep it
            found = RunRecord(run=run_id, model=str(data.get("model")), started=record.time,
                              ended=None, outcome="running", actor=record.actor)  # fmt: skip
            runs[run_id] = found
            order.append(found)
        found.ended = record.time
        found.outcome = str(data.get("outcome"))
        found.exit_code = data.get("exit_code")
        found.seconds = data.get("seconds")
        found.stopped_at = data.get("stopped_at")
        found.reason = data.get("reason")
        found.stages = list(data.get("stages") or [])
        found.drift = dict(data.get("drift") or {})
    _mark_lost(order)
    _mark_flaky(order)
    return order


def _mark_lost(order: list[RunRecord]) -> None:
    """A start with no end is over once a later run of the same model started."""
    later_start: set[str] = set()
    for found in reversed(order):
        if found.outcome == "running" and found.model in later_start:
            found.outcome = "lost"
            found.reason = "no end record: the process was killed or the machine went away"
        later_start.add(found.model)


def _mark_flaky(order: list[RunRecord]) -> None:
    """A stop followed, with the same inputs, by a pass or hold: the verdict was not stable."""
    settled: set[tuple[str, str]] = set()
    for found in reversed(order):
        key = (found.model, found.inputs)
        if found.inputs == "none":
            continue
        if found.outcome in ("passed", "held"):
            settled.add(key)
        elif found.outcome == "stopped" and key in settled:
            found.flaky = True


@dataclass(frozen=True)
class Reliability:
    """The share of runs not broken by infrastructure or flaky tests."""

    runs: int  # every run in the window, whatever its outcome
    counted: int  # runs that finished or were lost (interrupted and running ones are not)
    unreliable: int
    by_outcome: Mapping[str, int]
    flaky: int
    rate: float | None  # None: no run counted

    @property
    def meets_target(self) -> bool | None:
        return None if self.rate is None else self.rate > RELIABILITY_TARGET

    def to_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "counted": self.counted, "unreliable": self.unreliable,
                "flaky": self.flaky, "by_outcome": dict(self.by_outcome), "rate": self.rate,
                "target": RELIABILITY_TARGET, "meets_target": self.meets_target}  # fmt: skip


def reliability(runs: Iterable[RunRecord], start: datetime, end: datetime) -> Reliability:
    """Reliability of the runs that started inside [start, end]."""
    from mlci_local.delivery_metrics import parse_time

    chosen = [r for r in runs if (t := parse_time(r.started)) is not None and start <= t <= end]
    by_outcome: dict[str, int] = {}
    for found in chosen:
        by_outcome[found.outcome] = by_outcome.get(found.outcome, 0) + 1
    counted = [r for r in chosen if r.outcome not in ("interrupted", "running")]
    unreliable = sum(1 for r in counted if r.counts_against)
    return Reliability(
        runs=len(chosen),
        counted=len(counted),
        unreliable=unreliable,
        by_outcome=by_outcome,
        flaky=sum(1 for r in counted if r.flaky),
        rate=(len(counted) - unreliable) / len(counted) if counted else None,
    )
