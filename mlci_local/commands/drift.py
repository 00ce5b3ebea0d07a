"""``mlci drift``: has the data moved enough to retrain? (for a scheduled CI job)."""

from __future__ import annotations

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("drift")
@click.argument("dataset", required=False)
@click.option(
    "--exit-code",
    is_flag=True,
    help="Exit 1 when drift crosses the retraining threshold (otherwise always 0).",
)
@click.option(
    "--fail-inconclusive",
    is_flag=True,
    help="With --exit-code, also exit 1 when a column is too small to judge.",
)
@click.option("--verbose", "-v", is_flag=True, help="Show every row, not one line per column.")
@pass_workspace
@click.pass_context
def command(
    ctx: click.Context,
    workspace: Workspace,
    dataset: str | None,
    exit_code: bool,
    fail_inconclusive: bool,
    verbose: bool,
) -> None:
    """Compare DATASET (default: every dataset with a reference) with its reference.

    A column drifts when its effect size (PSI, or the Wasserstein distance in reference
    standard deviations) reaches the dataset's drift_psi / drift_distance thresholds and the
    KS or chi-square test confirms it. Too few rows to judge is reported as inconclusive.
    """
    from mlci_local.commands.validate_data import selected
    from pytest_mlci.data.results import FAIL, INCONCLUSIVE, table
    from pytest_mlci.data.validate import validate_dataset
    from pytest_mlci.errors import ConfigError

    config = workspace.config
    names = [n for n in selected(config, dataset) if config.datasets[n].reference is not None]
    if not names:
        which = f"dataset '{dataset}' declares no" if dataset else "no dataset declares a"
        raise ConfigError(
            f"{which} reference to compare with; add reference = 'data/reference.parquet'",
            key=f"datasets.{dataset or '<name>'}.reference",
        )
    drifted: list[str] = []
    unsure: list[str] = []
    for name in names:
        outcome = validate_dataset(
            config.datasets[name], root=config.root, task=config.task, checks=("drift",)
        )
        if outcome.error:
            raise_data_error(outcome.error)
        verdicts = column_verdicts(outcome.rows)
        drifted += [f"{name}.{c}" for c, v in verdicts.items() if v == FAIL]
        unsure += [f"{name}.{c}" for c, v in verdicts.items() if v == INCONCLUSIVE]
        shown = outcome.rows if verbose else [r for r in outcome.rows if r.verdict != "pass"]
        click.echo(f"{name}: {len(verdicts)} columns compared with the reference")
        if shown:
            for line in table(shown):
                click.echo(f"  {line}")
    if drifted:
        click.echo(f"retrain: drift over the threshold in {len(drifted)} column(s): "
                   + ", ".join(drifted))  # fmt: skip
    else:
        click.echo("no drift over the retraining threshold")
    if unsure:
        click.echo(f"INCONCLUSIVE (too little data to judge): {', '.join(unsure)}")
    if exit_code and (drifted or (fail_inconclusive and unsure)):
        ctx.exit(1)
    ctx.exit(0)


def column_verdicts(rows: object) -> dict[str, str]:
    from pytest_mlci.data.drift import column_verdicts as verdicts

    return verdicts(rows)  # type: ignore[arg-type]


def raise_data_error(message: str) -> None:
    from pytest_mlci.errors import DataError

    raise DataError(message)
