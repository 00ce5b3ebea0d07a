"""A password planted in every configurable address never reaches anything a person can read.

Each URI a project configures (``registry`` and ``$MLCI_REGISTRY``, ``database`` and
``$MLCI_DATABASE``, PostgreSQL audit anchors) carries the same distinctive password, and so
does the audit HMAC key; then every command a user runs is run, and the password is looked
for in its output, in every file under ``.mlci/`` (ledger, logs, reports, cards, caches), in
the evidence package, and (on the reachable path) in everything written to the registry and
the ledger database. Most checks run against unreachable servers and the embedded registry;
one test runs the whole path against the team stack, with credentials the servers ignore.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlci_local.cli import cli
from tests.test_server_down import closed_port, make_dvc_project

SECRET = "s3cr3t-PLANTED"
# What a user runs, in an order that lets each get as far as it can.
COMMANDS = [
    ("validate-data",),
    ("status",),
    ("status", "--json"),
    ("stage",),
    ("approve", "tiny", "1"),
    ("promote", "1"),
    ("rollback", "--yes", "--reason", "secrets test"),
    ("canary", "--abort"),
    ("audit", "verify"),
    ("audit", "repair", "--yes"),
    ("evidence", "tiny", "1", "--out", "evidence.zip"),
    ("metrics",),
    ("metrics", "--json"),
]


def leaks_in_files(root: Path) -> list[str]:
    """Every file under ``root`` (zips opened, member by member) that holds the secret."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if SECRET.encode() in data:
            found.append(str(path))
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                found += [f"{path}!{name}" for name in archive.namelist()
                          if SECRET.encode() in archive.read(name)]  # fmt: skip
    return found


def leaks_in_written(root: Path) -> list[str]:
    """What mlci wrote in the project: everything under ``.mlci/`` and the evidence zips
    (the project's own config holds the secret on purpose)."""
    found = leaks_in_files(root / ".mlci")
    for package in root.glob("*.zip"):
        found += _zip_leaks(package)
    return found


def _zip_leaks(package: Path) -> list[str]:
    assert zipfile.is_zipfile(package), package
    with zipfile.ZipFile(package) as archive:
        return [f"{package}!{name}" for name in archive.namelist()
                if SECRET.encode() in archive.read(name)]  # fmt: skip


def run_every_command(commands, capfd) -> dict[str, str]:
    """Each command's output (CliRunner's and the process's own streams), by command line."""
    outputs = {}
    for args in commands:
        result = CliRunner().invoke(cli, list(args))
        captured = capfd.readouterr()
        text = result.output + captured.out + captured.err
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            text += repr(result.exception)
        outputs[" ".join(args)] = text
    return outputs


def assert_never_shown(outputs: dict[str, str], root: Path) -> None:
    leaked = [command for command, text in outputs.items() if SECRET in text]
    assert not leaked, {command: outputs[command] for command in leaked}
    assert not leaks_in_written(root)
    tracebacks = [command for command, text in outputs.items() if "Traceback" in text]
    assert not tracebacks, {command: outputs[command] for command in tracebacks}


@pytest.fixture
def project(tiny_dir, monkeypatch):
    """The tiny project with v1 registered (embedded registry), as user ana."""
    from mlci_local.registry import Registry
    from pytest_mlci.config import load_config
    from pytest_mlci.model_io import sha256_file

    monkeypatch.chdir(tiny_dir.root)
    monkeypatch.setenv("MLCI_ACTOR", "ana@example.com")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # closed ports fail at once
    config = load_config(tiny_dir.root / "pyproject.toml")
    Registry(config).register(config.artifact, sha256_file(config.artifact), tags={})
    return tiny_dir


def unreachable(scheme: str) -> str:
    return f"{scheme}://ana:{SECRET}@127.0.0.1:{closed_port()}"


@pytest.mark.parametrize(
    "where",
    ["registry key", "MLCI_REGISTRY", "database key", "MLCI_DATABASE", "audit anchor"],
)
def test_a_planted_password_never_appears_with_the_server_unreachable(
    project, monkeypatch, capfd, where
):
    if where == "registry key":
        project.extra += f'registry = "{unreachable("http")}"\n'
    elif where == "MLCI_REGISTRY":
        monkeypatch.setenv("MLCI_REGISTRY", unreachable("http"))
    elif where == "database key":
        project.extra += f'database = "{unreachable("postgresql")}/mlci"\n'
    elif where == "MLCI_DATABASE":
        monkeypatch.setenv("MLCI_DATABASE", f"{unreachable('postgresql')}/mlci")
    else:
        # Signed checkpoints anchored in a PostgreSQL table: the HMAC key is a secret too.
        monkeypatch.setenv("MLCI_AUDIT_KEY", f"{SECRET}-hmac-key-0123456789abcdef")
        project.extra += (
            f'[tool.mlci.audit]\nsigning = "hmac"\n'
            f'anchors = ["{unreachable("postgresql")}/anchors"]\n'
        )
    project.write_config()

    outputs = run_every_command(COMMANDS, capfd)

    assert_never_shown(outputs, project.root)
    # The password is hidden, not the address: the user can still see where mlci went.
    shown = "\n".join(outputs.values())
    assert "ana:***@127.0.0.1:" in shown


