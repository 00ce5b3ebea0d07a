"""``mlci check``: the static ML rules on files or directories."""

from __future__ import annotations

import time
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
@click.option(
    "--confidence",
    type=click.Choice(["high", "medium"]),
    default=None,
    help="Least certain findings to report: high (default; what the code shows) or medium "
    "(also what may be a problem). Overrides [tool.mlci.static] confidence.",
)
@pass_workspace
@click.pass_context
def command(
    ctx: click.Context,
    workspace: Workspace,
    paths: tuple[Path, ...],
    fmt: str,
    confidence: str | None,
) -> None:
    """Run the static ML checks on PATHS (default: [tool.mlci.static] paths); exit 1 on
    findings. The text format ends with a summary line (files checked, findings, time)."""
    import dataclasses

    from pytest_mlci.config import StaticSettings, find_config_file
    from pytest_mlci.report.static_formats import format_findings
    from pytest_mlci.rules import check_paths, source_files

    started = time.perf_counter()

    if find_config_file(workspace.config_path.parent if workspace.config_path else None):
        settings = workspace.any_config.static
        # a many-model repository without --model: every model's static paths
        many = workspace.model is None and workspace.project.multi
        configs = list(workspace.project.models.values()) if many else [workspace.config]
        targets = list(paths) or list(
            dict.fromkeys(c.root / p for c in configs for p in c.static.paths)
        )
    else:
        settings, targets = StaticSettings(), list(paths)
    if not targets:
        raise click.UsageError("no PATHS given and no [tool.mlci.static] paths configured")
    if confidence:
        settings = dataclasses.replace(settings, confidence=confidence)
    # one analysis at every confidence: the ones not reported are counted in the summary
    everything = check_paths(targets, dataclasses.replace(settings, confidence="medium"))
    findings = [f for f in everything if settings.confidence == "medium" or f.confidence == "high"]
    output = format_findings(findings, fmt)
    if output:
        click.echo(output)
    if fmt == "text":  # json and sarif stay one parseable document
        files = len(set(source_files(targets)))
        hidden = len(everything) - len(findings)
        click.echo(summary(files, len(findings), time.perf_counter() - started, hidden))
    ctx.exit(1 if findings else 0)


def summary(files: int, findings: int, seconds: float, hidden: int = 0) -> str:
    """``mlci check: 12 files, no findings (0.3 s)``: a clean run says what it looked at, so
    silence is never mistaken for "checked nothing"; findings of medium confidence that were
    not reported are counted, with the option that shows them."""
    checked = f"{files} file{'' if files == 1 else 's'}"
    found = "no findings" if not findings else f"{findings} finding{'' if findings == 1 else 's'}"
    more = f"; {hidden} of medium confidence not shown (--confidence medium)" if hidden else ""
    return f"mlci check: {checked}, {found}{more} ({seconds:.1f} s)"
