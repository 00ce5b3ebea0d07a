"""A registry or database that cannot be used: one line, the address redacted, no traceback.

Two setup problems a team meets first, answered like configuration mistakes rather than
bugs: the server is down (exit 3, the line names the redacted address and what to check),
and a ``postgresql://`` address without the PostgreSQL driver installed (exit 2, the line
names the extra to install).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from mlci_local.cli import cli

SECRET = "s3cr3t-PLANTED"

# Every command a user runs that needs the registry or the database (arguments as typed).
COMMANDS = [
    ("status",),
    ("status", "--json"),
    ("promote", "1"),
    ("rollback", "--yes"),
    ("approve", "tiny", "1"),
    ("audit", "verify"),
    ("evidence", "tiny", "1"),
    ("stage",),
]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def quick_failures(monkeypatch):
    """No retries against a closed port: the same messages, without MLflow's backoff."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLCI_ACTOR", "ana@example.com")


@pytest.fixture
def down_project(tiny_dir, monkeypatch, quick_failures):
    monkeypatch.chdir(tiny_dir.root)
    return tiny_dir


def register_v1(project) -> None:
    """v1 in the embedded registry, so a command gets as far as the ledger."""
    from mlci_local.registry import Registry
    from pytest_mlci.config import load_config
    from pytest_mlci.model_io import sha256_file

    config = load_config(project.root / "pyproject.toml")
    Registry(config).register(config.artifact, sha256_file(config.artifact), tags={})


def one_error_line(result, capfd) -> str:
    """The command's only output line (an ``error:`` line), whatever stream it went to."""
    captured = capfd.readouterr()
    text = result.output + captured.out + captured.err
    assert "Traceback" not in text
    assert SECRET not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_registry_that_is_down_is_one_line_with_the_address_redacted(
    down_project, monkeypatch, capfd, args
):
    port = closed_port()
    monkeypatch.setenv("MLCI_REGISTRY", f"http://ana:{SECRET}@127.0.0.1:{port}")

    result = CliRunner().invoke(cli, list(args))

    line = one_error_line(result, capfd)
    assert result.exit_code == 3
    assert line.startswith(f"error: registry http://ana:***@127.0.0.1:{port}: cannot connect")
    assert "Connection refused" in line
    assert "check that the server is running and reachable" in line
    assert "$MLCI_REGISTRY" in line


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_database_that_is_down_is_one_line_with_the_address_redacted(
    down_project, monkeypatch, capfd, args
):
    if args[0] in ("approve", "evidence"):
        register_v1(down_project)
    port = closed_port()
    monkeypatch.setenv("MLCI_DATABASE", f"postgresql://mlci:{SECRET}@127.0.0.1:{port}/mlci")

    result = CliRunner().invoke(cli, list(args))

    line = one_error_line(result, capfd)
    assert result.exit_code == 3
    assert line.startswith(f"error: database postgresql://mlci:***@127.0.0.1:{port}/mlci: ")
    assert "cannot connect" in line and "Connection refused" in line
    assert "$MLCI_DATABASE" in line


def test_a_postgresql_registry_that_is_down_fails_in_seconds_not_minutes(
    down_project, monkeypatch, capfd
):
    """MLflow alone retries its database engine for about 100 s before saying anything."""
    import time

    port = closed_port()
    monkeypatch.setenv("MLCI_REGISTRY", f"postgresql://mlci:{SECRET}@127.0.0.1:{port}/mlflow")

    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["status"])

    assert time.perf_counter() - started < 15
    line = one_error_line(result, capfd)
    assert result.exit_code == 3
    assert f"registry postgresql://mlci:***@127.0.0.1:{port}/mlflow: cannot connect" in line


# ------------------------------------------------------------------ without psycopg

