"""Blue-green through the local router on loopback, under a steady background load.

The router (real uvicorn on loopback, models injected: production is the good model, the
new version a wrapper that can be made to fail) serves a load generator that runs through
the whole blue-green and records every answer. A healthy new version is switched to, soaks
and is promoted; one that starts failing during the soak is switched back at once; one that
fails its smoke test never gets traffic. Every background request gets an answer with
predictions in all three: none is dropped, none sees the new version's failure.
"""

from __future__ import annotations

import json
import shutil
import threading

import pytest

from mlci_local.hookspec import hookimpl, plugin_manager
from mlci_local.promotion import ledger_for, promote
from mlci_local.registry import Registry
from mlci_local.rollout.blue_green import run_blue_green
from mlci_local.rollout.judge import JudgeSettings
from mlci_local.rollout.state import read_state, rollout_dir
from pytest_mlci.config import load_config
from pytest_mlci.model_io import sha256_file

pytestmark = pytest.mark.slow  # a few thousand real HTTP requests per test

BLUE_GREEN = """
[tool.mlci.blue_green]
warm_requests = 30
soak_seconds = 1.5
# The router shares this process with the load and the traffic threads here (the models are
# injected), so its latencies swing with the GIL between the two windows; these tests are
# about the switch, the switch back and dropped requests, not about latency.
latency_effect = 0.49

[tool.mlci.canary.traffic]
batch = 100
max_requests_per_step = 800
concurrency = 1
"""
JUDGE = JudgeSettings(min_requests=100, min_labels=100, quality_margin=0.1,
                      error_rate_margin=0.02, latency_effect=0.3)  # fmt: skip


class Switchable:
    """The good model, until ``broken`` is set: then every call raises."""

    def __init__(self, inner, broken: threading.Event) -> None:
        self.inner, self.broken = inner, broken
        self.classes_ = inner.classes_

    def predict_proba(self, frame):
        if self.broken.is_set():
            raise RuntimeError("planted failure: the new version lost its feature store")
        return self.inner.predict_proba(frame)

    def predict(self, frame):
        return self.predict_proba(frame).argmax(axis=1)


class BreakAfterSwitch:
    """A deploy-target plugin that sets ``broken`` shortly after the switch."""

    def __init__(self, broken: threading.Event, delay: float) -> None:
        self.broken, self.delay = broken, delay

    @hookimpl
    def mlci_blue_green(self, config, candidate_version, phase):
        if phase == "switch":
            threading.Timer(self.delay, self.broken.set).start()


class Load:
    """Steady requests from ``threads`` connections until stopped; every answer kept."""

    def __init__(self, router, rows, threads: int = 1) -> None:
        self.router, self.rows, self.threads = router, rows, threads
        self.stop = threading.Event()
        self.answers: list[tuple[int, bool]] = []  # (status, carried predictions)
        self.dropped: list[str] = []
        self._workers = [threading.Thread(target=self._send, args=(n,)) for n in range(threads)]

    def _send(self, number: int) -> None:
        from mlci_local.rollout.traffic import _body, _exchange

        sent = 0
        while not self.stop.is_set():
            connection = self.router.connection()
            try:
                while not self.stop.is_set():
                    row = self.rows[(number + sent * self.threads) % len(self.rows)]
                    key = {"X-Request-Key": f"load-{number}-{sent}"}
                    status, body = _exchange(connection, "POST", "/invocations", _body(row), key)
                    sent += 1
                    self.answers.append((status, isinstance(body, dict) and "predictions" in body))
            except Exception as exc:  # a reset or a timeout: a dropped request
                self.dropped.append(f"{type(exc).__name__}: {exc}")
            finally:
                connection.close()

    def __enter__(self) -> Load:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for worker in self._workers:
            worker.join(timeout=30)


@pytest.fixture
def project(tiny_dir, tiny_assets):
    """Production v1 (the good model) and a registered v2 the blue-green moves to."""
    tiny_dir.extra += BLUE_GREEN
    tiny_dir.write_config()
    config = load_config(tiny_dir.root / "pyproject.toml")
    registry, ledger = Registry(config), ledger_for(config)
    versions = []
    for source in (tiny_assets / "good.skops", tiny_assets / "bad.skops"):
        shutil.copy(source, config.artifact)
        digest = sha256_file(config.artifact)
        versions.append(registry.register(config.artifact, digest, tags={}).version.version)
        for action in ("evaluation", "staging"):
            ledger.append(action, {"model": config.model, "digest": digest, "passed": True})
    promote(config, registry, ledger, versions[0])
    return config, registry, ledger


def blue_green(project, new_model, *, plugins=()):
    """Run the blue-green of v2 through the local router under background load."""
    from mlci_local.rollout.live import LogSource
    from mlci_local.rollout.router import build_app
    from mlci_local.rollout.traffic import LocalRouter, SyntheticTraffic, sample_rows

    config, registry, ledger = project
    app = build_app(config, production_model=new_model.inner, candidate_model=new_model)
    rows, labels = sample_rows(config)
    with LocalRouter(config, app=app) as router, Load(router, rows) as load:
        source = SyntheticTraffic(router, rows, labels, config.canary.traffic,
                                  LogSource(rollout_dir(config)), run_id="bg")  # fmt: skip
        outcome = run_blue_green(config, registry, ledger, "2", source, source.preview,
                                 judge_settings=JUDGE,
                                 manager=plugin_manager(extra=list(plugins)))  # fmt: skip
        load.stop.wait(0.5)  # the load goes on a moment after the verdict
    return outcome, load


