"""`mlci audit repair`: after a crash mid-append, the one command that removes the torn line.

The messages of approve and rollback name it; it shows the line, asks, removes only an
unacknowledged torn last line, records the repair, and refuses every other kind of damage.
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from mlci_local.cli import cli

TORN = b'{"action":"approve","actor":"ana@example.com","data":{"model":"tiny","vers'


@pytest.fixture
def project(tiny_dir, tiny_assets, monkeypatch):
    """Production v1, a candidate v2 (both with passing records), and a ledger path."""
    from mlci_local.promotion import ledger_for, promote
    from mlci_local.registry import Registry
    from pytest_mlci.config import load_config
    from pytest_mlci.model_io import sha256_file

    monkeypatch.chdir(tiny_dir.root)
    monkeypatch.setenv("MLCI_ACTOR", "ana@example.com")
    config = load_config(tiny_dir.root / "pyproject.toml")
    registry, ledger = Registry(config), ledger_for(config)
    for source in ("good.skops", "bad.skops"):
        shutil.copy(tiny_assets / source, config.artifact)
        digest = sha256_file(config.artifact)
        registry.register(config.artifact, digest, tags={})
        for action in ("evaluation", "staging"):
            ledger.append(action, {"model": "tiny", "digest": digest, "passed": True})
    promote(config, registry, ledger, "1")
    promote(config, registry, ledger, "2", force=True, reason="test: v1 becomes previous")
    return config.state_dir / "ledger.jsonl"


def mlci(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def tear(path) -> bytes:
    """What a process killed half-way through an append leaves behind."""
    with open(path, "ab") as handle:
        handle.write(TORN)
    return path.read_bytes()


def test_a_torn_tail_names_the_repair_command_which_removes_it_and_records_that(project):
    torn = tear(project)

    approve = mlci("approve", "tiny", "2")
    assert approve.exit_code == 3
    assert "incomplete" in approve.output and "`mlci audit repair`" in approve.output
    rollback = mlci("rollback", "--yes", "--reason", "bad")
    assert rollback.exit_code == 3, rollback.output
    assert "`mlci audit repair`" in rollback.output
    assert "Traceback" not in approve.output + rollback.output
    assert project.read_bytes() == torn  # nothing built on the torn line

    repaired = mlci("audit", "repair", "--yes")
    assert repaired.exit_code == 0, repaired.output
    assert "never acknowledged; it will be removed" in repaired.output
    assert TORN.decode() in repaired.output  # the user saw exactly what goes
    assert "removed the torn line; recorded as ledger seq" in repaired.output

    lines = project.read_bytes().splitlines(keepends=True)
    assert project.read_bytes().startswith(torn[: -len(TORN)])
    record = json.loads(lines[-1])
    assert record["action"] == "audit.repair"
    assert record["data"]["removed_bytes"] == len(TORN)
    assert mlci("audit", "verify").exit_code == 0
    approved = mlci("approve", "tiny", "2")
    assert approved.exit_code == 0, approved.output
    assert "approved tiny v2" in approved.output


def test_repair_asks_first_and_no_changes_nothing(project):
    torn = tear(project)

    answered = mlci("audit", "repair", input="n\n")

    assert answered.exit_code == 1
    assert "Remove this line? [y/N]" in answered.output
    assert project.read_bytes() == torn
    assert mlci("audit", "repair", input="y\n").exit_code == 0
    assert not project.read_bytes().endswith(TORN)


def test_repair_on_an_intact_ledger_has_nothing_to_do(project):
    before = project.read_bytes()

    result = mlci("audit", "repair", "--yes")

    assert result.exit_code == 0
    assert "no torn last line; nothing to repair" in result.output
    assert project.read_bytes() == before


@pytest.mark.parametrize("also_torn", [False, True], ids=["edited", "edited-and-torn"])
def test_repair_refuses_any_other_damage_and_changes_nothing(project, also_torn):
    lines = project.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"passed":true', b'"passed":fals')  # an edited record
    project.write_bytes(b"".join(lines))
    damaged = tear(project) if also_torn else project.read_bytes()

    result = mlci("audit", "repair", "--yes")

    assert result.exit_code == 1
    assert "refusing to repair" in result.output
    assert "removes only a torn last line left by a crash" in result.output
    assert "Nothing was changed" in result.output
    assert project.read_bytes() == damaged
