"""``mlci check``: the static ML rules on files or directories."""

from __future__ import annotations

from pathlib import Path

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
)
@pass_workspace
@click.pass_context
def command(ctx: click.Context, workspace: Workspace, paths: tuple[Path, ...], fmt: str) -> None:
    """Run the static ML checks on PATHS (default: [tool.mlci.static] paths); exit 1 on
    findings."""
    from pytest_mlci.config import StaticSettings, find_config_file
    from pytest_mlci.report.static_formats import format_findings
    from pytest_mlci.rules import check_paths

    if find_config_file(workspace.config_path.parent if workspace.config_path else None):
        settings = workspace.config.static
        targets = list(paths) or [workspace.config.root / p for p in settings.paths]
    else:
        settings, targets = StaticSettings(), list(paths)
    if not targets:
        raise click.UsageError("no PATHS given and no [tool.mlci.static] paths configured")
    findings = check_paths(targets, settings)
    output = format_findings(findings, fmt)
    if output:
        click.echo(output)
    ctx.exit(1 if findings else 0)
