"""What the dashboard shows, read from the ledger alone.

Why the ledger and not the registry: the ledger already holds every run, registration (with
its evaluation summary and lineage), promotion, rollback, canary, shadow and approval, in
order and tamper-evident; reading it is one sequential pass over a local file or one query,
so the site for a thousand versions builds in seconds and needs no MLflow import. Versions
registered before the register record carried its evaluation show "not recorded".

Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mlci_local.delivery_metrics import (
    DeliveryMetrics,
    compute_delivery_metrics,
    parse_time,
)
from mlci_local.delivery_metrics import record_data as _data
from mlci_local.run_journal import RunRecord, runs_of

#: Runs listed one by one on the health page (older ones are in the charts and counts).
RECENT_RUNS = 200


@dataclass
class Version:
    """One registered version: when, from which commit, what its evaluation said."""

    version: str
    registered: str
    commit: str = "none"
    author: str = "unknown"
    digest: str = ""
    quality: dict[str, Any] | None = None
    lineage: dict[str, Any] | None = None
    promoted: list[str] = field(default_factory=list)  # times it entered production
    rolled_back: list[str] = field(default_factory=list)  # times a rollback took it out
    canaries: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    staging: str | None = None  # "pass" / "fail" of the newest staging record

    def gate(self, metric: str) -> dict[str, Any] | None:
        """The first gate on ``metric`` (its estimate and interval), if recorded."""
        for gate in (self.quality or {}).get("gates", []):
            if gate.get("metric") == metric and gate.get("candidate"):
                return gate
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version, "registered": self.registered, "commit": self.commit,
            "author": self.author, "digest": self.digest, "quality": self.quality,
            "lineage": self.lineage, "promoted": self.promoted,
            "rolled_back": self.rolled_back, "canaries": self.canaries,
            "approvals": self.approvals, "staging": self.staging,
        }  # fmt: skip


@dataclass
class Move:
    """Production changed: a promotion or a rollback."""

    time: str
    action: str  # promote | rollback
    version: str
    replaces: str | None
    actor: str
    reason: str


@dataclass
class DashboardData:
    """Everything the pages render for one model."""

    model: str
    built: datetime
    runs: list[RunRecord]
    versions: dict[str, Version]
    moves: list[Move]
    shadows: list[dict[str, Any]]
    metrics: DeliveryMetrics
    weekly: list[Week]
    records: int

    @property
    def production(self) -> str | None:
        return self.moves[-1].version if self.moves else None

    @property
    def gate_metrics(self) -> list[str]:
        """Metrics any version was gated on, in first-seen order."""
        seen: dict[str, None] = {}
        for version in self.versions.values():
            for gate in (version.quality or {}).get("gates", []):
                if gate.get("metric") and gate.get("candidate"):
                    seen.setdefault(gate["metric"], None)
        return list(seen)

    monitors: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def drift_series(self) -> list[tuple[str, dict[str, dict[str, Any]]]]:
        """(time, {dataset: {column: entry}}) in time order: each run's stage 2 drift, and
        each ``mlci monitor`` window's drift of the served features (dataset "served")."""
        series = [(run.started, run.drift) for run in self.runs if run.drift]
        series += [(when, {"served": drift}) for when, drift in self.monitors if drift]
        return sorted(series, key=lambda item: item[0])

    @property
    def drift_columns(self) -> list[tuple[str, str]]:
        """(dataset, column) pairs any run or monitoring window measured drift on."""
        seen: dict[tuple[str, str], None] = {}
        for _, found in self.drift_series:
            for dataset, columns in found.items():
                for column in columns:
                    seen.setdefault((dataset, column), None)
        return sorted(seen)