# Runs `mlci` with psycopg made unimportable, as on a machine without the [team] extra.
WITHOUT_PSYCOPG = textwrap.dedent(
    """\
    import sys


    class NoPsycopg:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("psycopg", "psycopg2", "psycopg_binary", "psycopg_c"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, NoPsycopg())
    for name in [m for m in sys.modules if m.split(".")[0].startswith("psycopg")]:
        del sys.modules[name]
    from mlci_local.cli import main

    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.parametrize(
    ("variable", "what"),
    [("MLCI_REGISTRY", "registry"), ("MLCI_DATABASE", "database")],
)
def test_postgresql_without_psycopg_names_the_extra_to_install(tiny_dir, variable, what):
    port = closed_port()
    uri = f"postgresql://mlci:{SECRET}@127.0.0.1:{port}/mlci"
    env = {**os.environ, variable: uri, "NO_COLOR": "1", "COLUMNS": "200"}

    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PSYCOPG, "status"],
        cwd=tiny_dir.root, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and SECRET not in done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {what} postgresql://mlci:***@127.0.0.1:{port}/mlci needs the PostgreSQL "
        "driver, and psycopg is not installed; install it with: pip install 'pytest-mlci[team]'"
    ]


def make_dvc_project(project) -> None:
    """The tiny project as a git + DVC repository whose "training" copies a saved model."""
    import shutil

    shutil.move(project.root / "models" / "model.skops", project.root / "trained.skops")
    (project.root / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: cp trained.skops models/model.skops\n"
        "    deps: [trained.skops]\n    outs: [models/model.skops]\n"
    )
    (project.root / ".gitignore").write_text("/models\n.mlci/\n")
    for command in (["git", "init", "-q", "-b", "main"],
                    ["git", "config", "user.email", "dev@example.com"],
                    ["git", "config", "user.name", "Dev"],
                    [sys.executable, "-m", "dvc", "init", "-q"],
                    [sys.executable, "-m", "dvc", "config", "core.analytics", "false"],
                    ["git", "add", "-A"], ["git", "commit", "-q", "-m", "tiny"]):  # fmt: skip
        subprocess.run(command, cwd=project.root, check=True, capture_output=True)


@pytest.mark.slow
@pytest.mark.parametrize("variable", ["MLCI_REGISTRY", "MLCI_DATABASE"])
def test_mlci_run_with_a_server_down_stops_at_the_first_stage_that_needs_it(tiny_dir, variable):
    make_dvc_project(tiny_dir)
    port = closed_port()
    scheme = "http" if variable == "MLCI_REGISTRY" else "postgresql"
    uri = f"{scheme}://ana:{SECRET}@127.0.0.1:{port}"
    env = {**os.environ, variable: uri, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
           "MLCI_ACTOR": "ana@example.com", "NO_COLOR": "1", "COLUMNS": "200"}  # fmt: skip

    done = subprocess.run(
        [sys.executable, "-m", "mlci_local", "run", "--until", "register"],
        cwd=tiny_dir.root, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip

    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    assert "Traceback" not in output and SECRET not in output
    what = "registry" if variable == "MLCI_REGISTRY" else "database"
    assert f"{what} {scheme}://ana:***@127.0.0.1:{port}: cannot connect" in output


# ------------------------------------------------------------------ the CLI's last line


@pytest.mark.parametrize(
    ("raised", "code", "expected"),
    [
        (ConnectionRefusedError(111, "Connection refused"), 3,
         "error: cannot connect to a server mlci uses (Connection refused); check that the "
         "registry, the database and any audit anchor are running and reachable"),
        (ModuleNotFoundError("No module named 'psycopg'", name="psycopg"), 2,
         "error: the PostgreSQL driver (psycopg) is not installed; install it with: "
         "pip install 'pytest-mlci[team]'"),
    ],
    ids=["server down", "no driver"],
)  # fmt: skip
def test_a_failure_no_adapter_translated_is_still_one_line(
    down_project, monkeypatch, raised, code, expected
):
    from mlci_local.registry import Registry

    def fail(self):
        raise raised

    monkeypatch.setattr(Registry, "aliases", fail)

    result = CliRunner().invoke(cli, ["status"])

    assert result.exit_code == code
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), result.output
    assert "Traceback" not in result.output


def test_a_real_bug_keeps_its_traceback_but_not_the_password(down_project, monkeypatch):
    from mlci_local.registry import Registry

    def fail(self):
        raise RuntimeError(f"boom at http://ana:{SECRET}@mlflow.internal:5000/api")

    monkeypatch.setattr(Registry, "aliases", fail)

    result = CliRunner().invoke(cli, ["status"])

    assert result.exit_code == 3
    assert "Traceback" in result.output and "a bug; please report it" in result.output
    assert "boom at http://ana:***@mlflow.internal:5000/api" in result.output
    assert SECRET not in result.output


def test_an_error_message_with_a_password_is_redacted_by_the_cli(down_project, monkeypatch):
    from mlci_local.registry import Registry
    from pytest_mlci.errors import RegistryError

    def fail(self):
        raise RegistryError(f"registry refused: postgresql://ana:{SECRET}@db/mlci?sslmode=x")

    monkeypatch.setattr(Registry, "aliases", fail)

    result = CliRunner().invoke(cli, ["status"])

    assert result.exit_code == 3
    assert result.output == "error: registry refused: postgresql://ana:***@db/mlci?sslmode=x\n"
