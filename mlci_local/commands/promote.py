"""``mlci promote``: move `production` (or, with --to, any environment of the chain) to a
registered version."""

from __future__ import annotations

import click

from mlci_local.workspace import Workspace, pass_workspace
from pytest_mlci.errors import ConfigError


@click.command("promote")
@click.argument("version", required=False)
@click.option("--to", "to", metavar="ENV", default="production", show_default=True,
              help="The environment of the promotion chain to move ([tool.mlci.environments]); "
              "VERSION defaults to the one in the environment before it.")  # fmt: skip
@click.option("--force", is_flag=True, help="Promote without passing records (needs --reason).")
@click.option("--reason", help="Why; required with --force and recorded in the audit trail.")
@pass_workspace
def command(
    workspace: Workspace, version: str | None, to: str, force: bool, reason: str | None
) -> None:
    """Point `production` at VERSION once its exact artifact passed evaluation and staging;
    with --to ENV, move that environment instead, from the environment before it only."""
    from mlci_local.environments import before, enter, environment
    from mlci_local.promotion import ledger_for, promote
    from mlci_local.registry import Registry

    config = workspace.config
    environment(config, to)  # an unknown name: exit 2 naming the chain
    registry = Registry(config)
    if version is None:
        source = before(config, to)
        holder = registry.by_alias(source) if source else None
        if holder is None:
            where = f"{source} holds no version" if source else f"{to} is the first environment"
            raise ConfigError(f"give the VERSION to promote to {to} ({where})")
        version = holder.version
    version = version.lstrip("v")
    ledger = ledger_for(config)
    if to != "production":
        moved = enter(config, registry, ledger, to, version, force=force, reason=reason)
        if not moved.changed:
            click.echo(f"v{moved.version} is already in {to}; nothing to do")
            return
        replaced = f" (previous: v{moved.replaced})" if moved.replaced else ""
        click.echo(f"{to} -> v{moved.version}{replaced}")
        return
    move = promote(config, registry, ledger, version, force=force, reason=reason)
    if not move.changed:
        click.echo(f"v{move.production} is already production; nothing to do")
        return
    replaced = f" (previous: v{move.replaced})" if move.replaced else ""
    if move.canary_waived:
        replaced = (" (first production model, without a canary: there is no production "
                    "model to compare it with; its approvals are recorded)")  # fmt: skip
    click.echo(f"production -> v{move.production}{replaced}")
