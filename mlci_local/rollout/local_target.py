"""The built-in deploy target: the local router (``mlci serve``) reads the rollout state file.

Moving traffic is writing ``.mlci/rollout/<model>.json`` atomically; the router picks the new
weight up on its next request, and requests already in flight finish on the arm they started.
Every state written names the production it applies to, read from the registry's
``production`` alias at the moment of writing, so the router can tell a current state from one
an alias move has made stale (see :func:`mlci_local.rollout.state.stale_reason`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from mlci_local.hookspec import hookimpl


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def production_binding(config: Any) -> tuple[str | None, str | None]:
    """(version, move) behind the ``production`` alias now; (None, None) when there is none."""
    from mlci_local.rollout.state import TAG_PRODUCTION_MOVE
    from pytest_mlci import registry_read as rr

    if not rr.registry_exists(config.registry_uri):
        return None, None
    found = rr.version_by_alias(rr.open_client(config.registry_uri), config.model, "production")
    if found is None:
        return None, None
    return found.version, found.tags.get(TAG_PRODUCTION_MOVE)


def all_to_production(config: Any) -> None:
    """Point the local router at production alone, naming the production it applies to."""
    from mlci_local.rollout.state import RolloutState, write_state

    version, move = production_binding(config)
    write_state(config, RolloutState(config.model, None, 0.0, "none", 0, _now(), version, move))


@hookimpl
def mlci_set_weights(config: Any, candidate_version: str, weight: float) -> str:
    from mlci_local.rollout.state import RolloutState, read_state, write_state

    current = read_state(config)
    mode = current.mode if current.mode == "shadow" else "canary"
    production, move = production_binding(config)
    write_state(
        config,
        RolloutState(
            model=config.model,
            candidate_version=candidate_version,
            weight=weight,
            mode=mode if weight > 0 or mode == "shadow" else "canary",
            step=current.step + 1,
            updated=_now(),
            production_version=production,
            production_move=move,
        ),
    )
    return f"local router: {weight:.0%} of traffic to v{candidate_version}"


@hookimpl
def mlci_blue_green(config: Any, candidate_version: str, phase: str) -> str:
    from mlci_local.rollout.state import RolloutState, read_state, write_state

    if phase == "back":
        all_to_production(config)
        return f"local router: all traffic back to production (v{candidate_version} unloaded)"
    weight = {"warm": 0.0, "switch": 1.0}[phase]
    production, move = production_binding(config)
    current = read_state(config)
    write_state(config, RolloutState(config.model, candidate_version, weight, "blue-green",
                                     current.step + 1, _now(), production, move))  # fmt: skip
    if phase == "warm":
        return f"local router: v{candidate_version} loaded beside production, no traffic"
    return f"local router: all traffic to v{candidate_version}, production kept hot"


@hookimpl
def mlci_promote(config: Any, version: str) -> str:
    all_to_production(config)
    return f"local router: production v{version} serves all traffic"


@hookimpl
def mlci_rollback(config: Any, version: str) -> str:
    all_to_production(config)
    return f"local router: all traffic back to production v{version}"


@hookimpl
def mlci_status(config: Any) -> dict:
    from dataclasses import asdict

    from mlci_local.rollout.state import read_state

    return asdict(read_state(config))
