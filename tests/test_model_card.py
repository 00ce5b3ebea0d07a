"""Model cards generated from what the registry recorded for a version."""

from __future__ import annotations

import json
import shutil

import pytest

from mlci_local.model_card import (
    INTENDED_USE_NOT_STATED,
    TAG_MODEL_CARD,
    attach_model_card,
    build_model_card,
)
from mlci_local.registry import Registry
from pytest_mlci.config import load_config
from pytest_mlci.errors import CheckFailed
from pytest_mlci.model_io import sha256_file

EVALUATION = {
    "schema_version": 1,
    "model": "tiny",
    "task": "binary_classification",
    "passed": True,
    "crashed": [],
    "data": {"path": "data/test.parquet", "rows": 2000, "sha256": "d" * 64},
    "baseline": {"status": "present", "reason": None, "version": "1", "sha256": "b" * 64},
    "gates": [
        {"gate": "roc_auc >= 0.7", "metric": "roc_auc", "verdict": "pass",
         "message": "roc_auc 0.8123 [0.8001, 0.8250]: whole interval >= 0.7",
         "candidate": {"value": 0.8123, "low": 0.8001, "high": 0.825},
         "baseline": None, "delta": None},
        {"gate": "f1 >= baseline - 0.01", "metric": "f1", "verdict": "inconclusive",
         "message": "f1 delta interval straddles -0.01",
         "candidate": {"value": 0.61, "low": 0.58, "high": 0.64}, "baseline": 0.6,
         "delta": {"value": 0.01, "low": -0.02, "high": 0.04}},
    ],
    "fairness": [
        {"attribute": "group", "excluded": ["c"], "groups": [
            {"group": "a", "count": 1000.0, "selection_rate": 0.41, "accuracy": 0.8,
             "recall": 0.7, "precision": 0.75, "excluded": False},
            {"group": "c", "count": 12.0, "selection_rate": 0.5, "accuracy": 0.6,
             "recall": 0.5, "precision": 0.5, "excluded": True},
        ]},
    ],
}  # fmt: skip

LINEAGE = {
    "git": {"commit": "abc123", "branch": "main", "dirty": True},
    "dvc_hashes": {"data/train.parquet": "0123456789abcdef0123456789abcdef"},
    "params": {"train": {"seed": 7}},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_assets):
    """One registry for the module (creating an MLflow database costs seconds).

    v1 carries the full mlci/ attachments, v2 none at all.
    """
    from conftest import build_tiny_project

    root = tmp_path_factory.mktemp("card")
    build_tiny_project(root, tiny_assets)
    config = load_config(root / "pyproject.toml")
    v1 = register(config, tiny_assets / "good.skops", attachments=full_attachments())
    v2 = register(config, tiny_assets / "bad.skops", attachments=None)
    return config, v1, v2


def register(config, source, *, attachments=None, tags=None):
    """Register ``source`` the way `mlci run` does, with the given mlci/ attachments."""
    shutil.copy(source, config.artifact)
    digest = sha256_file(config.artifact)
    base_tags = {"mlci.tier": "medium", "mlci.git.commit": "abc123", "mlci.git.dirty": "true"}
    registration = Registry(config).register(
        config.artifact, digest, tags={**base_tags, **(tags or {})}, attachments=attachments
    )
    return registration.version.version


def full_attachments() -> dict[str, str]:
    return {
        "lineage.json": json.dumps(LINEAGE),
        "dvc.lock": "schema: '2.0'\nstages: {}\n",
        "evaluation.json": json.dumps(EVALUATION),
    }


def test_the_card_shows_metrics_with_intervals_fairness_rows_and_limitations(project):
    config, version, _ = project
    card = build_model_card(config, Registry(config), version)

    md = card.markdown
    assert md.startswith(f"# Model card: tiny v{version}")
    assert "| `roc_auc >= 0.7` | 0.8123 [0.8001, 0.8250] | - | - | ✅ pass |" in md
    assert "| `f1 >= baseline - 0.01` | 0.6100 [0.5800, 0.6400] | 0.6000 | " in md
    assert "0.0100 [-0.0200, 0.0400] | ⚠️ inconclusive |" in md
    assert "| a | 1000 | 0.410 | 0.800 | 0.700 | 0.750 |" in md
    assert "| c (too small, left out of gaps) | 12 | 0.500 |" in md
    assert "| `data/train.parquet` | `0123456789abcdef0123456789abcdef` |" in md
    assert "| `train.seed` | 7 |" in md
    assert "2000 rows" in md
    assert any("`f1 >= baseline - 0.01` was inconclusive" in x for x in card.limitations)
    assert any("too small to judge" in x and ": c." in x for x in card.limitations)
    assert any("uncommitted changes" in x for x in card.limitations)
    assert card.has_evaluation

    html = card.html
    assert "<code>roc_auc &gt;= 0.7</code>" in html  # autoescaped
    assert "<td>0.8123 [0.8001, 0.8250]</td>" in html
    assert "<td>a</td><td>1000</td><td>0.410</td>" in html


def test_without_an_intended_use_the_card_says_so_in_a_detectable_way(project):
    config, version, _ = project
    registry = Registry(config)
    card = build_model_card(config, registry, version)
    assert not card.intended_use_stated
    assert INTENDED_USE_NOT_STATED in card.markdown and INTENDED_USE_NOT_STATED in card.html

    registry.client.update_registered_model("tiny", description="Rank <leads> for sales.")
    try:
        card = build_model_card(config, registry, version)
    finally:
        registry.client.update_registered_model("tiny", description="")
    assert card.intended_use_stated
    assert "Rank <leads> for sales." in card.markdown
    assert "Rank &lt;leads&gt; for sales." in card.html
    assert INTENDED_USE_NOT_STATED not in card.markdown


def test_a_version_without_evaluation_json_gives_a_card_that_says_so(project):
    config, _, version = project
    card = build_model_card(config, Registry(config), version)
    assert not card.has_evaluation
    assert "No evaluation report is stored with this version" in card.markdown
    assert "Unknown: no evaluation report is stored with this version." in card.markdown
    assert any("mlci/evaluation.json" in x for x in card.limitations)
    assert "No evaluation report is stored with this" in card.html


def test_a_version_that_does_not_exist_is_a_clear_no(project):
    config, _, _ = project
    with pytest.raises(CheckFailed, match=r"tiny has no version '9' \(versions: 1, 2\)"):
        build_model_card(config, Registry(config), "9")


def test_attaching_the_card_leaves_the_model_files_untouched(project, tmp_path):
    from pytest_mlci import registry_read as rr

    config, _, version = project
    registry = Registry(config)
    before = registry.by_version(version)
    model_files = [f.path for f in registry.client.list_artifacts(before.run_id, "model")]

    card = attach_model_card(config, registry, version)

    after = registry.by_version(version)
    attached = {f.path for f in registry.client.list_artifacts(after.run_id, "model_card")}
    assert attached == {"model_card/model_card.md", "model_card/model_card.html"}
    assert [f.path for f in registry.client.list_artifacts(after.run_id, "model")] == model_files
    assert after.tags[TAG_MODEL_CARD] == card.markdown_sha256
    assert after.digest == before.digest
    rr.fetch_verified(after, tmp_path / "cache", registry_uri=config.registry_uri)
