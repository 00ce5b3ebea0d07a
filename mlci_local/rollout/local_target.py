"""The built-in deploy target: the local router (``mlci serve``) reads the rollout state file.

Moving traffic is writing ``.mlci/rollout/<model>.json`` atomically; the router picks the new
weight up on its next request, and requests already in flight finish on the arm they started.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from mlci_local.hookspec import hookimpl


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


@hookimpl
def mlci_set_weights(config: Any, candidate_version: str, weight: float) -> str:
    from mlci_local.rollout.state import RolloutState, read_state, write_state

    current = read_state(config)
    mode = current.mode if current.mode == "shadow" else "canary"
    write_state(
        config,
        RolloutState(
            model=config.model,
            candidate_version=candidate_version,
            weight=weight,
            mode=mode if weight > 0 or mode == "shadow" else "canary",
            step=current.step + 1,
            updated=_now(),
        ),
    )
    return f"local router: {weight:.0%} of traffic to v{candidate_version}"


@hookimpl
def mlci_promote(config: Any, version: str) -> str:
    from mlci_local.rollout.state import RolloutState, write_state

    write_state(config, RolloutState(config.model, None, 0.0, "none", 0, _now()))
    return f"local router: production v{version} serves all traffic"


@hookimpl
def mlci_rollback(config: Any, version: str) -> str:
    from mlci_local.rollout.state import RolloutState, write_state

    write_state(config, RolloutState(config.model, None, 0.0, "none", 0, _now()))
    return f"local router: all traffic back to production v{version}"


@hookimpl
def mlci_status(config: Any) -> dict:
    from dataclasses import asdict

    from mlci_local.rollout.state import read_state

    return asdict(read_state(config))
