"""``mlci rollback``: restore the previous production version."""

from __future__ import annotations

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("rollback")
@click.option("--reason", help="Why production must move back; recorded in the audit trail.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--env", "env", metavar="ENV", default="production", show_default=True,
              help="The environment of the promotion chain to roll back; the others, "
              "production included, are not touched.")  # fmt: skip
@pass_workspace
def command(workspace: Workspace, reason: str | None, yes: bool, env: str) -> None:
    """Move `production` back to the version it replaced (the `previous` alias); with --env,
    that environment back to the version it held before (`<env>_previous`)."""
    from mlci_local.promotion import ledger_for, rollback
    from mlci_local.registry import Registry

    config = workspace.config
    if env != "production":
        from mlci_local.environments import environment, rollback_environment

        environment(config, env)
        if not yes:
            click.confirm(f"Roll back {env} of '{config.model}'?", abort=True)
        moved = rollback_environment(config, Registry(config), ledger_for(config), env,
                                     reason=reason)  # fmt: skip
        click.echo(
            f"{env} -> v{moved.version}" + (f" (was v{moved.replaced})" if moved.replaced else "")
        )
        return
    if not yes:
        click.confirm(f"Roll back production of '{config.model}'?", abort=True)
    move = rollback(config, Registry(config), ledger_for(config), reason=reason)
    replaced = f" (was v{move.replaced})" if move.replaced else ""
    click.echo(f"production -> v{move.production}{replaced}")
