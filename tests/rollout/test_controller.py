"""The canary controller: steps, rollback on fail, hold on inconclusive, resume, promotion."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mlci_local.promotion import ledger_for, promote
from mlci_local.registry import Registry
from mlci_local.rollout.controller import CanaryPolicy, run_canary
from mlci_local.rollout.judge import ArmObservations
from mlci_local.rollout.state import read_state
from pytest_mlci.config import load_config
from pytest_mlci.model_io import sha256_file


class Scripted:
    """Synthetic traffic: each batch has ``size`` requests, split by the step's weight."""

    def __init__(self, *, size=20000, accuracy=(0.85, 0.85), errors=(0.005, 0.005),
                 slow=1.0, seed=0, broken=False):  # fmt: skip
        self.size, self.accuracy, self.errors = size, accuracy, errors
        self.slow, self.broken = slow, broken
        self.rng = np.random.default_rng(seed)
        self.weights: list[float] = []

    def batches(self, weight):
        self.weights.append(weight)
        if self.broken:
            raise ConnectionError("metrics backend unreachable")
        for _ in range(50):
            canary_n = max(int(self.size * weight), 1)
            yield (self._arm(self.size - canary_n, 0, 1.0), self._arm(canary_n, 1, self.slow))

    def _arm(self, n, which, slow):
        errors = int(self.rng.binomial(n, self.errors[which]))
        served = n - errors
        latency = self.rng.lognormal(np.log(5.0), 0.3, served) * slow
        correct = (self.rng.random(served) < self.accuracy[which]).astype(int)
        return ArmObservations(n, errors, latency.tolist(), correct.tolist())


@pytest.fixture
def canary_project(tiny_dir, tiny_assets):
    """Production v1, candidate v2 with passing evaluation and staging records."""
    config = load_config(tiny_dir.root / "pyproject.toml")
    registry, ledger = Registry(config), ledger_for(config)
    versions = []
    for source in ("good.skops", "bad.skops"):
        shutil.copy(tiny_assets / source, config.artifact)
        digest = sha256_file(config.artifact)
        versions.append(registry.register(config.artifact, digest, tags={}).version.version)
        for action in ("evaluation", "staging"):
            ledger.append(action, {"model": config.model, "digest": digest, "passed": True})
    promote(config, registry, ledger, versions[0])
    return config, registry, ledger, versions[1]


POLICY = CanaryPolicy(steps=(0.05, 0.25, 0.5, 1.0), max_batches_per_step=10)


def test_an_aa_canary_passes_every_step_and_promotes(canary_project):
    config, registry, ledger, version = canary_project
    outcome = run_canary(config, registry, ledger, version, Scripted(), policy=POLICY)
    assert outcome.verdict == "pass", [s.summary for s in outcome.steps]
    assert [s.weight for s in outcome.steps] == [0.05, 0.25, 0.5, 1.0]
    assert outcome.promoted and registry.by_alias("production").version == version
    assert ledger.find("canary", version=version)[-1].data["passed"] is True


def test_five_points_worse_through_delayed_labels_is_rolled_back(canary_project):
    config, registry, ledger, version = canary_project
    source = Scripted(accuracy=(0.85, 0.80))
    outcome = run_canary(config, registry, ledger, version, source, policy=POLICY)
    assert outcome.verdict == "fail"
    assert registry.by_alias("production").version != version
    assert read_state(config).weight == 0.0
    record = ledger.find("canary", version=version)[-1]
    assert record.data["passed"] is False and "quality" in record.data["summary"]


def test_two_percent_errors_are_rolled_back_before_25_percent(canary_project):
    config, registry, ledger, version = canary_project
    source = Scripted(errors=(0.0, 0.02))
    outcome = run_canary(config, registry, ledger, version, source, policy=POLICY)
    assert outcome.verdict == "fail"
    assert outcome.steps[-1].weight < 0.25
    assert "errors" in outcome.steps[-1].summary


