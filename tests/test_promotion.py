"""Registration, promotion and rollback against a real embedded (sqlite) MLflow registry."""

from __future__ import annotations

import shutil

import pytest

from mlci_local.promotion import ledger_for, promote, rollback, unfinished
from mlci_local.registry import Registry
from pytest_mlci.config import load_config
from pytest_mlci.errors import ConfigError, PromotionRefused
from pytest_mlci.model_io import sha256_file


@pytest.fixture
def project(backend_project):
    """The tiny project's configuration: the embedded default (sqlite registry, ledger file)
    and the team stack (`mlflow server` on PostgreSQL with S3 artifacts, ledger and locks
    in PostgreSQL)."""
    return load_config(backend_project.root / "pyproject.toml")


@pytest.fixture
def embedded(tiny_dir):
    """The embedded default only: these tests edit the artifact store's files directly."""
    return load_config(tiny_dir.root / "pyproject.toml")


def register(config, source):
    """Register an artifact with passing evaluation and staging records, like `mlci run`."""
    artifact = config.artifact
    shutil.copy(source, artifact)
    digest = sha256_file(artifact)
    registration = Registry(config).register(artifact, digest, tags={"mlci.tier": "medium"})
    ledger = ledger_for(config)
    for action in ("evaluation", "staging"):
        ledger.append(action, {"model": config.model, "digest": digest, "passed": True})
    return registration


def test_registering_the_same_artifact_twice_makes_one_version(project, tiny_assets):
    first = register(project, tiny_assets / "good.skops")
    second = register(project, tiny_assets / "good.skops")
    assert first.created and not second.created
    assert second.version.version == first.version.version
    assert len(Registry(project).versions()) == 1


def test_a_runner_that_loses_the_race_to_create_the_experiment_uses_the_winners(
    project, tiny_assets
):
    """Models share one MLflow experiment, so no per-model lock covers its creation: a runner
    whose read saw no experiment but whose create finds one (CI caught it between two xdist
    workers on the shared server) registers into the existing experiment."""
    winner = Registry(project).client
    if winner.get_experiment_by_name("mlci") is None:
        winner.create_experiment("mlci", (project.state_dir / "artifacts").resolve().as_uri())
    loser = Registry(project)
    real_read = loser.client.get_experiment_by_name
    reads = []

    def read_before_the_winner_created_it(name):
        reads.append(name)
        return None if len(reads) == 1 else real_read(name)

    loser.client.get_experiment_by_name = read_before_the_winner_created_it
    digest = sha256_file(tiny_assets / "good.skops")
    registration = loser.register(tiny_assets / "good.skops", digest, tags={"mlci.tier": "medium"})
    assert registration.created and len(reads) == 2
    assert [v.version for v in Registry(project).versions()] == [registration.version.version]


def test_promotion_keeps_the_replaced_version_as_previous(project, tiny_assets):
    registry, ledger = Registry(project), ledger_for(project)
    v1 = register(project, tiny_assets / "good.skops").version.version
    v2 = register(project, tiny_assets / "bad.skops").version.version
    first = promote(project, registry, ledger, v1)
    assert first.changed and first.replaced is None
    second = promote(project, registry, ledger, v2)
    assert (second.production, second.replaced) == (v2, v1)
    assert registry.by_alias("production").version == v2
    assert registry.by_alias("previous").version == v1
    assert ledger.verify().ok


def test_promoting_the_current_production_changes_nothing(project, tiny_assets):
    registry, ledger = Registry(project), ledger_for(project)
    v1 = register(project, tiny_assets / "good.skops").version.version
    promote(project, registry, ledger, v1)
    again = promote(project, registry, ledger, v1)
    assert not again.changed
    assert registry.by_alias("previous") is None


def test_rollback_restores_previous_and_refuses_a_second_time(project, tiny_assets):
    registry, ledger = Registry(project), ledger_for(project)
    v1 = register(project, tiny_assets / "good.skops").version.version
    v2 = register(project, tiny_assets / "bad.skops").version.version
    promote(project, registry, ledger, v1)
    promote(project, registry, ledger, v2)
    move = rollback(project, registry, ledger, reason="bad canary")
    assert (move.production, move.replaced) == (v1, v2)
    assert registry.by_alias("production").version == v1
    with pytest.raises(PromotionRefused, match="nothing to roll back to"):
        rollback(project, registry, ledger)
    actions = [r.action for r in ledger.records()]
    assert actions[-2:] == ["rollback.intent", "rollback"]
    assert not unfinished(ledger, project.model)


