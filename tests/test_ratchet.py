"""The ratchet: quality cannot drop one small step at a time behind the best recent version."""

from __future__ import annotations

import shutil

import pytest

from mlci_local.promotion import ledger_for, promote
from mlci_local.registry import Registry
from pytest_mlci.config import load_config
from pytest_mlci.errors import ConfigError
from pytest_mlci.evaluation.session import Evaluation
from pytest_mlci.gates import FAIL, PASS, parse_gate
from pytest_mlci.model_io import sha256_file


def promote_artifact(config, source):
    shutil.copy(source, config.artifact)
    registry = Registry(config)
    version = registry.register(config.artifact, sha256_file(config.artifact), tags={})
    promote(config, registry, ledger_for(config), version.version.version, force=True,
            reason="test setup")  # fmt: skip


def test_best_compares_with_the_best_recent_version_not_only_production(tiny_dir, tiny_assets):
    config_file = tiny_dir.root / "pyproject.toml"
    config_file.write_text(
        config_file.read_text().replace("resamples = 200", "resamples = 200\nratchet = 3")
    )
    config = load_config(config_file)
    promote_artifact(config, tiny_assets / "good.skops")  # v1, the best
    promote_artifact(config, tiny_assets / "bad.skops")  # v2, production now: a step down
    evaluation = Evaluation(config)  # the candidate is the bad artifact again
    vs_production = evaluation.check_gate(parse_gate("accuracy", ">= baseline - 0.01"))
    vs_best = evaluation.check_gate(parse_gate("accuracy", ">= best - 0.01"))
    assert vs_production.verdict == PASS
    assert vs_best.verdict == FAIL
    assert "best of the last 3 production versions: v1" in vs_best.message


def test_a_best_gate_without_a_ratchet_setting_is_a_config_error(tiny_dir):
    tiny_dir.set_gate("accuracy", ">= best - 0.01")
    with pytest.raises(ConfigError, match=r"set \[tool.mlci.evaluation\] ratchet = N"):
        Evaluation(load_config(tiny_dir.root / "pyproject.toml")).gates()
