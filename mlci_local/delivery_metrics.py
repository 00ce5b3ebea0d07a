"""Delivery metrics (the four DORA keys) for one model, computed from the audit ledger alone.

The ledger already records every deployment and every undo with a trustworthy time, so no
other system is needed:

* **deployment frequency**: completed ``promote`` records over the observed window (from
  ``--since`` days ago, else from the model's first ledger record, to now). A rate is never
  extrapolated beyond the window: per week only once the window spans a week, per day once it
  spans a day; before that the count over the actual window is reported ("2 deployments in
  2m 00s"), since two promotions in two minutes say nothing about a week (they printed
  "14.00/week" when a short window was stretched to a day);
* **lead time for changes**: commit time to production, for each version's *first*
  promotion in the window (promoting an old version again is not a new change). The commit is
  the one the ``register`` record names; its time comes from ``git show -s --format=%cI`` in
  the project, else (no git, unknown commit) the ``register`` record's time, which is later
  than the commit and so understates the lead time; the sources are counted in the output.
  Median and 90th percentile (linear interpolation, numpy's default);
* **change failure rate**: (rollbacks + failed canaries) / deployments. A failed canary that
  is then rolled back is one failure, not two;
* **time to restore**: from a promotion to the rollback that undid it (the latest promotion
  of the version the rollback replaced); median.

Standard library only: ``mlci metrics`` needs neither MLflow nor pandas.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "DeliveryMetrics",
    "Distribution",
    "compute_delivery_metrics",
    "delivery_metrics",
    "format_duration",
    "format_table",
    "git_commit_time",
    "parse_time",
    "percentile",
    "record_data",
]

_DAY = 86400.0
#: The playbook's targets: deploy at least monthly, lead time under a day, change failure
#: rate under 5 %, time to restore under 15 minutes, pipeline reliability over 95 %.
TARGETS = {"lead_time": 86400.0, "change_failure_rate": 0.05, "time_to_restore": 900.0}
TARGET_TEXT = {
    "deployment_frequency": "at least monthly",
    "lead_time": "under 24 h",
    "change_failure_rate": "under 5 %",
    "time_to_restore": "under 15 min",
    "pipeline_reliability": "over 95 %",
}
_COMMIT = re.compile(r"[0-9a-f]{7,64}")

CommitTime = Callable[[str], "datetime | None"]


@dataclass(frozen=True)
class Distribution:
    """Durations in seconds: how many, their median and 90th percentile (None if empty)."""

    count: int
    median_seconds: float | None
    p90_seconds: float | None

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Distribution:
        values = sorted(seconds)
        if not values:
            return cls(0, None, None)
        return cls(len(values), percentile(values, 0.5), percentile(values, 0.9))


@dataclass(frozen=True)
class DeliveryMetrics:
    """The four delivery metrics of one model over one window, with the counts behind them."""

    model: str
    window_start: datetime
    window_end: datetime
    window_days: float
    deployments: int
    deployments_per_day: float | None  # None: the window is shorter than a day
    deployments_per_week: float | None  # None: the window is shorter than a week
    lead_time: Distribution
    lead_time_sources: Mapping[str, int] = field(default_factory=dict)
    lead_time_unknown: int = 0
    rollbacks: int = 0
    failed_canaries: int = 0
    failures: int = 0
    change_failure_rate: float | None = None
    time_to_restore: Distribution = Distribution(0, None, None)
    reliability: Any = None  # mlci_local.run_journal.Reliability of the window's runs
    # when each counted event happened, for trends (the dashboard buckets these by week):
    # "deployments" and "failures" are datetimes, "lead_time" and "time_to_restore" are
    # (datetime of the promotion or rollback, seconds)
    timeline: Mapping[str, list[Any]] = field(default_factory=dict, compare=False, repr=False)

    def targets(self) -> dict[str, bool | None]:
        """Whether each metric meets the playbook's target (None: nothing to judge yet)."""
        months = max(self.window_days, 30.0) / 30.0
        lead, restore = self.lead_time.median_seconds, self.time_to_restore.median_seconds
        rate = self.change_failure_rate
        return {
            "deployment_frequency": self.deployments / months >= 1,
            "lead_time": None if lead is None else lead < TARGETS["lead_time"],
            "change_failure_rate": None if rate is None else rate < TARGETS["change_failure_rate"],
            "time_to_restore": None if restore is None else restore < TARGETS["time_to_restore"],
            "pipeline_reliability": (
                None if self.reliability is None else self.reliability.meets_target
            ),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 UTC, durations in seconds."""
        return {
            "model": self.model,
            "window": {
                "start": _iso(self.window_start),
                "end": _iso(self.window_end),
                "days": self.window_days,
                "seconds": (self.window_end - self.window_start).total_seconds(),
            },
            "deployment_frequency": {
                "deployments": self.deployments,
                "per_day": self.deployments_per_day,
                "per_week": self.deployments_per_week,
            },
            "lead_time": {
                "changes": self.lead_time.count,
                "median_seconds": self.lead_time.median_seconds,
                "p90_seconds": self.lead_time.p90_seconds,
                "commit_time_from": dict(self.lead_time_sources),
                "unknown": self.lead_time_unknown,
            },
            "change_failure_rate": {
                "rate": self.change_failure_rate,
                "failures": self.failures,
                "rollbacks": self.rollbacks,
                "failed_canaries": self.failed_canaries,
                "deployments": self.deployments,
            },
            "time_to_restore": {
                "restores": self.time_to_restore.count,
                "median_seconds": self.time_to_restore.median_seconds,
            },
            "pipeline_reliability": self.reliability.to_dict() if self.reliability else None,
            "targets": {
                name: {"target": TARGET_TEXT[name], "meets": meets}
                for name, meets in self.targets().items()
            },
        }


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of sorted ``values`` by linear interpolation between ranks."""
    if not values:
        raise ValueError("percentile of no values")
    rank = q * (len(values) - 1)
    low = int(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


def delivery_metrics(
    config: Any, *, since_days: float | None = None, now: datetime | None = None
) -> DeliveryMetrics:
    """The metrics of the configured model from its ledger; commit times from its git repo."""
    from mlci_local.promotion import ledger_for

    ledger = ledger_for(config)
    root = Path(config.root)
    cache: dict[str, datetime | None] = {}

    def commit_time(commit: str) -> datetime | None:
        if commit not in cache:
            cache[commit] = git_commit_time(root, commit)
        return cache[commit]

    return compute_delivery_metrics(
        ledger.find(model=config.model),
        config.model,
        now=now,
        since_days=since_days,
        commit_time=commit_time,
    )


def git_commit_time(root: Path, commit: str) -> datetime | None:
    """The committer time of ``commit`` in the repository at ``root``; None if unavailable.

    Only a hex commit id is passed to git: a ledger value must never become a git option.
    """
    if not isinstance(commit, str) or not _COMMIT.fullmatch(commit):
        return None
    try:
        done = subprocess.run(
            ["git", "show", "-s", "--format=%cI", commit],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return parse_time(done.stdout.strip())


def compute_delivery_metrics(
    records: Iterable[Any],
    model: str,
    *,
    now: datetime | None = None,
    since_days: float | None = None,
    commit_time: CommitTime | None = None,
    runs: list[Any] | None = None,
) -> DeliveryMetrics:
    """The metrics of ``model`` from ledger ``records`` (objects with seq, time, action, data);
    ``runs`` are the model's :func:`~mlci_local.run_journal.runs_of` when already read.

    Records of other models are ignored. Records before the window are still used to look up
    what an event in the window refers to (the ``register`` record of a promoted version, the
    promotion a rollback undid), but only events inside the window are counted.
    """
    from mlci_local.run_journal import reliability, runs_of

    end = now or _now()
    records = list(records)
    events = [
        (record, moment)
        for record in records
        if _data(record).get("model") == model and (moment := parse_time(record.time)) is not None
    ]
    events.sort(key=lambda pair: pair[0].seq)
    if since_days is not None:
        start = end - timedelta(days=since_days)
    else:
        start = min((moment for _, moment in events), default=end)
    window_days = max((end - start).total_seconds(), 0.0) / _DAY

    def in_window(moment: datetime) -> bool:
        return start <= moment <= end

    promotes = [(r, t) for r, t in events if r.action == "promote"]
    deployed = [(r, t) for r, t in promotes if in_window(t)]
    rollbacks = [(r, t) for r, t in events if r.action == "rollback" and in_window(t)]
    canaries = [
        (r, t)
        for r, t in events
        if r.action == "canary" and _data(r).get("verdict") == "fail" and in_window(t)
    ]

    # Lead time: each version's first promotion, if that falls in the window.
    registered: dict[str, tuple[Any, datetime]] = {}
    for record, moment in events:
        version = str(_data(record).get("version"))
        if record.action == "register" and version not in registered:
            registered[version] = (record, moment)
    first_promoted: dict[str, datetime] = {}
    for record, moment in promotes:
        first_promoted.setdefault(str(_data(record).get("version")), moment)
    lead_seconds: list[float] = []
    lead_events: list[tuple[datetime, float]] = []
    sources = {"git": 0, "ledger": 0}
    unknown = 0
    for version, moment in first_promoted.items():
        if not in_window(moment):
            continue
        if version not in registered:
            unknown += 1
            continue
        register_record, register_time = registered[version]
        commit = _data(register_record).get("commit")
        committed = commit_time(commit) if (commit_time and isinstance(commit, str)) else None
        if committed is None:
            committed = register_time
            sources["ledger"] += 1
        else:
            sources["git"] += 1
        lead_seconds.append(max(0.0, (moment - committed).total_seconds()))
        lead_events.append((moment, lead_seconds[-1]))

    # Failures: a failed canary later rolled back (same version) is one failure.
    unmatched = [r for r, _ in canaries]
    for rollback, _ in rollbacks:
        replaced = _data(rollback).get("replaces")
        for canary in reversed(unmatched):
            if canary.seq < rollback.seq and _data(canary).get("version") == replaced:
                unmatched.remove(canary)
                break
    failures = len(rollbacks) + len(unmatched)

    # Time to restore: the rollback minus the latest promotion of the version it replaced.
    restore_seconds = []
    restore_events: list[tuple[datetime, float]] = []
    for rollback, moment in rollbacks:
        replaced = _data(rollback).get("replaces")
        undone = [
            t for r, t in promotes if r.seq < rollback.seq and _data(r).get("version") == replaced
        ]
        if undone:
            restore_seconds.append(max(0.0, (moment - undone[-1]).total_seconds()))
            restore_events.append((moment, restore_seconds[-1]))

    count = len(deployed)
    return DeliveryMetrics(
        model=model,
        window_start=start,
        window_end=end,
        window_days=window_days,
        deployments=count,
        deployments_per_day=count / window_days if window_days >= 1 else None,
        deployments_per_week=count / window_days * 7 if window_days >= 7 else None,
        lead_time=Distribution.of(lead_seconds),
        lead_time_sources={k: v for k, v in sources.items() if v},
        lead_time_unknown=unknown,
        rollbacks=len(rollbacks),
        failed_canaries=len(canaries),
        failures=failures,
        change_failure_rate=failures / count if count else None,
        time_to_restore=Distribution.of(restore_seconds),
        reliability=reliability(runs if runs is not None else runs_of(records, model), start, end),
        timeline={
            "deployments": [t for _, t in deployed],
            "failures": [t for _, t in rollbacks]
            + [t for r, t in canaries if any(r is u for u in unmatched)],
            "lead_time": lead_events,
            "time_to_restore": restore_events,
        },
    )


def format_table(metrics: DeliveryMetrics) -> str:
    """The plain-text table ``mlci metrics`` prints."""
    m = metrics
    lead = m.lead_time
    sources = ", ".join(f"{k} {v}" for k, v in sorted(m.lead_time_sources.items()))
    lead_text = (
        f"median {format_duration(lead.median_seconds)}, p90 {format_duration(lead.p90_seconds)}"
        f" ({_plural(lead.count, 'change')}; commit time from {sources})"
        if lead.count
        else "no changes reached production in the window"
    )
    if m.lead_time_unknown:
        lead_text += f"; {m.lead_time_unknown} without a register record"
    rate = (
        f"{m.change_failure_rate:.1%} ({m.failures} of {_plural(m.deployments, 'deployment')}: "
        f"{_plural(m.rollbacks, 'rollback')}, {_plural(m.failed_canaries, 'failed canary')})"
        if m.change_failure_rate is not None
        else f"- (no deployments; {_plural(m.failures, 'failure')})"
    )
    restore = m.time_to_restore
    restore_text = (
        f"median {format_duration(restore.median_seconds)} ({_plural(restore.count, 'restore')})"
        if restore.count
        else "- (nothing was rolled back)"
    )
    targets = m.targets()
    rows = [
        ("deployment frequency", _frequency(m), "deployment_frequency"),
        ("lead time for changes", lead_text, "lead_time"),
        ("change failure rate", rate, "change_failure_rate"),
        ("time to restore", restore_text, "time_to_restore"),
        ("pipeline reliability", _reliability_text(m.reliability), "pipeline_reliability"),
    ]  # fmt: skip
    span = f"{m.window_days:.1f} days" if m.window_days >= 1 else _window(m)
    head = (
        f"delivery metrics for {m.model}: {_iso(m.window_start)} .. {_iso(m.window_end)} ({span})"
    )
    lines = [f"  {name:<22} {_verdict(targets[key]):<7} {value}; target {TARGET_TEXT[key]}"
             for name, value, key in rows]  # fmt: skip
    return "\n".join([head, *lines])


def _verdict(meets: bool | None) -> str:
    """The target column in plain words, so a log and a screen reader read it the same."""
    return "-" if meets is None else ("meets" if meets else "MISSES")


def _reliability_text(found: Any) -> str:
    if found is None or not found.counted:
        return "- (no finished mlci run in the window)"
    parts = [f"{count} {outcome}" for outcome, count in sorted(found.by_outcome.items())]
    flaky = f", {found.flaky} flaky" if found.flaky else ""
    return (
        f"{found.rate:.1%} ({found.counted - found.unreliable} of {found.counted} runs not "
        f"broken by infrastructure or flaky checks; {', '.join(parts)}{flaky})"
    )


def _frequency(m: DeliveryMetrics) -> str:
    """Rates only over as long a window as they speak of; below that, the plain count."""
    count = _plural(m.deployments, "deployment")
    if m.deployments_per_week is not None and m.deployments_per_day is not None:
        return f"{m.deployments_per_day:.2f}/day, {m.deployments_per_week:.2f}/week ({count})"
    if m.deployments_per_day is not None:
        return (
            f"{count} in {_window(m)}, {m.deployments_per_day:.2f}/day "
            "(a weekly rate needs a week of history)"
        )
    return f"{count} in {_window(m)} (rates need a week of history)"


def _window(m: DeliveryMetrics) -> str:
    return format_duration((m.window_end - m.window_start).total_seconds())


def format_duration(seconds: float | None) -> str:
    """``45s``, ``12m 05s``, ``3h 04m``, ``2d 03h``: precise enough to compare at a glance."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600:02d}h"


def _plural(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun[:-1] + 'ies' if noun.endswith('ary') else noun + 's'}"


def record_data(record: Any) -> Mapping[str, Any]:
    """A ledger record's ``data`` (``{}`` when it is not an object). A plain ``dict`` check:
    an ``isinstance(x, Mapping)`` ABC check cost seconds over the dashboard's 1.3 million calls."""
    data = getattr(record, "data", None)
    return data if isinstance(data, dict) else {}


_data = record_data  # the short name this module's many lookups use


def parse_time(text: Any) -> datetime | None:
    """ISO 8601 (``Z`` or an offset) to an aware UTC datetime; None if it is not one."""
    if not isinstance(text, str) or not text:
        return None
    return _parse_time_text(text)


@lru_cache(maxsize=262_144)  # the dashboard reads each record's time once per weekly window
def _parse_time_text(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> datetime:
    return datetime.now(timezone.utc)