def test_promotion_without_a_passing_gate_record_is_refused(project, tiny_assets):
    artifact = project.artifact
    shutil.copy(tiny_assets / "bad.skops", artifact)
    digest = sha256_file(artifact)
    registry, ledger = Registry(project), ledger_for(project)
    version = registry.register(artifact, digest, tags={}).version.version
    with pytest.raises(PromotionRefused, match="no evaluation record"):
        promote(project, registry, ledger, version)
    ledger.append("evaluation", {"model": project.model, "digest": digest, "passed": False})
    with pytest.raises(PromotionRefused, match=r"evaluation of artifact .* failed"):
        promote(project, registry, ledger, version)
    assert registry.by_alias("production") is None


def test_force_needs_a_reason_and_is_recorded(project, tiny_assets):
    artifact = project.artifact
    shutil.copy(tiny_assets / "bad.skops", artifact)
    registry, ledger = Registry(project), ledger_for(project)
    version = registry.register(artifact, sha256_file(artifact), tags={}).version.version
    with pytest.raises(ConfigError, match="--force needs --reason"):
        promote(project, registry, ledger, version, force=True)
    promote(project, registry, ledger, version, force=True, reason="hotfix INC-42")
    record = ledger.find("promote", version=version)[-1]
    assert record.data["force"] is True and record.data["reason"] == "hotfix INC-42"


def test_a_modified_artifact_in_the_store_refuses_to_load(embedded, tiny_assets, tmp_path):
    from pytest_mlci import registry_read as rr
    from pytest_mlci.errors import DataError

    version = register(embedded, tiny_assets / "good.skops").version
    stored = version.source.removeprefix("file://") + "/model.skops"
    with open(stored, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(DataError, match="does not match the registered"):
        rr.fetch_verified(version, tmp_path / "cache", registry_uri=embedded.registry_uri)


def test_an_interrupted_promotion_shows_as_unfinished(project, tiny_assets, monkeypatch):
    registry, ledger = Registry(project), ledger_for(project)
    v1 = register(project, tiny_assets / "good.skops").version.version

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Registry, "set_alias", crash)
    with pytest.raises(KeyboardInterrupt):
        promote(project, registry, ledger, v1)
    pending = unfinished(ledger, project.model)
    assert [r.action for r in pending] == ["promote.intent"]
    assert registry.by_alias("production") is None


def test_an_extra_file_beside_the_artifact_refuses_to_load(embedded, tiny_assets, tmp_path):
    from pathlib import Path

    from pytest_mlci import registry_read as rr
    from pytest_mlci.errors import DataError

    version = register(embedded, tiny_assets / "good.skops").version
    stored = Path(version.source.removeprefix("file://"))
    (stored / "sitecustomize.py").write_text("print('surprise')\n")
    with pytest.raises(DataError, match=r"not in the registered manifest: sitecustomize\.py"):
        rr.fetch_verified(version, tmp_path / "cache", registry_uri=embedded.registry_uri)


def test_concurrent_registrations_of_one_artifact_make_one_version(project, tiny_assets):
    import multiprocessing

    shutil.copy(tiny_assets / "good.skops", project.artifact)
    digest = sha256_file(project.artifact)
    context = multiprocessing.get_context("spawn")
    with context.Pool(8) as pool:
        versions = pool.starmap(_register_in_child, [(str(project.source), digest)] * 8)
    assert len(set(versions)) == 1
    assert len(Registry(project).versions()) == 1


def _register_in_child(config_path: str, digest: str) -> str:
    from pathlib import Path

    config = load_config(Path(config_path))
    registration = Registry(config).register(config.artifact, digest, tags={})
    return registration.version.version


def test_eight_concurrent_registrations_of_different_artifacts_lose_nothing(project, tiny_dir):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(8) as pool:
        versions = pool.starmap(_register_variant, [(str(project.source), i) for i in range(8)])
    registered = Registry(project).versions()
    assert sorted(versions, key=int) == [v.version for v in registered]
    assert len({v.digest for v in registered}) == 8


def _register_variant(config_path: str, seed: int) -> str:
    """Each process registers its own artifact (same model, a distinct trailing file)."""
    from pathlib import Path

    config = load_config(Path(config_path))
    artifact = config.artifact.with_name(f"model-{seed}.skops")
    shutil.copy(config.artifact, artifact)
    import skops.io as sio

    model = sio.load(artifact, trusted=sio.get_untrusted_types(file=artifact))
    model.set_params(logisticregression__C=1.0 + seed)  # a different estimator, different bytes
    sio.dump(model, artifact)
    return Registry(config).register(artifact, sha256_file(artifact), tags={}).version.version
