"""``mlci metrics``: deployment frequency, lead time, change failure rate, time to restore."""

from __future__ import annotations

import json

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("metrics")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--since",
    "since_days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="DAYS",
    help="Only count the last DAYS days (default: since the model's first ledger record).",
)
@pass_workspace
def command(workspace: Workspace, as_json: bool, since_days: float | None) -> None:
    """Delivery metrics of the configured model, computed from the audit ledger.

    Deployment frequency (promotions per day and week), lead time for changes (commit to
    production: median and p90), change failure rate (rollbacks and failed canaries over
    deployments) and time to restore (promotion to the rollback that undid it: median).
    """
    from mlci_local.delivery_metrics import delivery_metrics, format_table

    metrics = delivery_metrics(workspace.config, since_days=since_days)
    if as_json:
        click.echo(json.dumps(metrics.to_dict(), indent=2))
    else:
        click.echo(format_table(metrics))
