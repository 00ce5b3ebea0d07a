"""``mlci promote``: move `production` to a registered version."""

from __future__ import annotations

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("promote")
@click.argument("version")
@click.option("--force", is_flag=True, help="Promote without passing records (needs --reason).")
@click.option("--reason", help="Why; required with --force and recorded in the audit trail.")
@pass_workspace
def command(workspace: Workspace, version: str, force: bool, reason: str | None) -> None:
    """Point `production` at VERSION once its exact artifact passed evaluation and staging."""
    from mlci_local.promotion import ledger_for, promote
    from mlci_local.registry import Registry

    config = workspace.config
    move = promote(
        config,
        Registry(config),
        ledger_for(config),
        version.lstrip("v"),
        force=force,
        reason=reason,
    )
    if not move.changed:
        click.echo(f"v{move.production} is already production; nothing to do")
        return
    replaced = f" (previous: v{move.replaced})" if move.replaced else ""
    if move.canary_waived:
        replaced = (" (first production model, without a canary: there is no production "
                    "model to compare it with; its approvals are recorded)")  # fmt: skip
    click.echo(f"production -> v{move.production}{replaced}")
