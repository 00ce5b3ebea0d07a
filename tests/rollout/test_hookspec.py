"""Deploy targets are pluggy plugins; the local router is registered like any other."""

from __future__ import annotations

from mlci_local.hookspec import hookimpl, plugin_manager
from pytest_mlci.config import load_config


class RecordingTarget:
    """A stand-in for a KServe or SageMaker target."""

    def __init__(self):
        self.calls = []

    @hookimpl
    def mlci_set_weights(self, config, candidate_version, weight):
        self.calls.append(("weights", candidate_version, weight))
        return f"fake: {weight:.0%} to v{candidate_version}"

    @hookimpl
    def mlci_rollback(self, config, version):
        self.calls.append(("rollback", version))
        return "fake: rolled back"


def test_the_local_router_is_the_default_target(tiny_dir):
    from mlci_local.rollout.state import read_state

    config = load_config(tiny_dir.root / "pyproject.toml")
    manager = plugin_manager()
    assert manager.has_plugin("local-router")
    message = manager.hook.mlci_set_weights(config=config, candidate_version="2", weight=0.25)
    assert message == "local router: 25% of traffic to v2"
    state = read_state(config)
    assert (state.candidate_version, state.weight) == ("2", 0.25)


def test_an_installed_target_takes_over_from_the_local_router(tiny_dir):
    from mlci_local.rollout.state import read_state

    config = load_config(tiny_dir.root / "pyproject.toml")
    target = RecordingTarget()
    manager = plugin_manager([target])
    assert manager.hook.mlci_set_weights(config=config, candidate_version="3", weight=0.5) == (
        "fake: 50% to v3"
    )
    assert manager.hook.mlci_rollback(config=config, version="1") == "fake: rolled back"
    assert target.calls == [("weights", "3", 0.5), ("rollback", "1")]
    assert read_state(config).weight == 0.0  # the local router was not asked
