"""``mlci stage``: stage 6 on its own (fresh-process load, smoke test, load test, compliance)."""

from __future__ import annotations

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("stage")
@click.option("--alias", default="candidate", show_default=True,
              help="The registry alias of the version to stage.")  # fmt: skip
@click.option("--wait", "wait", type=float, default=0.0, show_default=True, metavar="SECONDS",
              help="If another run for this model is in progress, wait up to SECONDS for it "
              "to finish instead of refusing at once.")  # fmt: skip
@pass_workspace
def command(workspace: Workspace, alias: str, wait: float) -> None:
    """Load ALIAS's version in a fresh process after verifying its sha256, smoke-test it on
    sample rows, load-test it within [tool.mlci.staging]'s limits, and check its lineage and
    model card. Records the outcome in the audit trail; on success `staging` points at it.
    Exit 0 when it passed, 1 with every problem named when it did not."""
    from mlci_local.promotion import ledger_for
    from mlci_local.registry import Registry
    from mlci_local.runlock import run_lock
    from mlci_local.staging import describe, stage_version

    config = workspace.config
    # Not while a run drives this model: it moves `staging` too (mlci_local.runlock).
    click.get_current_context().with_resource(run_lock(config, "mlci stage", wait=wait))
    result = stage_version(config, Registry(config), ledger_for(config), alias)
    click.echo(f"staging ok: {describe(result)}")
    click.echo(
        f"  load test: {result.requests} requests, p50 {result.p50_ms:.2f} / p95 "
        f"{result.p95_ms:.2f} / p99 {result.p99_ms:.2f} ms, {result.throughput_rps:.0f}/s, "
        f"{result.error_rate:.1%} errors"
    )
    click.echo(f"  staging -> v{result.version}")
