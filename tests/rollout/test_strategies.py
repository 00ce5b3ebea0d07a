"""``strategy`` per model: the choices, and the shadow half of ``shadow-then-canary``."""

from __future__ import annotations

import shutil

import pytest

from mlci_local.promotion import ledger_for, promote
from mlci_local.registry import Registry
from mlci_local.rollout.state import read_state
from mlci_local.rollout.traffic import run_local_shadow
from pytest_mlci.config import load_config
from pytest_mlci.errors import ConfigError
from pytest_mlci.model_io import sha256_file


def test_an_unknown_strategy_names_the_choices(tiny_dir):
    tiny_dir.extra += 'strategy = "rolling"\n'
    tiny_dir.write_config()
    with pytest.raises(ConfigError, match="'rolling' is not valid; choose one of"):
        load_config(tiny_dir.root / "pyproject.toml")


@pytest.mark.slow  # the router in its own process, a step of synthetic traffic
def test_the_shadow_before_a_canary_mirrors_traffic_and_changes_nothing(tiny_dir, tiny_assets):
    tiny_dir.extra += (
        'strategy = "shadow-then-canary"\n\n[tool.mlci.canary.traffic]\n'
        "batch = 200\nmax_requests_per_step = 600\n"
    )
    tiny_dir.write_config()
    config = load_config(tiny_dir.root / "pyproject.toml")
    registry, ledger = Registry(config), ledger_for(config)
    versions = []
    for source in (tiny_assets / "good.skops", tiny_assets / "bad.skops"):
        shutil.copy(source, config.artifact)
        digest = sha256_file(config.artifact)
        versions.append(registry.register(config.artifact, digest, tags={}).version.version)
        for action in ("evaluation", "staging"):
            ledger.append(action, {"model": config.model, "digest": digest, "passed": True})
    promote(config, registry, ledger, versions[0])
    summary = run_local_shadow(config, registry, ledger, versions[1])
    assert summary is not None and summary.version == versions[1]
    assert summary.requests == 600 and summary.compared == 600 and summary.errors == 0
    assert summary.agreement is not None and summary.agreement < 1.0  # a different model
    assert read_state(config).mode == "none"  # the shadow ended; production serves alone
    assert registry.by_alias("production").version == versions[0]
    assert ledger.find("shadow.end", model=config.model)


def test_a_strategy_by_tier_applies_to_the_models_of_that_tier(tmp_path):
    from pytest_mlci.project import load_project

    (tmp_path / "pyproject.toml").write_text(
        '[tool.mlci]\nstrategy = { high = "blue-green" }\n'
        '[tool.mlci.approvals]\napprovers = ["a@example.com", "b@example.com"]\n'
        '[tool.mlci.models.fraud]\ntask = "regression"\ntarget = "y"\nartifact = "f.skops"\n'
        'tier = "high"\n'
        '[tool.mlci.models.churn]\ntask = "regression"\ntarget = "y"\nartifact = "c.skops"\n'
        '[tool.mlci.models.price]\ntask = "regression"\ntarget = "y"\nartifact = "p.skops"\n'
        'strategy = "shadow-then-canary"\n'
    )
    models = load_project(tmp_path / "pyproject.toml").models
    assert models["fraud"].strategy == "blue-green"
    assert models["churn"].strategy == "canary"  # medium: not named, the default
    assert models["price"].strategy == "shadow-then-canary"  # its own value wins
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mlci]\nmodel = "m"\ntask = "regression"\ntarget = "y"\nartifact = "m.skops"\n'
        'strategy = { urgent = "blue-green" }\n'
    )
    with pytest.raises(ConfigError, match=r"strategy\.urgent.*is not a tier"):
        load_config(tmp_path / "pyproject.toml")
