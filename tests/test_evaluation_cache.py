"""The evaluation is cached on disk by model, data and baseline digest: reruns skip the model."""

from __future__ import annotations

import shutil

import pytest

from pytest_mlci.config import load_config
from pytest_mlci.evaluation.session import Evaluation


def test_a_second_evaluation_of_the_same_inputs_does_not_load_the_model(tiny_dir, monkeypatch):
    config = load_config(tiny_dir.root / "pyproject.toml")
    first = Evaluation(config).estimate("roc_auc")

    def no_model(self):
        raise AssertionError("the model was loaded although the result was cached")

    monkeypatch.setattr(Evaluation, "model", property(no_model))
    assert Evaluation(config).estimate("roc_auc") == first


def test_a_different_artifact_is_evaluated_again(tiny_dir, tiny_assets):
    config = load_config(tiny_dir.root / "pyproject.toml")
    good = Evaluation(config).estimate("roc_auc")[0]
    shutil.copy(tiny_assets / "bad.skops", config.artifact)
    bad = Evaluation(config).estimate("roc_auc")[0]
    assert bad.value < good.value - 0.05


def test_a_damaged_cache_entry_is_recomputed(tiny_dir):
    config = load_config(tiny_dir.root / "pyproject.toml")
    first = Evaluation(config).estimate("accuracy")
    for entry in (config.state_dir / "cache" / "evaluation").glob("*.json"):
        entry.write_text("{not json")
    assert Evaluation(config).estimate("accuracy") == first


@pytest.mark.parametrize("name", ["latency.p50_ms"])
def test_measured_costs_are_never_cached(tiny_dir, name):
    config = load_config(tiny_dir.root / "pyproject.toml")
    Evaluation(config).estimate(name)
    cache = config.state_dir / "cache" / "evaluation"
    assert not cache.exists() or not list(cache.glob("*.json"))
