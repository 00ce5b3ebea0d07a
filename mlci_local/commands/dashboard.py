"""``mlci dashboard``: pipeline health, model quality and version comparison as a static site."""

from __future__ import annotations

from pathlib import Path

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("dashboard")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write the pages into (default: .mlci/dashboard).",
)
@pass_workspace
def command(workspace: Workspace, out: Path | None) -> None:
    """Write the dashboard of the configured model from the audit ledger: pipeline health
    (runs by outcome, stage durations, the five delivery metrics against their targets),
    model quality (every version's gate metrics with intervals, fairness gaps, calibration,
    drift over time, canaries, approvals, rollbacks) and a comparison of any two versions.
    Offline: open index.html from disk, or `mlci serve` shows it at /dashboard."""
    import time

    from mlci_local.dashboard.data import commit_times, load
    from mlci_local.dashboard.site import write_site
    from mlci_local.promotion import ledger_for

    many = workspace.model is None and workspace.project.multi
    configs = list(workspace.project.models.values()) if many else [workspace.config]
    first = configs[0]
    base = out or first.state_dir / "dashboard"
    records = ledger_for(first).records_for_display()  # one ledger, read once for every model
    times = commit_times(first.root)
    for config in configs:
        started = time.perf_counter()
        # Many models: one folder each, so building one never overwrites another's pages.
        target = base / config.label if config.multi else base
        data = load(records, config.model, commit_time=times)
        pages = write_site(data, target)
        seconds = time.perf_counter() - started
        click.echo(
            f"dashboard of {config.model}: {len(data.versions)} versions, {len(data.runs)} "
            f"runs, {data.records} ledger records -> {target / pages[0].name} ({seconds:.1f} s)"
        )
