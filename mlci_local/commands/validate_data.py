"""``mlci validate-data``: the data checks of declared datasets."""

from __future__ import annotations

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("validate-data")
@click.argument("dataset", required=False)
@pass_workspace
@click.pass_context
def command(ctx: click.Context, workspace: Workspace, dataset: str | None) -> None:
    """Validate DATASET (default: every declared dataset) against its schema."""
    from pytest_mlci.data.validate import check_schema
    from pytest_mlci.errors import ConfigError

    config = workspace.config
    if dataset is not None and dataset not in config.datasets:
        raise ConfigError(
            f"no dataset '{dataset}'; declared: {', '.join(config.datasets) or 'none'}",
            key="datasets",
        )
    names = [dataset] if dataset else list(config.datasets)
    failed = False
    for name in names:
        report = check_schema(config.datasets[name], root=config.root)
        if report.ok:
            click.echo(f"{name}: ok ({report.rows:,} rows)")
        else:
            failed = True
            click.echo(f"{name}: FAILED")
            for line in report.failures:
                click.echo(f"  {line}")
    ctx.exit(1 if failed else 0)
