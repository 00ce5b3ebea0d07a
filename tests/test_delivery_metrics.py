"""Delivery metrics computed from a synthetic audit ledger, checked to the second."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone

import click
import pytest
from click.testing import CliRunner

import mlci_local.delivery_metrics as dm
import mlci_local.ledger as ledger_module
from mlci_local.commands import metrics as metrics_command
from mlci_local.delivery_metrics import compute_delivery_metrics, format_duration, percentile
from mlci_local.ledger import Ledger

HOUR = 3600.0


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.fixture
def write(tmp_path, monkeypatch):
    """Append ``(time, action, data)`` records to a ledger, each stamped with its time."""
    monkeypatch.setenv("MLCI_ACTOR", "ci@example.com")
    ledger = Ledger(tmp_path / ".mlci" / "ledger.jsonl")

    def append(*entries: tuple[str, str, dict]) -> Ledger:
        for moment, action, data in entries:
            stamp = at(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            monkeypatch.setattr(ledger_module, "_utc_now", lambda stamp=stamp: stamp)
            ledger.append(action, data)
        return ledger

    return append


HISTORY = [
    ("2024-05-01 09:00", "register", {"model": "m", "version": "1", "commit": "c1" * 20}),
    ("2024-05-01 10:00", "promote", {"model": "m", "version": "1", "replaces": None}),
    ("2024-05-02 09:00", "register", {"model": "m", "version": "2", "commit": "c2" * 20}),
    ("2024-05-02 12:00", "promote", {"model": "m", "version": "2", "replaces": "1"}),
    ("2024-05-02 12:30", "rollback", {"model": "m", "version": "1", "replaces": "2"}),
    ("2024-05-03 08:00", "register", {"model": "m", "version": "3", "commit": "c3" * 20}),
    ("2024-05-03 09:00", "canary", {"model": "m", "version": "3", "verdict": "fail"}),
    ("2024-05-03 10:00", "canary", {"model": "m", "version": "3", "verdict": "pass"}),
    ("2024-05-04 10:00", "register", {"model": "m", "version": "4", "commit": "none"}),
    ("2024-05-05 10:00", "promote", {"model": "m", "version": "4", "replaces": "1"}),
    ("2024-05-05 11:00", "promote", {"model": "other", "version": "9"}),
    ("2024-05-05 11:00", "rollback", {"model": "other", "version": "8", "replaces": "9"}),
]
COMMITS = {"c1" * 20: at("2024-05-01 08:00"), "c2" * 20: at("2024-05-02 09:00")}


def test_the_four_metrics_over_the_whole_history(write):
    ledger = write(*HISTORY)
    m = compute_delivery_metrics(
        ledger.records(), "m", now=at("2024-05-08 09:00"), commit_time=COMMITS.get
    )
    assert m.window_start == at("2024-05-01 09:00") and m.window_days == 7.0
    assert m.deployments == 3
    assert m.deployments_per_day == pytest.approx(3 / 7, abs=0, rel=1e-12)
    assert m.deployments_per_week == pytest.approx(3.0, rel=1e-12)
    # lead times: v1 2 h (git), v2 3 h (git), v4 24 h (commit "none": the register time)
    assert m.lead_time.count == 3
    assert m.lead_time.median_seconds == 3 * HOUR
    assert m.lead_time.p90_seconds == pytest.approx((3 + 0.8 * 21) * HOUR, rel=1e-12)
    assert m.lead_time_sources == {"git": 2, "ledger": 1}
    # one rollback and one failed canary over three deployments
    assert (m.rollbacks, m.failed_canaries, m.failures) == (1, 1, 2)
    assert m.change_failure_rate == pytest.approx(2 / 3, rel=1e-12)
    assert m.time_to_restore.count == 1
    assert m.time_to_restore.median_seconds == 0.5 * HOUR


def test_since_counts_only_the_window_but_looks_up_older_records(write):
    ledger = write(*HISTORY)
    m = compute_delivery_metrics(ledger.records(), "m", now=at("2024-05-08 09:00"), since_days=3.5)
    assert m.window_start == at("2024-05-04 21:00") and m.window_days == 3.5
    assert m.deployments == 1
    assert m.deployments_per_day == pytest.approx(1 / 3.5, rel=1e-12)
    assert m.deployments_per_week is None  # 3.5 days are not stretched into a week
    assert m.lead_time.median_seconds == 24 * HOUR  # register record from before the window
    assert m.change_failure_rate == 0.0
    assert m.time_to_restore.count == 0 and m.time_to_restore.median_seconds is None


def test_a_failed_canary_that_is_rolled_back_is_one_failure(write):
    ledger = write(
        ("2024-05-01 10:00", "promote", {"model": "m", "version": "1"}),
        ("2024-05-02 10:00", "promote", {"model": "m", "version": "2", "replaces": "1"}),
        ("2024-05-02 10:20", "canary", {"model": "m", "version": "2", "verdict": "fail"}),
        ("2024-05-02 10:21", "rollback", {"model": "m", "version": "1", "replaces": "2"}),
        ("2024-05-03 10:00", "promote", {"model": "m", "version": "2", "replaces": "1"}),
    )
    m = compute_delivery_metrics(ledger.records(), "m", now=at("2024-05-05 10:00"))
    assert (m.rollbacks, m.failed_canaries, m.failures, m.deployments) == (1, 1, 1, 3)
    assert m.change_failure_rate == pytest.approx(1 / 3, rel=1e-12)
    assert m.time_to_restore.median_seconds == 21 * 60
    assert m.lead_time.count == 0 and m.lead_time_unknown == 2  # promoted, never registered


def test_an_empty_ledger_reports_zeros_not_errors(tmp_path):
    m = compute_delivery_metrics(Ledger(tmp_path / "none.jsonl").records(), "m")
    assert m.deployments == 0 and m.deployments_per_day is None and m.window_days == 0.0
    assert "0 deployments in 0s (rates need a week of history)" in dm.format_table(m)
    assert m.change_failure_rate is None and m.lead_time.median_seconds is None
    assert "no changes reached production" in dm.format_table(m)


def test_commit_time_comes_from_git_when_the_commit_is_known(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {"GIT_COMMITTER_DATE": "2024-05-01T08:00:00+02:00",
           "GIT_AUTHOR_DATE": "2024-05-01T08:00:00+02:00"}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-c", "user.email=a@b", "-c", "user.name=a", *args],
                              cwd=repo, capture_output=True, text=True, check=True)  # fmt: skip
        return done.stdout.strip()

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "change")
    commit = git("rev-parse", "HEAD")
    assert dm.git_commit_time(repo, commit) == at("2024-05-01 06:00")
    assert dm.git_commit_time(repo, "f" * 40) is None
    assert dm.git_commit_time(repo, "--output=/tmp/x") is None  # never passed to git
    assert dm.git_commit_time(tmp_path / "not-a-repo", commit) is None


def test_mlci_metrics_prints_a_table_and_json(tiny_dir, write, monkeypatch):
    from mlci_local.cli import MlciGroup
    from mlci_local.workspace import Workspace

    ledger = write(*HISTORY)
    target = tiny_dir.root / ".mlci" / "ledger.jsonl"
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(ledger.path.read_bytes())
    text = target.read_text().replace('"model":"m"', '"model":"tiny"')
    target.write_text(text)  # records now fail their hashes, but metrics do not verify
    monkeypatch.setattr(dm, "_now", lambda: at("2024-05-08 09:00"))
    monkeypatch.setattr(dm, "git_commit_time", lambda root, commit: COMMITS.get(commit))

    @click.group(cls=MlciGroup)
    @click.pass_context
    def group(ctx: click.Context) -> None:
        ctx.obj = Workspace(tiny_dir.root / "pyproject.toml")

    group.add_command(metrics_command.command)
    runner = CliRunner()
    table = runner.invoke(group, ["metrics"], catch_exceptions=False)
    assert table.exit_code == 0, table.output
    assert table.output.splitlines() == [
        "delivery metrics for tiny: 2024-05-01T09:00:00Z .. 2024-05-08T09:00:00Z (7.0 days)",
        "  deployment frequency   meets   0.43/day, 3.00/week (3 deployments); "
        "target at least monthly",
        "  lead time for changes  meets   median 3h 00m, p90 19h 48m (3 changes; commit time "
        "from git 2, ledger 1); target under 24 h",
        "  change failure rate    MISSES  66.7% (2 of 3 deployments: 1 rollback, 1 failed "
        "canary); target under 5 %",
        "  time to restore        MISSES  median 30m 00s (1 restore); target under 15 min",
        "  pipeline reliability   -       - (no finished mlci run in the window); target over 95 %",
    ]
    as_json = runner.invoke(group, ["metrics", "--json", "--since", "3.5"])
    payload = json.loads(as_json.output)
    assert payload["deployment_frequency"] == {"deployments": 1, "per_day": 1 / 3.5,
                                               "per_week": None}  # fmt: skip
    assert payload["lead_time"]["median_seconds"] == 86400.0
    assert payload["window"] == {"start": "2024-05-04T21:00:00Z",
                                 "end": "2024-05-08T09:00:00Z", "days": 3.5,
                                 "seconds": 3.5 * 86400}  # fmt: skip
    short = runner.invoke(group, ["metrics", "--since", "3.5"])
    assert (
        "  deployment frequency   meets   1 deployment in 3d 12h, 0.29/day (a weekly rate "
        "needs a week of history); target at least monthly" in short.output.splitlines()
    )
    bad = runner.invoke(group, ["metrics", "--since", "0"])
    assert bad.exit_code == 2


def test_percentile_and_duration_formatting():
    assert percentile([1.0], 0.9) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([0.0, 10.0], 0.9) == 9.0
    assert [format_duration(s) for s in (None, 45, 725, 11040, 183600)] == [
        "-", "45s", "12m 05s", "3h 04m", "2d 03h"
    ]  # fmt: skip


def test_a_two_minute_window_is_a_count_never_a_weekly_rate(write):
    """Two promotions two minutes apart once printed "14.00/week"."""
    ledger = write(
        ("2024-05-01 10:00", "register", {"model": "m", "version": "1", "commit": "none"}),
        ("2024-05-01 10:00", "promote", {"model": "m", "version": "1"}),
        ("2024-05-01 10:02", "promote", {"model": "m", "version": "2", "replaces": "1"}),
    )
    m = compute_delivery_metrics(ledger.records(), "m", now=at("2024-05-01 10:02"))
    assert m.deployments == 2
    assert m.deployments_per_day is None and m.deployments_per_week is None
    table = dm.format_table(m)
    assert table.splitlines()[0].endswith("(2m 00s)")
    assert (
        "  deployment frequency   meets   2 deployments in 2m 00s (rates need a week of "
        "history); target at least monthly" in table.splitlines()
    )
    assert "/week" not in table and "/day" not in table
    payload = m.to_dict()["deployment_frequency"]
    assert payload == {"deployments": 2, "per_day": None, "per_week": None}
    a_week_later = compute_delivery_metrics(ledger.records(), "m", now=at("2024-05-08 10:00"))
    assert a_week_later.deployments_per_week == pytest.approx(2.0, rel=1e-12)
    assert "0.29/day, 2.00/week (2 deployments)" in dm.format_table(a_week_later)
