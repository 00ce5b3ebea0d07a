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
    """Delivery metrics of the configured model (in a many-model repository without --model:
    of every model), computed from the audit ledger.

    Deployment frequency (promotions per day and week), lead time for changes (commit to
    production: median and p90), change failure rate (rollbacks and failed canaries over
    deployments) and time to restore (promotion to the rollback that undid it: median).
    """
    from mlci_local.delivery_metrics import delivery_metrics, format_table

    # a many-model repository without --model: every model's metrics, from the one ledger
    many = workspace.model is None and workspace.project.multi
    configs = list(workspace.project.models.values()) if many else [workspace.config]
    found = [delivery_metrics(config, since_days=since_days) for config in configs]
    if as_json:
        payload = [m.to_dict() for m in found] if many else found[0].to_dict()
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo("\n\n".join(format_table(metrics) for metrics in found))
