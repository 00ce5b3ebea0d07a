"""``mlci canary``: step the candidate's share of traffic up, judged by statistics."""

from __future__ import annotations

from pathlib import Path

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("canary")
@click.option("--version", "version", default=None,
              help="Version to canary (default: the `staging` alias).")  # fmt: skip
@click.option(
    "--replay",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Drive the canary from a recorded request log with labels (JSONL) instead of live "
    "traffic.",
)
@click.option("--shadow", is_flag=True,
              help="Instead of a canary, mirror every request `mlci serve` answers to the "
              "version; its answers are logged and compared, never returned.")  # fmt: skip
@click.option("--abort", is_flag=True,
              help="Roll back a canary in flight (held, or stopped) or end a shadow.")  # fmt: skip
@click.option("--step-seconds", type=float, default=300.0, show_default=True,
              help="Live mode: the longest one step may collect traffic.")  # fmt: skip
@click.option("--poll-seconds", type=float, default=10.0, show_default=True,
              help="Live mode: how often the router's logs are read.")  # fmt: skip
@click.option("--wait", "wait", type=float, default=0.0, show_default=True, metavar="SECONDS",
              help="If another run for this model is in progress, wait up to SECONDS for it "
              "to finish instead of refusing at once.")  # fmt: skip
@pass_workspace
@click.pass_context
def command(ctx: click.Context, workspace: Workspace, version: str | None, replay: Path | None,
            shadow: bool, abort: bool, step_seconds: float,
            poll_seconds: float, wait: float) -> None:  # fmt: skip
    """Canary VERSION against production; roll back on fail, hold on inconclusive, promote on
    pass at 100 %. Steps and thresholds come from [tool.mlci.canary]. Live by default (run
    `mlci serve`; the router's logs are judged), or from a recorded log with --replay. A held
    canary resumes where it held; after `mlci approve` it goes on from the next step.
    Exit 0 on pass, 1 on fail or hold."""
    from mlci_local.promotion import ledger_for
    from mlci_local.registry import Registry
    from mlci_local.rollout.controller import policy_from_config, run_canary
    from pytest_mlci.artifact_check import load_verified
    from pytest_mlci.errors import ConfigError, PromotionRefused
    from pytest_mlci.flavours import ModelPolicy

    config = workspace.config
    if sum((shadow, abort, replay is not None)) > 1:
        raise ConfigError("--shadow, --abort and --replay do not go together; pick one")
    from mlci_local.runlock import run_lock

    # One driver of a rollout at a time, --abort included: a run mid-canary would go on
    # stepping what was just rolled back. The refusal names the run (`mlci rollback` is free).
    ctx.with_resource(run_lock(config, "mlci canary", wait=wait))
    registry = Registry(config)
    ledger = ledger_for(config)
    if abort:
        _abort(config, registry, ledger)
        return
    target = registry.by_version(version.lstrip("v")) if version else registry.by_alias("staging")
    if target is None:
        raise PromotionRefused(f"{config.model}: no `staging` version to canary; pass --version")
    if shadow:
        from mlci_local.rollout.shadow import start_shadow

        start_shadow(config, ledger, target)
        click.echo(
            f"shadow: v{target.version} now gets a copy of every request `mlci serve` answers; "
            "its answers are logged beside production's and never returned"
        )
        click.echo("`mlci status` compares them; `mlci canary --abort` ends the shadow")
        return
    production = registry.by_alias("production")
    if production is None:
        raise PromotionRefused(
            f"{config.model}: no production version to compare with; a model that has never "
            "been in production needs no canary: `mlci promote VERSION` once its approvals are in"
        )
    if replay is None:
        from mlci_local.rollout.live import LogSource
        from mlci_local.rollout.state import rollout_dir

        if step_seconds <= 0 or poll_seconds <= 0:
            raise ConfigError("--step-seconds and --poll-seconds must be positive")
        # Live: `mlci serve` routes the traffic and logs it; the controller reads the logs.
        source = LogSource(rollout_dir(config), step_seconds=step_seconds,
                           poll_seconds=poll_seconds)  # fmt: skip
    else:
        from mlci_local.rollout.replay import ReplaySource, read_log

        cache = config.state_dir / "cache" / "models"

        def load(v):
            return load_verified(v, cache, registry_uri=config.registry_uri,
                                 state_dir=config.state_dir,
                                 policy=ModelPolicy.from_config(config))  # fmt: skip

        source = ReplaySource(read_log(replay), load(production), load(target),
                              task=config.task)  # fmt: skip
    outcome = run_canary(config, registry, ledger, target.version, source,
                         policy=policy_from_config(config))  # fmt: skip
    if outcome.resumed_at:
        click.echo(f"resumed at step {outcome.resumed_at + 1}, where the last canary stopped")
    for step in outcome.steps:
        click.echo(f"step {step.weight:>4.0%}: {step.verdict.upper():<12} {step.summary}")
    if outcome.verdict == "pass":
        click.echo(f"canary passed: production -> v{outcome.version}")
    elif outcome.verdict == "fail":
        click.echo(f"canary FAILED: rolled back to production v{production.version}")
    else:
        click.echo(
            f"canary HELD at {outcome.weight:.0%}: undecided; `mlci approve {config.model} "
            f"{outcome.version}` then `mlci canary` goes on, `mlci canary --abort` rolls back"
        )
    ctx.exit(0 if outcome.verdict == "pass" else 1)


def _abort(config, registry, ledger) -> None:
    """Roll back whatever is in flight: a canary (held or stopped) or a shadow."""
    from mlci_local.promotion import reconcile_locked
    from mlci_local.rollout.controller import abort_canary, in_flight
    from mlci_local.rollout.shadow import stop_shadow
    from mlci_local.rollout.state import read_state

    # An alias move a crash interrupted, or a stale rollout state, is settled first: what is
    # left in flight afterwards is what there is to abort.
    for note in reconcile_locked(config, registry, ledger):
        click.echo(note)
    state = read_state(config)
    if state.mode == "shadow":
        summary = stop_shadow(config, ledger)
        click.echo(f"shadow of v{state.candidate_version} ended")
        for line in summary.lines() if summary else []:
            click.echo("  " + line)
        return
    found = in_flight(ledger, config.model)
    version = found.version if found else state.candidate_version
    if version is None:
        click.echo(f"{config.model}: no canary in flight; nothing to abort")
        return
    weight = found.weight if found else state.weight
    reason = "aborted by `mlci canary --abort`"
    message = abort_canary(config, registry, ledger, version, reason=reason)
    click.echo(f"canary of v{version} aborted at {weight:.0%}; {message}")
