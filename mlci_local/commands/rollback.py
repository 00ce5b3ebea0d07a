"""``mlci rollback``: restore the previous production version."""

from __future__ import annotations

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("rollback")
@click.option("--reason", help="Why production must move back; recorded in the audit trail.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_workspace
def command(workspace: Workspace, reason: str | None, yes: bool) -> None:
    """Move `production` back to the version it replaced (the `previous` alias)."""
    from mlci_local.promotion import ledger_for, rollback
    from mlci_local.registry import Registry

    config = workspace.config
    if not yes:
        click.confirm(f"Roll back production of '{config.model}'?", abort=True)
    move = rollback(config, Registry(config), ledger_for(config), reason=reason)
    replaced = f" (was v{move.replaced})" if move.replaced else ""
    click.echo(f"production -> v{move.production}{replaced}")