def load(
    records: Iterable[Any],
    model: str,
    *,
    now: datetime | None = None,
    commit_time: Any = None,
) -> DashboardData:
    """The dashboard's data for ``model`` from ledger ``records`` (one pass); commit times
    from ``commit_time`` (see :func:`commit_times`), else the register record's time."""
    from mlci_local.delivery_metrics import _now

    built = now or _now()
    mine = [r for r in records if _data(r).get("model") == model]
    versions: dict[str, Version] = {}
    moves: list[Move] = []
    shadows: list[dict[str, Any]] = []
    monitors: list[tuple[str, dict[str, Any]]] = []
    by_digest: dict[str, str] = {}
    for record in mine:
        data = _data(record)
        action = record.action
        if action == "register":
            number = str(data.get("version"))
            found = versions.get(number)
            if found is None:
                found = versions[number] = Version(number, record.time)
            found.commit = str(data.get("commit", found.commit))
            found.author = str(data.get("author", found.author))
            found.digest = str(data.get("digest", found.digest))
            found.quality = data.get("quality") or found.quality
            found.lineage = data.get("lineage") or found.lineage
            by_digest[found.digest] = number
        elif action in ("promote", "rollback"):
            number = str(data.get("version"))
            moves.append(Move(record.time, action, number, data.get("replaces"),
                              record.actor, str(data.get("reason") or "")))  # fmt: skip
            target = versions.setdefault(number, Version(number, record.time))
            target.promoted.append(record.time)
            replaced = data.get("replaces")
            if action == "rollback" and replaced is not None:
                versions.setdefault(str(replaced), Version(str(replaced), record.time))
                versions[str(replaced)].rolled_back.append(record.time)
        elif action == "canary":
            number = str(data.get("version"))
            versions.setdefault(number, Version(number, record.time)).canaries.append(
                {
                    "time": record.time,
                    "verdict": data.get("verdict"),
                    "weight": data.get("weight"),
                    "reason": data.get("reason"),
                }
            )
        elif action == "approve":
            number = by_digest.get(str(data.get("digest")), str(data.get("version")))
            versions.setdefault(number, Version(number, record.time)).approvals.append(
                {
                    "time": record.time,
                    "approver": data.get("approver") or record.actor,
                    "role": data.get("role"),
                    "identity": data.get("identity"),
                }
            )
        elif action == "staging":
            number = by_digest.get(str(data.get("digest")), str(data.get("version")))
            if number in versions:
                versions[number].staging = "pass" if data.get("passed") else "fail"
        elif action in ("shadow.start", "shadow.end"):
            shadows.append({"time": record.time, "action": action, **data})
        elif action == "monitor":
            monitors.append((record.time, dict(data.get("drift") or {})))
    runs = runs_of(mine, model)
    metrics = compute_delivery_metrics(mine, model, now=built, commit_time=commit_time, runs=runs)
    return DashboardData(
        model=model,
        built=built,
        runs=runs,
        versions=dict(sorted(versions.items(), key=lambda kv: _version_key(kv[0]))),
        moves=moves,
        shadows=shadows,
        metrics=metrics,
        weekly=_weekly(metrics, runs, built),
        records=len(mine),
        monitors=monitors,
    )


@dataclass(frozen=True)
class Week:
    """One calendar week's numbers for the trend lines (None: nothing to measure)."""

    start: str
    deployments: int
    change_failure_rate: float | None
    lead_time_seconds: float | None  # median of the changes first promoted that week
    restore_seconds: float | None  # median of that week's restores
    reliability: float | None


def _weekly(overall: DeliveryMetrics, runs: list[RunRecord], now: datetime) -> list[Week]:
    """Each calendar week (Monday start, at most the last 52) from the events the overall
    metrics counted, bucketed once: no per-week recomputation over the whole ledger."""
    import statistics

    from mlci_local.run_journal import reliability

    def key(moment: datetime) -> str:
        return _monday(moment).strftime("%Y-%m-%d")

    timeline = overall.timeline
    deployments: dict[str, int] = {}
    failures: dict[str, int] = {}
    lead: dict[str, list[float]] = {}
    restore: dict[str, list[float]] = {}
    for moment in timeline.get("deployments", []):
        deployments[key(moment)] = deployments.get(key(moment), 0) + 1
    for moment in timeline.get("failures", []):
        failures[key(moment)] = failures.get(key(moment), 0) + 1
    for moment, seconds in timeline.get("lead_time", []):
        lead.setdefault(key(moment), []).append(seconds)
    for moment, seconds in timeline.get("time_to_restore", []):
        restore.setdefault(key(moment), []).append(seconds)
    runs_by_week: dict[str, list[RunRecord]] = {}
    for run in runs:
        started = parse_time(run.started)
        if started is not None:
            runs_by_week.setdefault(key(started), []).append(run)
    weeks = []
    monday = _monday(overall.window_start)
    while monday <= now:
        weeks.append(monday)
        monday += timedelta(days=7)
    out = []
    for begin in weeks[-52:]:
        name = begin.strftime("%Y-%m-%d")
        count = deployments.get(name, 0)
        week_runs = runs_by_week.get(name, [])
        rate = reliability(week_runs, begin, begin + timedelta(days=7)).rate if week_runs else None
        out.append(Week(
            start=name,
            deployments=count,
            change_failure_rate=failures.get(name, 0) / count if count else None,
            lead_time_seconds=statistics.median(lead[name]) if name in lead else None,
            restore_seconds=statistics.median(restore[name]) if name in restore else None,
            reliability=rate,
        ))  # fmt: skip
    return out


def _monday(moment: datetime) -> datetime:
    day = moment - timedelta(days=moment.weekday())
    return day.replace(hour=0, minute=0, second=0, microsecond=0)


def commit_times(root: Any) -> Any:
    """A commit-time lookup backed by one ``git log`` of the whole history (one process, not
    one per version); commits it does not list fall back to the register record's time."""
    import subprocess

    known: dict[str, datetime] = {}
    try:
        done = subprocess.run(["git", "log", "--all", "--format=%H %cI"], cwd=root,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        lines = done.stdout.splitlines() if done.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired):
        lines = []
    for line in lines:
        commit, _, when = line.partition(" ")
        moment = parse_time(when)
        if moment is not None:
            known[commit] = moment
    return lambda commit: known.get(commit)


def _version_key(number: str) -> tuple[int, str]:
    return (int(number), "") if number.isdigit() else (1 << 60, number)
