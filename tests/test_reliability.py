"""Promotion under failure: crashes at every step, races, tampering, outages, a full disk.

Each test ends by checking the invariants: production only points at a version with passing
records; previous is the version production replaced; the audit ledger verifies; there are
no duplicate versions and no unfinished alias moves.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlci_local.ledger import LedgerWriteError
from mlci_local.promotion import (
    FAULT_ENV,
    alias_drift,
    ledger_for,
    promote,
    reconcile,
    rollback,
    unfinished,
)
from mlci_local.registry import Registry
from pytest_mlci.config import load_config
from pytest_mlci.errors import DataError
from pytest_mlci.model_io import sha256_file


@pytest.fixture
def project(backend_project):
    """The embedded default and the team stack (see ``backend_project`` in conftest)."""
    return load_config(backend_project.root / "pyproject.toml")


@pytest.fixture
def embedded(tiny_dir):
    """The embedded default only: the test breaks a local file or the local disk."""
    return load_config(tiny_dir.root / "pyproject.toml")


def register_passing(config, source) -> str:
    shutil.copy(source, config.artifact)
    digest = sha256_file(config.artifact)
    version = Registry(config).register(config.artifact, digest, tags={}).version.version
    ledger = ledger_for(config)
    for action in ("evaluation", "staging"):
        ledger.append(action, {"model": config.model, "digest": digest, "passed": True})
    return version


def assert_invariants(config, *, production: str, previous: str | None) -> None:
    registry, ledger = Registry(config), ledger_for(config)
    aliases = registry.aliases()
    assert aliases["production"].version == production
    assert (aliases["previous"].version if "previous" in aliases else None) == previous
    digest = aliases["production"].digest
    passed = {r.action for r in ledger.find(model=config.model, digest=digest)
              if r.data.get("passed")}  # fmt: skip
    assert {"evaluation", "staging"} <= passed
    assert ledger.verify().ok
    assert unfinished(ledger, config.model) == []
    assert alias_drift(registry, ledger, config.model) == []
    keys = [v.tags.get("mlci.idempotency_key") for v in registry.versions()]
    assert len(keys) == len(set(keys))


CHILD = """
import sys
from pathlib import Path
from mlci_local.promotion import ledger_for, promote, rollback
from mlci_local.registry import Registry
from pytest_mlci.config import load_config
config = load_config(Path(sys.argv[1]))
if sys.argv[2] == "promote":
    promote(config, Registry(config), ledger_for(config), sys.argv[3])
else:
    rollback(config, Registry(config), ledger_for(config), reason="test")
