"""``mlci audit verify``: the audit ledger's hash chain, checkpoints, and alias drift."""

from __future__ import annotations

import click

from mlci_local.workspace import Workspace, pass_workspace
from pytest_mlci.redact import redact_text


@click.group("audit")
def command() -> None:
    """Check the tamper-evident audit trail."""


@command.command("verify")
@pass_workspace
@click.pass_context
def verify_command(ctx: click.Context, workspace: Workspace) -> None:
    """Verify every record's hash and link, the signed checkpoints (local log and anchors,
    with [tool.mlci.audit] signing), the registry checkpoints, and that the aliases are
    where the ledger says mlci put them. Says what was proved and what was not; exit 1 on
    any problem."""
    from mlci_local.audit.report import audit_ledger
    from mlci_local.ledger import Checkpoint
    from mlci_local.promotion import TAG_CHECKPOINT, alias_drift, ledger_for
    from mlci_local.registry import Registry

    # one ledger for the repository; the registry checkpoints and aliases of every model
    config = workspace.any_config
    many = workspace.model is None and workspace.project.multi
    configs = list(workspace.project.models.values()) if many else [workspace.config]
    ledger = ledger_for(config)
    checkpoints, drift = [], []
    for each in configs:
        registry = Registry(each)
        for version in registry.versions():
            tag = version.tags.get(TAG_CHECKPOINT)
            if tag:
                checkpoints.append(Checkpoint.from_tag(tag))
        drift += alias_drift(registry, ledger, each.model)
    report = audit_ledger(config, ledger, checkpoints)
    click.echo(redact_text(report.text()))
    for problem in drift:
        click.echo(f"ALIAS DRIFT: {problem}")
    ctx.exit(0 if report.ok and not drift else 1)


@command.command("repair")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_workspace
def repair_command(workspace: Workspace, yes: bool) -> None:
    """Remove a torn last line that a crash left in the audit ledger, after showing it and
    asking; record the repair. Refuses (exit 1, nothing changed) any other damage."""
    from mlci_local.ledger_repair import find_torn_tail, repair
    from mlci_local.promotion import ledger_for

    config = workspace.any_config  # one ledger for every model of the repository
    ledger = ledger_for(config)
    torn = find_torn_tail(ledger)
    if torn is None:
        click.echo(f"{redact_text(ledger.location)}: no torn last line; nothing to repair")
        return
    click.echo(
        f"{redact_text(ledger.location)}:{torn.line}: {torn.description}, left by an "
        f"interrupted write and never acknowledged; it will be removed:\n"
        f"  {redact_text(torn.preview())}\n"
        f"  ({len(torn.raw)} bytes, sha256 {torn.sha256[:16]}…)"
    )
    if not yes:
        click.confirm("Remove this line?", abort=True)
    record = repair(ledger, torn, model=config.model)
    click.echo(
        f"removed the torn line; recorded as ledger seq {record.seq} ({record.action}); "
        "appends work again"
    )
