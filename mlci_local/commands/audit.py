"""``mlci audit verify``: the audit ledger's hash chain, checkpoints, and alias drift."""

from __future__ import annotations

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.group("audit")
def command() -> None:
    """Check the tamper-evident audit trail."""


@command.command("verify")
@pass_workspace
@click.pass_context
def verify_command(ctx: click.Context, workspace: Workspace) -> None:
    """Verify every record's hash and link, the registry checkpoints, and that the aliases
    are where the ledger says mlci put them; exit 1 on any problem."""
    from mlci_local.ledger import Checkpoint
    from mlci_local.promotion import TAG_CHECKPOINT, alias_drift, ledger_for
    from mlci_local.registry import Registry

    config = workspace.config
    ledger = ledger_for(config)
    registry = Registry(config)
    checkpoints = []
    for version in registry.versions():
        tag = version.tags.get(TAG_CHECKPOINT)
        if tag:
            checkpoints.append(Checkpoint.from_tag(tag))
    report = ledger.verify(checkpoints)
    click.echo(report.summary())
    drift = alias_drift(registry, ledger, config.model)
    for problem in drift:
        click.echo(f"ALIAS DRIFT: {problem}")
    ctx.exit(0 if report.ok and not drift else 1)
