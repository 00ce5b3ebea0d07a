"""High-tier promotion: listed approvers, never the commit's author, and a held mlci run.

These run with ``identity = "unverified"`` (names from $MLCI_ACTOR): the rules that still
apply in that mode. Signed approvals, the default for tier high: tests/test_signed_approvals.py.
"""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from mlci_local.cli import cli
from mlci_local.promotion import ledger_for, promote
from mlci_local.registry import Registry
from pytest_mlci.config import load_config
from pytest_mlci.errors import ConfigError, PromotionRefused
from pytest_mlci.model_io import sha256_file

APPROVERS = (
    '[tool.mlci.approvals]\nidentity = "unverified"\n'
    'approvers = ["alice@example.com", "bob@example.com"]\n'
)


def high_tier(tiny_dir):
    """The tiny project as a high-tier model approved by alice and bob."""
    path = tiny_dir.root / "pyproject.toml"
    path.write_text(path.read_text().replace('model = "tiny"', 'model = "tiny"\ntier = "high"')
                    + APPROVERS)  # fmt: skip
    return load_config(path)


def with_carol(config):
    """The same project with carol as a third listed approver."""
    path = config.source
    path.write_text(path.read_text().replace(
        'approvers = ["alice@example.com", "bob@example.com"]',
        'approvers = ["alice@example.com", "bob@example.com", "carol@example.com"]'))  # fmt: skip
    return load_config(path)


def register_passing(config, source, *, canary: bool) -> str:
    """Register ``source`` as authored by alice, with passing evaluation and staging records
    (and a passing canary record when ``canary``); its version number."""
    shutil.copy(source, config.artifact)
    digest = sha256_file(config.artifact)
    version = Registry(config).register(config.artifact, digest, tags={}).version.version
    ledger = ledger_for(config)
    ledger.append("register", {"model": "tiny", "version": version, "digest": digest,
                               "author": "alice@example.com"})  # fmt: skip
    for action in ("evaluation", "staging", *(("canary",) if canary else ())):
        ledger.append(action, {"model": "tiny", "digest": digest, "passed": True})
    return version


@pytest.fixture
def high(tiny_dir, tiny_assets, monkeypatch):
    """A high-tier project with one registered version authored by alice."""
    config = high_tier(tiny_dir)
    version = register_passing(config, tiny_assets / "good.skops", canary=True)
    monkeypatch.chdir(tiny_dir.root)
    return config, version


@pytest.fixture
def first_high(tiny_dir, tiny_assets, monkeypatch):
    """A high-tier version that never had a canary, and carol as a third approver."""
    config = with_carol(high_tier(tiny_dir))
    version = register_passing(config, tiny_assets / "good.skops", canary=False)
    monkeypatch.chdir(tiny_dir.root)
    return config, version


def approve(as_who: str, version: str, monkeypatch):
    monkeypatch.setenv("MLCI_ACTOR", as_who)
    return CliRunner().invoke(cli, ["approve", "tiny", version, "--role", "risk"])


def test_high_tier_needs_two_listed_approvers_who_did_not_write_the_commit(high, monkeypatch):
    config, version = high
    registry, ledger = Registry(config), ledger_for(config)
    with pytest.raises(PromotionRefused, match="needs 2 approvals"):
        promote(config, registry, ledger, version)
    author = approve("alice@example.com", version, monkeypatch)
    assert author.exit_code == 1 and "cannot approve their own release" in author.output
    stranger = approve("mallory@example.com", version, monkeypatch)
    assert (
        stranger.exit_code == 1 and "is not in [tool.mlci.approvals] approvers" in stranger.output
    )
    first = approve("bob@example.com", version, monkeypatch)
    assert first.exit_code == 0 and "1/2 unverified approvals" in first.output
    assert "UNVERIFIED identity" in first.output
    with pytest.raises(PromotionRefused, match=r"has 1: bob@example\.com"):
        promote(config, registry, ledger, version)
    again = approve("bob@example.com", version, monkeypatch)  # the same person twice
    assert "1/2 unverified approvals" in again.output


def test_two_independent_approvals_let_it_through(high, monkeypatch):
    config, version = high
    config = with_carol(config)
    approve("bob@example.com", version, monkeypatch)
    approve("carol@example.com", version, monkeypatch)
    move = promote(config, Registry(config), ledger_for(config), version)
    assert move.changed and move.production == version
    record = ledger_for(config).find("approve", approver="carol@example.com")[-1]
    assert record.data["role"] == "risk" and record.data["digest"] == Registry(config).by_version(
        version).digest  # fmt: skip


def test_the_first_high_tier_model_needs_its_approvals_but_no_canary(first_high, monkeypatch):
    """No production to compare with: the canary is waived, visibly, and only the first time."""
    config, version = first_high
    registry, ledger = Registry(config), ledger_for(config)
    with pytest.raises(PromotionRefused, match="needs 2 approvals"):
        promote(config, registry, ledger, version)
    approve("bob@example.com", version, monkeypatch)
    approve("carol@example.com", version, monkeypatch)
    move = promote(config, registry, ledger, version)
    assert move.changed and move.canary_waived
    record = ledger.find("promote", model="tiny")[-1]
    assert record.data["canary"].startswith("waived: the first production model")


def test_a_later_high_tier_model_needs_its_canary_even_if_production_vanished(
    first_high, tiny_assets, monkeypatch
):
    """Deleting the `production` alias must not turn a model back into a 'first' one."""
    config, v1 = first_high
    registry, ledger = Registry(config), ledger_for(config)
    approve("bob@example.com", v1, monkeypatch)
    approve("carol@example.com", v1, monkeypatch)
    promote(config, registry, ledger, v1)
    v2 = register_passing(config, tiny_assets / "bad.skops", canary=False)
    approve("bob@example.com", v2, monkeypatch)
    approve("carol@example.com", v2, monkeypatch)
    with pytest.raises(PromotionRefused, match="no canary record"):
        promote(config, registry, ledger, v2)
    registry.delete_alias("production")
    with pytest.raises(PromotionRefused, match="no canary record"):
        promote(config, registry, ledger, v2)


def test_a_high_tier_without_approvers_is_a_config_error(tiny_dir):
    path = tiny_dir.root / "pyproject.toml"
    path.write_text(path.read_text().replace('model = "tiny"', 'model = "tiny"\ntier = "high"'))
    with pytest.raises(ConfigError, match=r"approvals\.approvers"):
        load_config(path)


def test_medium_tier_promotes_on_evaluation_and_staging_alone(tiny_dir, tiny_assets):
    config = load_config(tiny_dir.root / "pyproject.toml")
    digest = sha256_file(config.artifact)
    version = Registry(config).register(config.artifact, digest, tags={}).version.version
    ledger = ledger_for(config)
    ledger.append("evaluation", {"model": "tiny", "digest": digest, "passed": True})
    with pytest.raises(PromotionRefused, match="no staging record"):
        promote(config, Registry(config), ledger, version)
    ledger.append("staging", {"model": "tiny", "digest": digest, "passed": True})
    assert promote(config, Registry(config), ledger, version).changed
