"""One run per model at a time: a second `mlci run` refuses (or waits) and names the first.

The first run is played by a helper process that takes the run lock exactly as `mlci run`
does and then sleeps, so no test waits for a real run. A killed holder must free the lock
at once, whatever record it left; and a run whose version is already production says so,
never "held".
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlci_local.cli import cli
from mlci_local.runlock import lock_paths
from pytest_mlci.config import load_config

REPO = Path(__file__).resolve().parents[1]

HOLDER = """
import sys, time
from pathlib import Path
from mlci_local.runlock import run_lock
from pytest_mlci.config import load_config

with run_lock(load_config(Path(sys.argv[1])), "mlci run"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


@pytest.fixture
def project(backend_project, monkeypatch):
    """The tiny project, embedded (a file lock) and at team scale (PostgreSQL)."""
    monkeypatch.chdir(backend_project.root)
    return backend_project


@pytest.fixture
def holder(project):
    """Start a process that holds the project's run lock for ``seconds``; killed after."""
    started: list[subprocess.Popen] = []

    def start(seconds: float = 600) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(project.root / "pyproject.toml"), str(seconds)],
            cwd=project.root, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def mlci(*args: str):
    """`mlci ...` in-process, through the group's error handling and exit codes."""
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize(
    "command", [("run",), ("canary",), ("canary", "--abort"), ("stage",)], ids=" ".join
)
def test_a_second_run_is_refused_naming_who_holds_the_lock(project, holder, command):
    first = holder()
    result = mlci(*command)
    assert result.exit_code == 1, result.output
    message = " ".join(result.output.split())
    assert f"another run for model '{project.model}' is in progress" in message
    assert f"pid {first.pid} on {socket.gethostname()}" in message
    assert "since 20" in message  # an ISO time, then how long ago
    assert "mlci run" in message  # the holder's command
    assert "--wait SECONDS" in message  # and how to wait instead
    assert "Traceback" not in result.output
    assert first.poll() is None  # the holder is untouched


def test_wait_gives_up_after_the_time_given(project, holder):
    holder()
    started = time.monotonic()
    result = mlci("run", "--wait", "1.5")
    assert result.exit_code == 1
    assert time.monotonic() - started >= 1.5
    assert "(waited 1.5 s)" in result.output


def test_wait_goes_on_when_the_holder_finishes(project, holder):
    holder(seconds=1.5)
    result = mlci("run", "--until", "static", "--wait", "60")
    assert result.exit_code == 0, result.output
    assert "[1/7] code validation" in result.output
    assert "in progress" not in result.output


def test_a_negative_wait_is_a_usage_error(project):
    result = mlci("run", "--wait", "-1")
    assert result.exit_code == 2
    assert "--wait must be 0 or more seconds" in result.output


def test_a_killed_holder_frees_the_lock_at_once(project, holder):
    first = holder()
    first.send_signal(signal.SIGKILL)  # no cleanup: the record stays behind
    first.wait()
    if not load_config(project.root / "pyproject.toml").database:
        _, record = lock_paths(load_config(project.root / "pyproject.toml"))
        assert str(first.pid) in record.read_text()  # stale, and only informative
    result = mlci("run", "--until", "static")
    assert result.exit_code == 0, result.output
    assert "[1/7] code validation" in result.output


def test_the_lock_is_released_when_a_run_ends(project):
    assert mlci("run", "--until", "static").exit_code == 0
    assert mlci("run", "--until", "static").exit_code == 0
    config = load_config(project.root / "pyproject.toml")
    if not config.database:
        assert not lock_paths(config)[1].exists()  # the holder's record goes with it


# ------------------------------------------------------------------ never "held" when live


@pytest.fixture
def raced(tiny_dir, tiny_assets, monkeypatch):
    """v1 in production, this run's v2 about to be canaried; ``monkeypatch`` the canary."""
    from mlci_local.pipeline import Pipeline
    from mlci_local.registry import Registry
    from pytest_mlci.model_io import sha256_file

    config = load_config(tiny_dir.root / "pyproject.toml")
    registry = Registry(config)
    for source in ("good", "bad"):
        shutil.copy(tiny_assets / f"{source}.skops", config.artifact)
        registry.register(config.artifact, sha256_file(config.artifact), tags={})
    registry.set_alias("production", "1")
    pipeline = Pipeline(config, echo=lambda line: None)
    pipeline.ctx.version, pipeline.ctx.digest = "2", sha256_file(config.artifact)
    return pipeline


def _canary_that(pipeline, monkeypatch, *, winner_promotes: bool):
    """The in-run canary ends undecided; meanwhile another run may have promoted v2."""
    from mlci_local.rollout import traffic
    from mlci_local.rollout.controller import CanaryOutcome

    def canary(config, registry, ledger, version, **kwargs):
        if winner_promotes:
            registry.set_alias("production", version)
        return CanaryOutcome(verdict="inconclusive", version=version, steps=(), weight=0.1)

    monkeypatch.setattr(traffic, "run_local_canary", canary)
    return pipeline._canary("1")


def test_a_version_another_run_put_in_production_is_not_reported_held(raced, monkeypatch):
    status, detail = _canary_that(raced, monkeypatch, winner_promotes=True)
    assert (status, detail) == ("up to date", "v2 is already in production; nothing to hold")
    assert "held" not in detail and "approve" not in detail


def test_an_undecided_canary_of_a_version_not_in_production_is_still_held(raced, monkeypatch):
    status, detail = _canary_that(raced, monkeypatch, winner_promotes=False)
    assert status == "held"
    assert detail.startswith("canary of v2 held at 10%")
