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
@click.option("--step-seconds", type=float, default=300.0, show_default=True,
              help="Live mode: the longest one step may collect traffic.")  # fmt: skip
@click.option("--poll-seconds", type=float, default=10.0, show_default=True,
              help="Live mode: how often the router's logs are read.")  # fmt: skip
@pass_workspace
@click.pass_context
def command(ctx: click.Context, workspace: Workspace, version: str | None,
            replay: Path | None, step_seconds: float, poll_seconds: float) -> None:  # fmt: skip
    """Canary VERSION against production; roll back on fail, hold on inconclusive, promote on
    pass at 100 %. Live by default (run `mlci serve`; the router's logs are judged), or from a
    recorded log with --replay. Exit 0 on pass, 1 on fail or hold."""
    from mlci_local.promotion import ledger_for
    from mlci_local.registry import Registry
    from mlci_local.rollout.controller import run_canary
    from pytest_mlci import registry_read as rr
    from pytest_mlci.errors import ConfigError, PromotionRefused
    from pytest_mlci.model_io import load_model

    config = workspace.config
    registry = Registry(config)
    target = registry.by_version(version.lstrip("v")) if version else registry.by_alias("staging")
    if target is None:
        raise PromotionRefused(f"{config.model}: no `staging` version to canary; pass --version")
    production = registry.by_alias("production")
    if production is None:
        raise PromotionRefused(f"{config.model}: no production version to compare with")
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
            path = rr.fetch_verified(v, cache, registry_uri=config.registry_uri)
            return load_model(path, trusted_types=config.trusted_types,
                              allow_pickle=config.allow_pickle)  # fmt: skip

        source = ReplaySource(read_log(replay), load(production), load(target),
                              task=config.task)  # fmt: skip
    outcome = run_canary(config, registry, ledger_for(config), target.version, source)
    for step in outcome.steps:
        click.echo(f"step {step.weight:>4.0%}: {step.verdict.upper():<12} {step.summary}")
    if outcome.verdict == "pass":
        click.echo(f"canary passed: production -> v{outcome.version}")
    elif outcome.verdict == "fail":
        click.echo(f"canary FAILED: rolled back to production v{production.version}")
    else:
        click.echo(f"canary HELD at {outcome.weight:.0%}: undecided; approve or abort")
    ctx.exit(0 if outcome.verdict == "pass" else 1)