def test_status_shows_a_reachable_registry_without_its_password(
    tiny_dir, team_stack, monkeypatch, capfd
):
    """The team's `mlflow server` ignores the credentials; status answers, password hidden."""
    monkeypatch.chdir(tiny_dir.root)
    monkeypatch.setenv("MLCI_REGISTRY", team_stack.mlflow.replace("://", f"://ana:{SECRET}@"))
    shown = team_stack.mlflow.replace("://", "://ana:***@")

    outputs = run_every_command([("status",), ("status", "--json")], capfd)

    assert_never_shown(outputs, tiny_dir.root)
    assert f"model tiny @ {shown}" in outputs["status"]
    assert json.loads(outputs["status --json"])["registry"] == shown


# ------------------------------------------------------------------ the reachable path


@pytest.mark.slow
def test_a_planted_password_never_appears_on_the_team_stack(
    tiny_dir, team_stack, fresh_database, monkeypatch, capfd
):
    """`mlflow server` and PostgreSQL ignore the credentials, so every command succeeds
    as far as the project allows, writing to the registry and the ledger database."""
    import uuid

    registry = team_stack.mlflow.replace("://", f"://ana:{SECRET}@", 1)
    database = fresh_database.replace("://mlci@", f"://mlci:{SECRET}@", 1)
    assert SECRET in registry and SECRET in database
    tiny_dir.model = f"tiny-{uuid.uuid4().hex[:8]}"
    tiny_dir.extra += f'database = "{database}"\n'
    tiny_dir.write_config()
    make_dvc_project(tiny_dir)
    monkeypatch.chdir(tiny_dir.root)
    monkeypatch.setenv("MLCI_REGISTRY", registry)
    monkeypatch.setenv("MLCI_ACTOR", "ana@example.com")
    model = tiny_dir.model

    # `run` evaluates in a child pytest and stages in a child process: a real subprocess,
    # so their output is what the user sees.
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    ran = subprocess.run(
        [sys.executable, "-m", "mlci_local", "run", "--until", "register"],
        cwd=tiny_dir.root, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    commands = [tuple(model if part == "tiny" else part for part in args) for args in COMMANDS]
    commands.insert(5, ("promote", "1", "--force", "--reason", "secrets test"))
    outputs = run_every_command(commands, capfd)
    outputs["run --until register"] = ran.stdout + ran.stderr

    assert_never_shown(outputs, tiny_dir.root)
    assert "production -> v1" in outputs["promote 1 --force --reason secrets test"]
    assert f"@ http://ana:***@{team_stack.mlflow.split('://', 1)[1]}" in outputs["status"]
    with zipfile.ZipFile(tiny_dir.root / "evidence.zip") as archive:
        assert archive.namelist()  # the package was written and scanned above
    assert not registry_leaks(team_stack.mlflow, model, tiny_dir.root / "downloaded")
    assert not database_leaks(fresh_database)


def registry_leaks(uri: str, model: str, scratch: Path) -> list[str]:
    """Tags of the model, its versions and their runs, and every file stored with them."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = []
    registered = client.get_registered_model(model)
    found += [f"model tag {k}" for k, v in registered.tags.items() if SECRET in v]
    for version in client.search_model_versions(f"name='{model}'"):
        found += [f"v{version.version} tag {k}" for k, v in version.tags.items() if SECRET in v]
        if SECRET in (version.source or "") + (version.description or ""):
            found.append(f"v{version.version} source/description")
        run = client.get_run(version.run_id)
        for kind, values in (("tag", run.data.tags), ("param", run.data.params)):
            found += [f"run {kind} {k}" for k, v in values.items() if SECRET in str(v)]
        target = scratch / version.version
        target.mkdir(parents=True)
        client.download_artifacts(version.run_id, "", str(target))
        found += leaks_in_files(target)
    return found


def database_leaks(dsn: str) -> list[str]:
    """Ledger rows (and any other table mlci wrote) holding the secret."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT seq, line FROM mlci.ledger").fetchall()
    assert rows, "the ledger database holds the records of the commands above"
    return [f"ledger seq {seq}" for seq, line in rows if SECRET in line]
