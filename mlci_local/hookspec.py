"""Extension points of the ``mlci`` runner (pluggy hook specifications).

A deploy target moves real traffic: the built-in one is the local router (``mlci serve``),
registered like any plugin. A KServe target would implement ``mlci_set_weights`` by patching
the InferenceService's ``spec.predictor.canaryTrafficPercent`` to ``round(weight * 100)``,
``mlci_promote`` by removing the canary split so the new revision takes all traffic, and
``mlci_rollback`` by setting ``canaryTrafficPercent: 0``. A SageMaker target would call
``UpdateEndpointWeightsAndCapacities`` with the two production variants' ``DesiredWeight``
set to ``1 - weight`` and ``weight``. Targets register through the ``mlci`` entry-point group
(``[project.entry-points.mlci] kserve = "my_pkg.kserve_target"``).
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("mlci")
hookimpl = pluggy.HookimplMarker("mlci")


class DeployTargetSpec:
    """What a deploy target must do; every hook returns a short description or None."""

    @hookspec(firstresult=True)
    def mlci_set_weights(self, config: Any, candidate_version: str, weight: float) -> str | None:
        """Send ``weight`` (0..1) of the traffic to ``candidate_version``, the rest to
        production. Must not drop in-flight requests."""

    @hookspec(firstresult=True)
    def mlci_blue_green(self, config: Any, candidate_version: str, phase: str) -> str | None:
        """Blue-green: ``phase`` "warm" loads ``candidate_version`` beside production with no
        traffic (preview requests only), "switch" sends it all traffic at once with
        production kept loaded, "back" returns all traffic to production at once."""

    @hookspec(firstresult=True)
    def mlci_promote(self, config: Any, version: str) -> str | None:
        """Serve ``version`` to all traffic (after the registry alias moved)."""

    @hookspec(firstresult=True)
    def mlci_rollback(self, config: Any, version: str) -> str | None:
        """Send all traffic back to production ``version`` at once."""

    @hookspec(firstresult=True)
    def mlci_status(self, config: Any) -> dict | None:
        """Where traffic goes now: ``{"candidate": version or None, "weight": w, ...}``."""


def plugin_manager(extra: list[Any] | None = None) -> pluggy.PluginManager:
    """The runner's plugin manager: installed targets, then the built-in local router."""
    manager = pluggy.PluginManager("mlci")
    manager.add_hookspecs(DeployTargetSpec)
    from mlci_local.rollout import local_target

    manager.register(local_target, "local-router")
    manager.load_setuptools_entrypoints("mlci")
    for plugin in extra or []:
        manager.register(plugin)
    return manager
