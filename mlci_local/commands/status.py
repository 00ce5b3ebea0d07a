"""``mlci status``: aliases, versions, and unfinished promotions."""

from __future__ import annotations

import json

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@pass_workspace
def command(workspace: Workspace, as_json: bool) -> None:
    """Show which version each alias points at and any unfinished alias move."""
    from mlci_local.promotion import alias_drift, ledger_for, unfinished
    from mlci_local.registry import ALIASES, Registry

    config = workspace.config
    registry = Registry(config)
    aliases = registry.aliases()
    versions = registry.versions()
    ledger = ledger_for(config)
    pending = unfinished(ledger, config.model)
    drift = alias_drift(registry, ledger, config.model)
    if as_json:
        payload = {
            "model": config.model,
            "registry": config.registry_uri,
            "aliases": {a: {"version": v.version, "digest": v.digest} for a, v in aliases.items()},
            "versions": [v.version for v in versions],
            "unfinished": [{"seq": r.seq, "action": r.action, **r.data} for r in pending],
            "alias_drift": drift,
        }
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(f"model {config.model} @ {config.registry_uri}")
    click.echo(
        f"versions: {len(versions)}" + (f" (latest v{versions[-1].version})" if versions else "")
    )
    for alias in ALIASES:
        version = aliases.get(alias)
        if version is None:
            click.echo(f"  {alias:<11} -")
        else:
            commit = version.tags.get("mlci.git.commit", "?")[:8]
            click.echo(
                f"  {alias:<11} v{version.version}  sha256 {(version.digest or '?')[:12]}"
                f"  commit {commit}"
            )
    for problem in drift:
        click.secho(f"  ALIAS DRIFT: {problem}", fg="red")
    for record in pending:
        click.secho(
            f"  UNFINISHED {record.action} of v{record.data.get('version')} "
            f"(ledger seq {record.seq}): a crash interrupted it; the next promote or "
            "rollback reconciles it",
            fg="yellow",
        )
