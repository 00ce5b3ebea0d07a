"""``mlci run``: all seven stages in order for the configured model."""

from __future__ import annotations

import signal

import click

from mlci_local.pipeline import STAGES
from mlci_local.workspace import Workspace, pass_workspace


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
@pass_workspace
@click.pass_context
def command(ctx: click.Context, workspace: Workspace, until: str, wait: float) -> None:
    """Run code validation, data validation, training, evaluation, registration, staging
    and promotion in order; stop at the first stage that says no (exit 1). One run per
    model at a time: a second one refuses (exit 1) naming the first, or waits with --wait."""
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
