"""``mlci monitor``: drift of served features and live quality over a window; exit 1 when
retraining is due (for a scheduled CI job)."""

from __future__ import annotations

from pathlib import Path

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("monitor")
@click.option(
    "--window",
    "window_hours",
    type=click.FloatRange(min=0, min_open=True),
    default=24.0,
    show_default=True,
    metavar="HOURS",
    help="Judge the requests answered in the last HOURS hours.",
)
@click.option(
    "--dataset",
    "dataset_name",
    default=None,
    metavar="NAME",
    help="The dataset whose reference the served features are compared with "
    "(default: the first that declares a reference).",
)
@click.option(
    "--log",
    "log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The router's request log (default: the one `mlci serve` writes).",
)
@click.option(
    "--feedback",
    "feedback",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Delayed labels (default: the one `mlci serve` writes).",
)
@click.option(
    "--quality-margin",
    type=click.FloatRange(min=0),
    default=0.02,
    show_default=True,
    help="How far live accuracy may fall below the "
    "evaluation's estimate before retraining is due (the whole interval below).",
)
@pass_workspace
def command(workspace: Workspace, window_hours: float, dataset_name: str | None,
            log: Path | None, feedback: Path | None, quality_margin: float) -> None:  # fmt: skip
    """Compare what production served in the window with the reference data (the drift
    judges of stage 2) and its live accuracy on delayed labels with the evaluation's estimate
    (the whole interval must fall below it); record the result in the ledger; exit 1 when
    retraining is due, naming the columns or the metric, 0 when production is still fine."""
    from mlci_local.monitor import expected_accuracy, monitor
    from mlci_local.promotion import ledger_for
    from mlci_local.rollout.router import FEEDBACK_LOG, REQUEST_LOG
    from mlci_local.rollout.state import rollout_dir

    config = workspace.config
    folder = rollout_dir(config)
    ledger = ledger_for(config)
    result = monitor(
        config,
        window_hours=window_hours,
        log=log or folder / REQUEST_LOG,
        feedback=feedback or folder / FEEDBACK_LOG,
        dataset_name=dataset_name,
        quality_margin=quality_margin,
        expected=lambda versions: expected_accuracy(ledger, config.model, versions),
    )
    served = result.served
    shown = ", ".join(f"v{v} ({n:,})" for v, n in served.versions.items()) or "-"
    click.echo(
        f"mlci monitor: {config.model}, last {window_hours:g} h: {served.requests:,} requests, "
        f"{len(served.rows):,} feature rows, versions {shown}"
    )
    if served.skipped_lines:
        click.echo(f"  {served.skipped_lines} unreadable log line(s) skipped")
    if not result.drift_rows:
        click.echo("  drift: not judged (too few served rows in the window)")
    for row in result.drift_rows:
        if row.verdict == "fail":
            click.echo(f"  drift FAIL  {row.describe()}")
    if result.drift_rows and not result.drifted:
        click.echo(f"  drift: no served column drifted ({len(result.drift_rows)} checks)")
    quality = result.quality
    if quality.get("judged"):
        click.echo(f"  live accuracy {quality['accuracy']:.3f} [{quality['low']:.3f}, "
                   f"{quality['high']:.3f}] on {quality['labelled']:,} labels; evaluation "
                   f"{quality['expected']:.3f}")  # fmt: skip
    else:
        click.echo(f"  quality: not judged ({quality.get('why')})")
    ledger.append("monitor", result.record(config.model))
    if result.due:
        click.secho("retraining is due: " + "; ".join(result.reasons), fg="red")
        raise SystemExit(1)
    click.echo("production is fine: nothing drifted and live quality holds")