"""


def crash_at(config, point: str, *args: str) -> int:
    env = {**os.environ, FAULT_ENV: point}
    done = subprocess.run([sys.executable, "-c", CHILD, str(config.source), *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    return done.returncode


@pytest.mark.parametrize(
    ("point", "production", "previous"),
    [
        ("promote.after_intent", "1", None),  # nothing moved: undone
        ("promote.after_previous", "1", None),  # previous set, production not: undone
        ("promote.after_production", "2", "1"),  # production moved: completed
        ("promote.after_done", "2", "1"),  # finished; only the process died
    ],
)
def test_a_promotion_killed_at_any_step_is_reconciled(project, tiny_assets, point, production,
                                                      previous):  # fmt: skip
    registry, ledger = Registry(project), ledger_for(project)
    v1 = register_passing(project, tiny_assets / "good.skops")
    v2 = register_passing(project, tiny_assets / "bad.skops")
    promote(project, registry, ledger, v1)
    assert crash_at(project, point, "promote", v2) == 97
    notes = reconcile(project, registry, ledger)
    assert bool(notes) == (point != "promote.after_done")
    assert_invariants(project, production=production, previous=previous)


@pytest.mark.parametrize(
    ("point", "production", "previous"),
    [
        ("rollback.after_intent", "2", "1"),
        ("rollback.after_production", "1", None),
        ("rollback.after_done", "1", None),
    ],
)
def test_a_rollback_killed_at_any_step_is_reconciled(project, tiny_assets, point, production,
                                                     previous):  # fmt: skip
    registry, ledger = Registry(project), ledger_for(project)
    v1 = register_passing(project, tiny_assets / "good.skops")
    v2 = register_passing(project, tiny_assets / "bad.skops")
    promote(project, registry, ledger, v1)
    promote(project, registry, ledger, v2)
    assert crash_at(project, point, "rollback") == 97
    reconcile(project, registry, ledger)
    assert_invariants(project, production=production, previous=previous)


def _promote_after_barrier(config_path: str, version: str, barrier) -> str:
    config = load_config(Path(config_path))
    barrier.wait()
    move = promote(config, Registry(config), ledger_for(config), version)
    return move.replaced or ""


def test_two_racing_promotions_are_serialised(project, tiny_assets):
    v1 = register_passing(project, tiny_assets / "good.skops")
    v2 = register_passing(project, tiny_assets / "bad.skops")
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(2)
    with context.Pool(2) as pool:
        replaced = pool.starmap(_promote_after_barrier,
                                [(str(project.source), v, barrier) for v in (v1, v2)])  # fmt: skip
    assert (
        sorted(replaced) == ["", sorted([v1, v2])[0]]
        or sorted(replaced) == ["", v1]
        or (sorted(replaced) == ["", v2])
    )
    winner = Registry(project).by_alias("production").version
    loser = v1 if winner == v2 else v2
    assert_invariants(project, production=winner, previous=loser)


def test_an_alias_moved_by_hand_is_reported_by_status_and_audit(project, tiny_assets, monkeypatch):
    from click.testing import CliRunner

    from mlci_local.cli import cli

    registry, ledger = Registry(project), ledger_for(project)
    v1 = register_passing(project, tiny_assets / "good.skops")
    v2 = register_passing(project, tiny_assets / "bad.skops")
    promote(project, registry, ledger, v1)
    registry.client.set_registered_model_alias(project.model, "production", v2)  # by hand
    monkeypatch.chdir(project.root)
    status = CliRunner().invoke(cli, ["status"])
    assert "ALIAS DRIFT: 'production' is v2 in the registry" in status.output
    audit = CliRunner().invoke(cli, ["audit", "verify"])
    assert audit.exit_code == 1
    assert "changed outside mlci" in audit.output


def test_a_clean_history_passes_the_audit(project, tiny_assets, monkeypatch):
    from click.testing import CliRunner

    from mlci_local.cli import cli

    registry, ledger = Registry(project), ledger_for(project)
    promote(project, registry, ledger, register_passing(project, tiny_assets / "good.skops"))
    monkeypatch.chdir(project.root)
    audit = CliRunner().invoke(cli, ["audit", "verify"])
    assert audit.exit_code == 0, audit.output


def test_a_failing_fsync_refuses_the_promotion_and_moves_nothing(embedded, tiny_assets,
                                                                monkeypatch):  # fmt: skip
    registry, ledger = Registry(embedded), ledger_for(embedded)
    v1 = register_passing(embedded, tiny_assets / "good.skops")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(LedgerWriteError):
        promote(embedded, registry, ledger, v1)
    monkeypatch.undo()
    assert registry.by_alias("production") is None
    assert ledger.verify().ok


def test_rollback_to_a_corrupted_artifact_is_refused(embedded, tiny_assets):
    registry, ledger = Registry(embedded), ledger_for(embedded)
    v1 = register_passing(embedded, tiny_assets / "good.skops")
    v2 = register_passing(embedded, tiny_assets / "bad.skops")
    promote(embedded, registry, ledger, v1)
    promote(embedded, registry, ledger, v2)
    stored = Path(registry.by_version(v1).source.removeprefix("file://")) / "model.skops"
    stored.write_bytes(b"not the model any more")
    with pytest.raises(DataError, match="does not match the registered manifest"):
        rollback(embedded, registry, ledger)
    assert registry.by_alias("production").version == v2


def test_an_unreachable_registry_fails_fast_and_writes_nothing(tiny_dir):
    config_file = tiny_dir.root / "pyproject.toml"
    config_file.write_text(config_file.read_text().replace(
        'model = "tiny"', 'model = "tiny"\nregistry = "http://127.0.0.1:9"'))  # fmt: skip
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "mlci_local", "status"], cwd=tiny_dir.root,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 3
    assert "http://127.0.0.1:9" in done.stderr and "Connection refused" in done.stderr
    assert "Traceback" not in done.stderr
    assert elapsed < 60
    assert not (tiny_dir.root / ".mlci" / "ledger.jsonl").exists()


def test_a_deleted_artifact_file_is_refused_by_name(embedded, tiny_assets):
    registry, ledger = Registry(embedded), ledger_for(embedded)
    v1 = register_passing(embedded, tiny_assets / "good.skops")
    v2 = register_passing(embedded, tiny_assets / "bad.skops")
    promote(embedded, registry, ledger, v1)
    stored = Path(registry.by_version(v2).source.removeprefix("file://")) / "model.skops"
    stored.unlink()
    with pytest.raises(DataError, match=r"model\.skops: listed in the manifest but missing"):
        promote(embedded, registry, ledger, v2)
    assert registry.by_alias("production").version == v1


def test_a_deleted_rollback_target_refuses_clearly(project, tiny_assets):
    from pytest_mlci.errors import PromotionRefused

    registry, ledger = Registry(project), ledger_for(project)
    v1 = register_passing(project, tiny_assets / "good.skops")
    v2 = register_passing(project, tiny_assets / "bad.skops")
    promote(project, registry, ledger, v1)
    promote(project, registry, ledger, v2)
    registry.client.delete_model_version(project.model, v1)  # the version 'previous' named
    with pytest.raises(PromotionRefused, match="nothing to roll back to"):
        rollback(project, registry, ledger)
    assert registry.by_alias("production").version == v2