def logged(config) -> list[dict]:
    path = rollout_dir(config) / "requests.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def good_model(tiny_assets):
    import skops.io as sio

    path = tiny_assets / "good.skops"
    return sio.load(path, trusted=sio.get_untrusted_types(file=path))


def test_a_healthy_new_version_takes_all_traffic_soaks_and_is_promoted(project, tiny_assets):
    config, registry, ledger = project
    new = Switchable(good_model(tiny_assets), threading.Event())
    outcome, load = blue_green(project, new)
    assert outcome.verdict == "pass", outcome.summary
    assert outcome.promoted and registry.by_alias("production").version == "2"
    assert outcome.control_requests >= 100 and outcome.candidate_requests >= 100
    assert read_state(config).mode == "none"  # promotion hands all traffic to production
    assert not load.dropped and load.answers
    assert all(status == 200 and predictions for status, predictions in load.answers)
    actions = [r.action for r in ledger.find(model=config.model)]
    assert actions.index("bluegreen.start") < actions.index("bluegreen.switch")
    assert ledger.find("canary", version="2")[-1].data["strategy"] == "blue-green"
    previews = [r for r in logged(config) if r.get("preview")]
    assert len(previews) == 30 and {r["version"] for r in previews} == {"2"}


def test_a_failure_planted_during_the_soak_switches_back_at_once(project, tiny_assets):
    config, registry, ledger = project
    broken = threading.Event()
    new = Switchable(good_model(tiny_assets), broken)
    outcome, load = blue_green(project, new, plugins=[BreakAfterSwitch(broken, 0.3)])
    assert outcome.verdict == "fail", outcome.summary
    assert "errors: fail" in outcome.summary
    assert registry.by_alias("production").version == "1"
    state = read_state(config)
    assert (state.mode, state.weight) == ("none", 0.0)
    assert outcome.switched_back_ms is not None
    # every request during the switch, the failure and the switch back was answered
    assert not load.dropped
    assert load.answers and all(status == 200 and ok for status, ok in load.answers)
    records = logged(config)
    failed = [r for r in records if r.get("arm") == "candidate" and r.get("error")]
    assert failed and all(r.get("answered_by") == "injected" for r in failed)
    # after the switch back (the last candidate-arm line), production answers everything
    last_candidate = max(i for i, r in enumerate(records) if r.get("arm") == "candidate")
    later = [r for r in records[last_candidate + 1 :] if r.get("arm")]
    assert later and {r["arm"] for r in later} == {"production"}
    end = ledger.find("bluegreen", model=config.model)[-1].data
    assert (end["verdict"], end["phase"], end["passed"]) == ("fail", "soak", False)


def test_a_new_version_that_fails_its_smoke_test_never_gets_traffic(project, tiny_assets):
    config, registry, ledger = project
    broken = threading.Event()
    broken.set()  # fails from the first call
    outcome, load = blue_green(project, Switchable(good_model(tiny_assets), broken))
    assert (outcome.verdict, outcome.phase) == ("fail", "smoke")
    assert "planted failure" in outcome.summary
    assert registry.by_alias("production").version == "1"
    assert not ledger.find("bluegreen.switch", model=config.model)
    users = [r for r in logged(config) if r.get("arm") and not r.get("preview")]
    assert users and {r["arm"] for r in users} == {"production"}
    assert not load.dropped and all(status == 200 for status, _ in load.answers)


def test_blue_green_settings_are_checked(tiny_dir):
    from pytest_mlci.errors import ConfigError

    tiny_dir.extra += "\n[tool.mlci.blue_green]\nwarm_requests = 0\n"
    tiny_dir.write_config()
    with pytest.raises(ConfigError, match="warm_requests must be at least 1"):
        load_config(tiny_dir.root / "pyproject.toml")
    tiny_dir.extra = tiny_dir.extra.replace("warm_requests = 0", "warm_request = 3")
    tiny_dir.write_config()
    with pytest.raises(ConfigError, match="did you mean 'warm_requests'"):
        load_config(tiny_dir.root / "pyproject.toml")


def test_a_blue_green_whose_controller_died_is_switched_back_by_the_next_reconcile(project):
    """A controller killed after the switch leaves all traffic on the unjudged version; the
    next promote, rollback or `mlci run` (they reconcile first) puts it back on production."""
    import socket
    import subprocess
    import sys

    from mlci_local.promotion import reconcile_locked
    from mlci_local.rollout.local_target import mlci_blue_green

    config, registry, ledger = project
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    facts = {"model": config.model, "version": "2", "control": "1", "strategy": "blue-green"}
    ledger.append(
        "bluegreen.start", {**facts, "pid": int(gone.stdout), "host": socket.gethostname()}
    )
    mlci_blue_green(config, "2", "switch")
    assert (read_state(config).mode, read_state(config).weight) == ("blue-green", 1.0)
    notes = reconcile_locked(config, registry, ledger)
    assert any("lost its controller" in note for note in notes), notes
    assert read_state(config).mode == "none"
    assert ledger.find("rollout.reset", model=config.model)
