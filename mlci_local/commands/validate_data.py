"""``mlci validate-data``: every declared check of the declared datasets, as one table."""

from __future__ import annotations

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("validate-data")
@click.argument("dataset", required=False)
@click.option("--verbose", "-v", is_flag=True, help="Show passing rows too, not only failures.")
@pass_workspace
@click.pass_context
def command(ctx: click.Context, workspace: Workspace, dataset: str | None, verbose: bool) -> None:
    """Validate DATASET (default: every declared dataset): schema, volume, quality,
    freshness and drift against the reference, each where the dataset declares it.

    Exit 1 when any check fails or is inconclusive (a check that could not judge has not
    passed), 2 on a configuration mistake.
    """
    from pytest_mlci.data.results import PASS, overall, table
    from pytest_mlci.data.validate import unjudged_reason, validate_dataset

    config = workspace.config
    failed = False
    for name in selected(config, dataset):
        outcome = validate_dataset(config.datasets[name], root=config.root, task=config.task)
        if outcome.error:
            failed = True
            click.echo(f"{name}: FAILED")
            click.echo(f"  {outcome.error}")
            continue
        if not outcome.judged:  # as in `mlci run`: a note, not a verdict
            click.echo(f"{name}: nothing judged; {outcome.reasons()[0]}")
            continue
        verdict = overall(outcome.rows)
        rows_note = f" ({outcome.row_count:,} rows)" if outcome.row_count is not None else ""
        checks = ", ".join(outcome.checks)
        if verdict == PASS:
            click.echo(f"{name}: ok{rows_note}; {checks}")
        else:
            failed = True
            click.echo(f"{name}: {verdict.upper()}{rows_note}; {checks}")
        shown = outcome.rows if verbose else [r for r in outcome.rows if r.verdict != PASS]
        if shown:
            for line in table(shown):
                click.echo(f"  {line}")
            for row in shown:
                if row.verdict != PASS and row.detail:
                    click.echo(f"  {row.check} {row.column}: {row.detail}")
        for check in outcome.unjudged():  # no row to show: the line says why it did not pass
            click.echo(f"  {unjudged_reason(check)}")
    ctx.exit(1 if failed else 0)


def selected(config: object, dataset: str | None) -> list[str]:
    """The dataset names to check; an unknown name is a usage error naming the declared ones."""
    from pytest_mlci.errors import ConfigError

    datasets = config.datasets  # type: ignore[attr-defined]
    if dataset is not None and dataset not in datasets:
        raise ConfigError(
            f"no dataset '{dataset}'; declared: {', '.join(datasets) or 'none'}",
            key="datasets",
        )
    return [dataset] if dataset else list(datasets)
