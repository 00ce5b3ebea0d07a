"""Simulations of the canary judge through whole rollouts (issue 7 targets).

Each simulated canary runs the default steps 5 -> 25 -> 50 -> 100 % of a synthetic request
stream, the way ``mlci_local.rollout.controller.run_canary`` drives the judge: traffic comes
in batches of 4,000 requests split by the step's weight (the router's sticky hash makes the
split all but exact, so it is exact here); after every batch the judge sees the cumulative
observations of both arms; *pass* moves to the next step, *fail* rolls back, *inconclusive*
collects another batch at the same weight, and a step still undecided after 20 batches (the
controller's ``max_batches_per_step``) is *held* for a human. Steps below 100 % are judged
with ``interim=True``; the 100 % step, whose pass promotes, with ``interim=False``.

Traffic: production answers 85 % of labelled requests correctly, errors on 0.5 % of requests,
and has lognormal latency (median 20 ms, sigma 0.4). Delayed labels: when the judge looks, 60 %
of the current batch's labels have arrived and all of earlier batches'.

  a. 500 A/A canaries (the candidate is production): false-rollback rate (target <= 1 %);
  b. 500 canaries 5 points less accurate (80 %), seen only through delayed labels: detection
     rate (target >= 95 %), the step of the rollback, and the labelled samples the judge used
     against a fixed-horizon two-proportion test at the same one-sided alpha and power;
  c. 500 canaries erroring on 2 % of requests: the share rolled back before 25 %.

Run: .venv/bin/python benchmarks/sim_canary.py [--canaries 500] [--workers 2]
(about a minute on the 2-core machine)
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np

from mlci_local.rollout.judge import ArmObservations, JudgeSettings, judge
from pytest_mlci.evaluation.compare import wilson_interval
from pytest_mlci.gates import FAIL, PASS

STEPS = (0.05, 0.25, 0.5, 1.0)  # the controller's DEFAULT_STEPS
BATCH = 4_000  # requests per batch, both arms together
MAX_BATCHES_PER_STEP = 20  # the controller's CanaryPolicy default
LABELS_ARRIVED = 0.6  # share of the current batch's labels in when the judge looks
SETTINGS = JudgeSettings()


@dataclass(frozen=True)
class Arm:
    """How one model behaves on traffic."""

    accuracy: float = 0.85
    error_rate: float = 0.005
    latency_median_ms: float = 20.0
    latency_sigma: float = 0.4


@dataclass(frozen=True)
class Scenario:
    name: str
    canary: Arm


@dataclass(frozen=True)
class Outcome:
    """How one simulated canary ended."""

    verdict: str  # pass (promoted) | fail (rolled back) | inconclusive (held)
    step: int  # index into STEPS where it ended
    batches: int
    failed: tuple[str, ...]  # criteria that failed
    canary_labels: int
    control_labels: int


class _ArmStream:
    """Cumulative observations of one arm, batch by batch."""

    def __init__(self, arm: Arm, rng: np.random.Generator) -> None:
        self.arm, self.rng = arm, rng
        self.requests = self.errors = 0
        self.latency: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []

    def add(self, requests: int) -> None:
        errors = int(self.rng.binomial(requests, self.arm.error_rate))
        ok = requests - errors
        self.requests += requests
        self.errors += errors
        mu = math.log(self.arm.latency_median_ms)
        self.latency.append(np.exp(mu + self.arm.latency_sigma * self.rng.standard_normal(ok)))
        self.labels.append((self.rng.random(ok) < self.arm.accuracy).astype(np.int8))

    def observations(self) -> ArmObservations:
        current = self.labels[-1]
        arrived = [*self.labels[:-1], current[: int(LABELS_ARRIVED * len(current))]]
        return ArmObservations(
            requests=self.requests,
            errors=self.errors,
            latency_ms=np.concatenate(self.latency),
            labelled_correct=np.concatenate(arrived),
        )


def simulate(scenario: Scenario, seed: int) -> Outcome:
    """One canary through all steps, judged after every batch."""
    rng = np.random.default_rng(seed)
    control, canary = _ArmStream(Arm(), rng), _ArmStream(scenario.canary, rng)
    batches = 0
    for step, weight in enumerate(STEPS):
        settings = replace(SETTINGS, interim=weight < 1.0)
        for _ in range(MAX_BATCHES_PER_STEP):
            to_canary = round(BATCH * weight)
            canary.add(to_canary)
            control.add(BATCH - to_canary)
            batches += 1
            seen_control, seen_canary = control.observations(), canary.observations()
            judgement = judge(seen_control, seen_canary, settings)
            if judgement.verdict != "inconclusive":
                break
        if judgement.verdict != PASS:
            failed = tuple(c.name for c in judgement.criteria if c.verdict == FAIL)
            return Outcome(
                judgement.verdict,
                step,
                batches,
                failed,
                len(seen_canary.labelled_correct),
                len(seen_control.labelled_correct),
            )
    return Outcome(PASS, len(STEPS) - 1, batches, (), 0, 0)


def _run(args: tuple[Scenario, int]) -> Outcome:
    return simulate(*args)


def fixed_horizon(p_control: float, p_canary: float, alpha: float, power: float, k: float):
    """Per-arm sizes (canary, control) of a one-sided two-proportion z-test, control = k·canary.

    The standard formula (Fleiss): pooled variance under H0, unpooled under H1.
    """
    z_a, z_b = NormalDist().inv_cdf(1 - alpha), NormalDist().inv_cdf(power)
    p_bar = (p_canary + k * p_control) / (1 + k)
    h0 = math.sqrt(p_bar * (1 - p_bar) * (1 + 1 / k))
    h1 = math.sqrt(p_canary * (1 - p_canary) + p_control * (1 - p_control) / k)
    n_canary = (z_a * h0 + z_b * h1) ** 2 / (p_control - p_canary) ** 2
    return math.ceil(n_canary), math.ceil(k * n_canary)


def _rate(count: int, n: int) -> str:
    low, high = wilson_interval(count, n, 1.96)
    return f"{count / n:6.1%} [{low:.1%}, {high:.1%}]"


def _table(results: dict[str, list[Outcome]]) -> None:
    header = (
        f"{'scenario':34} {'canaries':>8} {'promoted':>9} {'rolled back':>12} {'held':>5}   "
        f"{'rolled back at 5/25/50/100%':>28}  {'batches':>7}  failed criteria"
    )
    print(header)
    print("-" * len(header))
    for name, outcomes in results.items():
        verdicts = Counter(o.verdict for o in outcomes)
        at_step = Counter(o.step for o in outcomes if o.verdict == FAIL)
        failed = Counter(c for o in outcomes for c in o.failed)
        where = " / ".join(str(at_step[i]) for i in range(len(STEPS)))
        criteria = ", ".join(f"{k} {v}" for k, v in sorted(failed.items())) or "-"
        print(
            f"{name:34} {len(outcomes):>8} {verdicts[PASS]:>9} {verdicts[FAIL]:>12} "
            f"{verdicts['inconclusive']:>5}   {where:>28}  "
            f"{np.mean([o.batches for o in outcomes]):>7.1f}  {criteria}"
        )


def _labels_needed(detected: list[Outcome], n: int) -> None:
    """Labelled samples at the rollback against a fixed-horizon test of the same errors."""
    canary = np.array([o.canary_labels for o in detected], dtype=float)
    control = np.array([o.control_labels for o in detected], dtype=float)
    alpha = SETTINGS.alpha / SETTINGS.criteria_count  # the quality criterion's share of alpha
    power = min(len(detected) / n, 0.99)
    k = float(control.mean() / canary.mean())
    same = fixed_horizon(0.85, 0.80, alpha, power, k)
    same_95 = fixed_horizon(0.85, 0.80, alpha, 0.95, k)
    even = fixed_horizon(0.85, 0.80, alpha, power, 1.0)
    used = canary.mean() + control.mean()
    print(
        f"b. labelled samples at the rollback vs a fixed-horizon one-sided two-proportion "
        f"test at the same alpha ({alpha:.4f}) and power ({power:.0%})"
    )
    print(f"   {'':46} {'canary':>8} {'control':>8} {'total':>8}")
    rows = [
        ("sequential judge, mean", canary.mean(), control.mean(), used),
        ("sequential judge, median", np.median(canary), np.median(control), None),
        (f"fixed horizon, same allocation (1:{k:.1f})", *same, sum(same)),
        ("  the same at 95% power (the target)", *same_95, sum(same_95)),
        ("fixed horizon, 1:1 allocation", *even, sum(even)),
    ]
    for label, a, b, total in rows:
        print(f"   {label:46} {a:8.0f} {b:8.0f} {'' if total is None else f'{total:8.0f}'}")
    print(
        f"   ratio sequential / fixed horizon (same allocation): canary labels "
        f"{canary.mean() / same[0]:.2f}, all labels {used / sum(same):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", type=int, default=500)
    parser.add_argument(
        "--precision-canaries",
        type=int,
        default=5000,
        help="A/A canaries for a tighter false-rollback estimate (0: skip)",
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n = args.canaries
    scenarios = [
        (Scenario("a. A/A (candidate = production)", Arm()), n),
        (Scenario("b. accuracy 5 points worse", Arm(accuracy=0.80)), n),
        (Scenario("c. errors on 2% of requests", Arm(error_rate=0.02)), n),
    ]
    if args.precision_canaries:
        scenarios.append((Scenario("a'. A/A, more canaries", Arm()), args.precision_canaries))
    started = time.perf_counter()
    results: dict[str, list[Outcome]] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for index, (scenario, count) in enumerate(scenarios):
            jobs = [(scenario, 1_000_000 * (index + 1) + i) for i in range(count)]
            results[scenario.name] = list(pool.map(_run, jobs, chunksize=20))
    elapsed = time.perf_counter() - started

    steps = " -> ".join(f"{w:.0%}" for w in STEPS)
    print(
        f"steps {steps}; {BATCH} requests per batch; the judge after every batch; "
        f"at most {MAX_BATCHES_PER_STEP} batches per step; alpha {SETTINGS.alpha}"
    )
    _table(results)
    outcomes = list(results.values())
    aa, drop, errs = outcomes[:3]
    print()
    rolled_back = sum(o.verdict == FAIL for o in aa)
    print(f"a. false-rollback rate, A/A:             {_rate(rolled_back, n)}  target <= 1%")
    if len(outcomes) > 3:
        more = outcomes[3]
        rolled_back = sum(o.verdict == FAIL for o in more)
        print(f"a'. the same on {len(more)} A/A canaries:    {_rate(rolled_back, len(more))}")
    detected = [o for o in drop if o.verdict == FAIL]
    print(f"b. 5-point drop detected (rolled back): {_rate(len(detected), n)}  target >= 95%")
    early = sum(o.verdict == FAIL and o.step == 0 for o in errs)
    anywhere = sum(o.verdict == FAIL for o in errs)
    print(f"c. 2% errors rolled back before 25%:    {_rate(early, n)}")
    print(f"   rolled back at any step:             {_rate(anywhere, n)}")
    if detected:
        print()
        _labels_needed(detected, n)
    print(f"\n({elapsed:.0f} s with {args.workers} workers)")


if __name__ == "__main__":
    main()
