"""``mlci gates``: the configured gates, and floors proposed from the last measured run."""

from __future__ import annotations

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("gates")
@click.option(
    "--suggest",
    is_flag=True,
    help="Propose absolute floors from the last evaluation `mlci run` measured.",
)
@pass_workspace
def command(workspace: Workspace, suggest: bool) -> None:
    """List the configured gates; with --suggest, propose floors from a measured run.

    Each proposed floor lies just outside the candidate's measured confidence interval
    (rounded outward to two significant digits): the model that was measured passes it, a
    clearly worse one does not. Gates against `baseline` or `best` are kept as they are.
    Nothing is written: paste the printed table into the config.
    """
    config = workspace.config
    if not suggest:
        if not config.gates:
            click.echo("no gates configured")
        for spec in config.gates:
            click.echo(spec.text)
        return
    from mlci_local.gate_suggest import suggest as propose
    from pytest_mlci.redact import redact_text

    found = propose(config)
    rows = f", {found.rows:,} rows" if isinstance(found.rows, int) else ""
    click.echo(
        f"measured: candidate {found.candidate} on {redact_text(found.data)}{rows} "
        f"(report {found.report.name})"
    )
    for item in found.items:
        proposal = item.floor or "no floor proposed (not a built-in metric)"
        click.echo(f"  {item.metric:<24} {item.measured:<28} -> {proposal}")
    table = "tool.mlci.gates" if config.source.name == "pyproject.toml" else "gates"
    click.echo(f"\npaste into {config.source.name}, replacing the [{table}] table:\n")
    click.echo(found.toml(table))
