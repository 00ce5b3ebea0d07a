"""``mlci run``: all seven stages in order for the configured model."""

from __future__ import annotations

import signal

import click

from mlci_local.pipeline import STAGES
from mlci_local.workspace import Workspace, model_option, pass_workspace


@click.command("run")
@click.option(
    "--until",
    type=click.Choice(STAGES),
    default="promote",
    show_default=True,
    help="Stop after this stage.",
)
@click.option("--wait", "wait", type=float, default=0.0, show_default=True, metavar="SECONDS",
              help="If another run for this model is in progress, wait up to SECONDS for it "
              "to finish instead of refusing at once.")  # fmt: skip
@model_option
@click.option("--all", "run_all", is_flag=True,
              help="Many models: run every model, changed or not.")  # fmt: skip
@click.option("--since", metavar="REF", default=None,
              help="Many models: run those whose inputs changed since REF (default: the merge "
              "base with the default branch; on it, each model's last passed run).")  # fmt: skip
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
              help="Many models: how many run at once (default: one per core).")  # fmt: skip
@pass_workspace
@click.pass_context
def command(
    ctx: click.Context,
    workspace: Workspace,
    until: str,
    wait: float,
    run_all: bool,
    since: str | None,
    jobs: int | None,
) -> None:
    """Run code validation, data validation, training, evaluation, registration, staging
    and promotion in order; stop at the first stage that says no (exit 1). One run per
    model at a time: a second one refuses (exit 1) naming the first, or waits with --wait.

    In a repository with several models ([tool.mlci.models]) it runs, in parallel, the
    models whose inputs changed (--model NAME: that one; --all: every one), one verdict
    block each, and exits with the worst of their codes."""
    if workspace.model is None and workspace.project.multi:
        ctx.exit(_run_many(workspace, until, wait, run_all, since, jobs))
    from rich.console import Console

    from mlci_local.pipeline import Pipeline
    from mlci_local.run_journal import RunInterrupted
    from mlci_local.runlock import run_lock

    console = Console(highlight=False)
    config = workspace.config
    ctx.with_resource(run_lock(config, "mlci run", wait=wait))  # held until the command ends
    console.print(f"mlci run: model '{config.model}' ({config.task}, tier {config.tier})")
    pipeline = Pipeline(config, echo=lambda line: console.print(line, markup=False, soft_wrap=True))
    try:
        code = pipeline.run(until, status=lambda label: console.status(f"{label} …"))
    except RunInterrupted as stop:  # CI cancelled the job: recorded, then the usual 128 + 15
        console.print(f"mlci run: interrupted by {stop}; recorded in the ledger")
        ctx.exit(128 + signal.SIGTERM)
    ctx.exit(code)


def _run_many(
    workspace: Workspace,
    until: str,
    wait: float,
    run_all: bool,
    since: str | None,
    jobs: int | None,
) -> int:
    """Choose the models (changed, or all), run them side by side, summarise."""
    from mlci_local.affected import affected_models
    from mlci_local.many_runs import default_jobs, run_models, summary, worst_exit_code
    from mlci_local.promotion import ledger_for

    project = workspace.project
    if run_all:
        chosen = list(project.names)
        click.echo(f"mlci run: all {len(chosen)} models ({', '.join(chosen)})")
    else:
        first = next(iter(project.models.values()))
        found = affected_models(project, since=since, ledger=ledger_for(first))
        chosen = [name for name, affected in found.items() if affected.runs]
        click.echo(f"mlci run: {len(chosen)} of {len(found)} models changed")
        for name, affected in found.items():
            why = affected.reason if affected.runs else f"unchanged since {affected.base[:8]}"
            click.echo(f"  {name:<24} {'runs' if affected.runs else 'skipped'}: {why}")
        if not chosen:
            click.echo("nothing to do (mlci run --all runs every model)")
            return 0
    click.echo("")
    from mlci_local.run_journal import RunInterrupted, sigterm_unwinds

    try:
        with sigterm_unwinds():  # a cancelled CI job: each model records its interruption
            results = run_models(
                project, chosen, until=until, jobs=jobs or default_jobs(len(chosen)),
                wait=wait, echo=lambda line: click.echo(line),
            )  # fmt: skip
    except (RunInterrupted, KeyboardInterrupt) as stop:
        name = str(stop) if isinstance(stop, RunInterrupted) else "SIGINT"
        click.echo(f"mlci run: interrupted by {name}; each running model recorded it")
        return 128 + signal.SIGTERM
    for line in summary(results):
        click.echo(line)
    return worst_exit_code([r.exit_code for r in results])