def test_a_slow_candidate_fails_the_latency_judge(canary_project):
    config, registry, ledger, version = canary_project
    outcome = run_canary(config, registry, ledger, version, Scripted(slow=1.5), policy=POLICY)
    assert outcome.verdict == "fail"
    assert "latency" in outcome.steps[-1].summary


def test_a_failing_metrics_source_holds_and_never_passes(canary_project):
    config, registry, ledger, version = canary_project
    source = Scripted(broken=True)
    outcome = run_canary(config, registry, ledger, version, source, policy=POLICY)
    assert outcome.verdict == "inconclusive"
    assert "metrics source failed: ConnectionError" in outcome.steps[0].summary
    assert registry.by_alias("production").version != version
    assert read_state(config).weight == 0.05  # held at the recorded weight


def test_a_controller_killed_mid_rollout_resumes_at_its_recorded_step(canary_project):
    config, registry, ledger, version = canary_project
    digest = registry.by_version(version).digest
    for step, weight in enumerate((0.05, 0.25)):  # what a killed controller left on record
        facts = {"model": config.model, "version": version, "digest": digest}
        ledger.append("canary.step", {**facts, "step": step, "weight": weight})
    source = Scripted()
    outcome = run_canary(config, registry, ledger, version, source, policy=POLICY)
    assert source.weights[0] == 0.25
    assert outcome.verdict == "pass"


def test_a_held_canary_resumes_at_the_step_it_held(canary_project):
    config, registry, ledger, version = canary_project
    held = run_canary(config, registry, ledger, version, Scripted(broken=True), policy=POLICY)
    assert held.verdict == "inconclusive" and held.weight == 0.05
    source = Scripted()
    outcome = run_canary(config, registry, ledger, version, source, policy=POLICY)
    assert source.weights[0] == 0.05 and outcome.verdict == "pass"


def test_an_approval_after_a_hold_lets_the_canary_go_on_from_the_next_step(canary_project):
    config, registry, ledger, version = canary_project
    digest = registry.by_version(version).digest
    run_canary(config, registry, ledger, version, Scripted(broken=True), policy=POLICY)
    ledger.append("approve", {"model": config.model, "version": version, "digest": digest,
                              "approver": "lead@example.com"})  # fmt: skip
    source = Scripted()
    outcome = run_canary(config, registry, ledger, version, source, policy=POLICY)
    assert source.weights[0] == 0.25
    assert outcome.resumed_at == 1 and outcome.verdict == "pass"


def test_a_step_may_not_pass_before_its_minimum_sample_and_time(canary_project):
    from dataclasses import replace

    config, registry, ledger, version = canary_project
    ticks = iter(range(1000))
    policy = replace(POLICY, min_samples=10**9, clock=lambda: float(next(ticks)))
    outcome = run_canary(config, registry, ledger, version, Scripted(), policy=policy)
    assert outcome.verdict == "inconclusive"
    assert outcome.steps[0].batches == POLICY.max_batches_per_step  # kept collecting
    assert "candidate requests it needs" in outcome.steps[0].summary
    slow = replace(POLICY, min_seconds=5.0, clock=lambda: float(next(ticks)))
    outcome = run_canary(config, registry, ledger, version, Scripted(), policy=slow)
    assert outcome.verdict == "pass"
    assert all(step.batches >= 5 for step in outcome.steps)  # each step lasted 5 ticks


def test_abort_returns_all_traffic_to_production_and_closes_the_canary(canary_project):
    from mlci_local.rollout.controller import abort_canary, in_flight

    config, registry, ledger, version = canary_project
    run_canary(config, registry, ledger, version, Scripted(broken=True), policy=POLICY)
    assert in_flight(ledger, config.model).held
    abort_canary(config, registry, ledger, version, reason="test")
    assert in_flight(ledger, config.model) is None
    assert read_state(config).weight == 0.0
    assert ledger.find("canary", version=version)[-1].data["verdict"] == "aborted"
