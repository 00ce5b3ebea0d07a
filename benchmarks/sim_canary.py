"""Simulations of the canary judge through whole rollouts (issue 7 targets).

``--policy live`` (the default) runs the default steps 5 -> 25 -> 50 -> 100 % of a synthetic
request stream, the way ``mlci_local.rollout.controller.run_canary`` drives the judge: traffic
comes in batches of 4,000 requests split by the step's weight (the router's sticky hash makes
the split all but exact, so it is exact here); after every batch the judge sees the cumulative
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

``--policy in-run`` simulates the canary ``mlci run`` runs itself on the bundled example
(``mlci_local.rollout.traffic.run_local_canary``), with the policy read from
``[tool.mlci.canary]`` of ``--config`` (pyproject.toml) through the controller's own
``policy_from_config``: its steps, judge settings and per-step ``min_samples``, and the
traffic bounds of ``SyntheticTraffic``: each step sends at most ``max_requests_per_step``
requests in batches of ``batch`` (the last one smaller if the budget is not a multiple), the
judge looks after every batch, and the labels of a batch arrive ``label_lag`` batches later
(posted after the next batch is sent and before the judge looks, carried across steps; the
last ``label_lag`` batches' labels never arrive). Each request goes to the candidate with
probability equal to the weight (random user keys through the sticky hash: a binomial
split). The example model: accuracy 0.875, errors on 0.1 % of requests (it never errors in
practice), and the router-logged model time of a one-row sklearn predict, lognormal with
median 3.5 ms and sigma 0.25. ``min_seconds`` is not simulated (there is no clock here; the
bundled policy sets none). Scenarios: 1,000 A/A canaries and 500 candidates 5 points less
accurate (0.825): promoted, held and rolled back with 95 % Wilson intervals, the step of the
rollbacks, and the synthetic requests used.

Run: .venv/bin/python benchmarks/sim_canary.py [--canaries 500] [--workers 2]
(about a minute on the 2-core machine)
     .venv/bin/python benchmarks/sim_canary.py --policy in-run [--aa-canaries 1000]
         [--config pyproject.toml] [--set judge.quality_margin=0.04 ...]  (about 30 s)
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist

import numpy as np

from mlci_local.rollout.judge import ArmObservations, JudgeSettings, judge
from pytest_mlci.evaluation.compare import wilson_interval
from pytest_mlci.gates import FAIL, INCONCLUSIVE, PASS

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


# The bundled example's model behind the local router (``--policy in-run``).
EXAMPLE = Arm(accuracy=0.875, error_rate=0.001, latency_median_ms=3.5, latency_sigma=0.25)


@dataclass(frozen=True)
class Policy:
    """How a canary is driven: the controller's steps and minimums, the traffic's batches."""

    name: str
    steps: tuple[float, ...] = STEPS
    settings: JudgeSettings = SETTINGS
    batch: int = BATCH
    max_requests_per_step: int = BATCH * MAX_BATCHES_PER_STEP
    max_batches_per_step: int = MAX_BATCHES_PER_STEP
    min_samples: int | tuple[int, ...] = 0
    min_seconds: float | tuple[float, ...] = 0.0  # reported, never simulated
    label_lag: int | None = None  # None: LABELS_ARRIVED of the current batch, all earlier
    label_fraction: float = 1.0
    exact_split: bool = True  # False: each request is the candidate's with p = weight
    control: Arm = Arm()

    def min_samples_at(self, index: int) -> int:
        samples = self.min_samples
        return samples if isinstance(samples, int) else samples[index]


LIVE = Policy("live")


def in_run_policy(config_path: Path, overrides: list[str] | tuple[str, ...] = ()) -> Policy:
    """The policy ``mlci run`` applies, built the way ``run_local_canary`` builds it.

    ``overrides`` (``KEY=VALUE``, ``KEY`` relative to ``[tool.mlci.canary]``, ``VALUE`` in TOML,
    e.g. ``judge.quality_margin=0.04``) change the table before the project's own parser
    validates it, to try a policy without editing the file.
    """
    import tomllib

    from mlci_local.rollout.controller import policy_from_config
    from pytest_mlci.config import load_config, parse_config

    config = load_config(config_path)
    if overrides:
        source = config_path.resolve()
        document = tomllib.loads(source.read_text(encoding="utf-8"))
        in_pyproject = source.name == "pyproject.toml"
        table = document["tool"]["mlci"] if in_pyproject else document
        for item in overrides:
            key, _, raw = item.partition("=")
            *parents, name = key.strip().split(".")
            node = table.setdefault("canary", {})
            for parent in parents:
                node = node.setdefault(parent, {})
            node[name] = tomllib.loads(f"value = {raw.strip()}")["value"]
        config = parse_config(
            table, root=source.parent, source=source, prefix="tool.mlci." if in_pyproject else ""
        )
    traffic = config.canary.traffic
    controller = policy_from_config(
        config, max_batches_per_step=math.ceil(traffic.max_requests_per_step / traffic.batch)
    )
    return Policy(
        "in-run",
        steps=controller.steps,
        settings=controller.judge,
        batch=traffic.batch,
        max_requests_per_step=traffic.max_requests_per_step,
        max_batches_per_step=controller.max_batches_per_step,
        min_samples=controller.min_samples,
        min_seconds=controller.min_seconds,
        label_lag=traffic.label_lag,
        label_fraction=traffic.label_fraction,
        exact_split=False,
        control=EXAMPLE,
    )


@dataclass(frozen=True)
class Scenario:
    name: str
    canary: Arm


@dataclass(frozen=True)
class Outcome:
    """How one simulated canary ended."""

    verdict: str  # pass (promoted) | fail (rolled back) | inconclusive (held)
    step: int  # index into the policy's steps where it ended
    batches: int
    failed: tuple[str, ...]  # criteria that failed
    canary_labels: int
    control_labels: int
    requests: int = 0  # synthetic requests sent, both arms
    pending: tuple[str, ...] = ()  # criteria still inconclusive when a step was held


class _ArmStream:
    """Cumulative observations of one arm, batch by batch."""

    def __init__(self, arm: Arm, rng: np.random.Generator) -> None:
        self.arm, self.rng = arm, rng
        self.requests = self.errors = 0
        self.latency: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []  # labels that have arrived

    def add(self, requests: int) -> np.ndarray:
        """Serve ``requests``; the 1/0 correctness of the answered ones (labels to come)."""
        errors = int(self.rng.binomial(requests, self.arm.error_rate))
        ok = requests - errors
        self.requests += requests
        self.errors += errors
        mu = math.log(self.arm.latency_median_ms)
        self.latency.append(np.exp(mu + self.arm.latency_sigma * self.rng.standard_normal(ok)))
        return (self.rng.random(ok) < self.arm.accuracy).astype(np.int8)

    def observations(self, partial: np.ndarray | None = None) -> ArmObservations:
        arrived = self.labels if partial is None else [*self.labels, partial]
        return ArmObservations(
            requests=self.requests,
            errors=self.errors,
            latency_ms=np.concatenate(self.latency),
            labelled_correct=np.concatenate(arrived) if arrived else np.zeros(0, np.int8),
        )


def _step_batches(policy: Policy) -> list[int]:
    """The batch sizes one step sends (``SyntheticTraffic.batches``, capped by the policy)."""
    sizes, used = [], 0
    while used < policy.max_requests_per_step and len(sizes) < policy.max_batches_per_step:
        sizes.append(min(policy.batch, policy.max_requests_per_step - used))
        used += sizes[-1]
    return sizes


def simulate(scenario: Scenario, seed: int, policy: Policy = LIVE) -> Outcome:
    """One canary through all steps, judged after every batch (``run_canary``'s loop)."""
    rng = np.random.default_rng(seed)
    control, canary = _ArmStream(policy.control, rng), _ArmStream(scenario.canary, rng)
    pending: list[tuple[np.ndarray, np.ndarray]] = []  # label batches not yet arrived
    batches = sent = 0
    last = len(policy.steps) - 1
    for step, weight in enumerate(policy.steps):
        settings = replace(policy.settings, interim=step < last)
        need = policy.min_samples_at(step)
        seen_here = 0
        verdict = INCONCLUSIVE
        for size in _step_batches(policy):
            if policy.exact_split:
                to_canary = round(size * weight)
            else:
                to_canary = size if weight >= 1.0 else int(rng.binomial(size, weight))
            canary_labels = canary.add(to_canary)
            control_labels = control.add(size - to_canary)
            if policy.label_fraction < 1.0:
                canary_labels = canary_labels[
                    rng.random(len(canary_labels)) < policy.label_fraction
                ]
                control_labels = control_labels[
                    rng.random(len(control_labels)) < policy.label_fraction
                ]
            batches += 1
            sent += size
            seen_here += to_canary
            if policy.label_lag is None:  # live: part of this batch's labels are in
                seen_control = control.observations(
                    control_labels[: int(LABELS_ARRIVED * len(control_labels))]
                )
                seen_canary = canary.observations(
                    canary_labels[: int(LABELS_ARRIVED * len(canary_labels))]
                )
                control.labels.append(control_labels)
                canary.labels.append(canary_labels)
            else:  # in-run: a batch's labels are posted label_lag batches later
                pending.append((control_labels, canary_labels))
                while len(pending) > policy.label_lag:
                    arrived_control, arrived_canary = pending.pop(0)
                    control.labels.append(arrived_control)
                    canary.labels.append(arrived_canary)
                seen_control, seen_canary = control.observations(), canary.observations()
            judgement = judge(seen_control, seen_canary, settings)
            verdict = judgement.verdict
            if verdict == PASS and seen_here < need:
                verdict = INCONCLUSIVE  # the judge is satisfied, the step is not over yet
            if verdict != INCONCLUSIVE:
                break
        if verdict != PASS:
            failed = tuple(c.name for c in judgement.criteria if c.verdict == FAIL)
            waiting = tuple(c.name for c in judgement.criteria if c.verdict == INCONCLUSIVE)
            if verdict == INCONCLUSIVE and not waiting:
                waiting = ("min_samples",)
            return Outcome(
                verdict,
                step,
                batches,
                failed,
                len(seen_canary.labelled_correct),
                len(seen_control.labelled_correct),
                sent,
                waiting if verdict == INCONCLUSIVE else (),
            )
    return Outcome(PASS, last, batches, (), 0, 0, sent)


def _run(args: tuple[Scenario, int, Policy]) -> Outcome:
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


def _table(results: dict[str, list[Outcome]], steps: tuple[float, ...]) -> None:
    shares = "/".join(f"{w:.0%}".rstrip("%") for w in steps) + "%"
    header = (
        f"{'scenario':34} {'canaries':>8} {'promoted':>9} {'rolled back':>12} {'held':>5}   "
        f"{'rolled back at ' + shares:>28}  {'batches':>7}  failed criteria"
    )
    print(header)
    print("-" * len(header))
    for name, outcomes in results.items():
        verdicts = Counter(o.verdict for o in outcomes)
        at_step = Counter(o.step for o in outcomes if o.verdict == FAIL)
        failed = Counter(c for o in outcomes for c in o.failed)
        where = " / ".join(str(at_step[i]) for i in range(len(steps)))
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


def run(
    policy: Policy, scenarios: list[tuple[Scenario, int]], workers: int
) -> dict[str, list[Outcome]]:
    """Every scenario's canaries, seeded by scenario index and canary number."""
    results: dict[str, list[Outcome]] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for index, (scenario, count) in enumerate(scenarios):
            jobs = [(scenario, 1_000_000 * (index + 1) + i, policy) for i in range(count)]
            results[scenario.name] = list(pool.map(_run, jobs, chunksize=20))
    return results


def describe(policy: Policy) -> str:
    """The policy in one paragraph, as simulated."""
    steps = " -> ".join(f"{w:.0%}" for w in policy.steps)
    s = policy.settings
    lag = (
        f"{LABELS_ARRIVED:.0%} of the current batch's labels in at each look"
        if policy.label_lag is None
        else f"labels {policy.label_lag} batch(es) late"
    )
    return (
        f"policy {policy.name}: steps {steps}; batches of {policy.batch:,} requests, at most "
        f"{policy.max_requests_per_step:,} requests / {policy.max_batches_per_step} batches per "
        f"step; min_samples {policy.min_samples}; {lag}; judge min_requests {s.min_requests}, "
        f"min_labels {s.min_labels}, error_rate_margin {s.error_rate_margin}, quality_margin "
        f"{s.quality_margin}, latency_effect {s.latency_effect}, alpha {s.alpha}"
    )


def in_run_report(policy: Policy, results: dict[str, list[Outcome]]) -> None:
    """Promoted / held / rolled back with Wilson intervals, where, and at what traffic cost."""
    shares = " / ".join(f"{w:.0%}" for w in policy.steps)
    for name, outcomes in results.items():
        n = len(outcomes)
        verdicts = Counter(o.verdict for o in outcomes)
        rolled = Counter(o.step for o in outcomes if o.verdict == FAIL)
        held = Counter(o.step for o in outcomes if o.verdict == INCONCLUSIVE)
        failed = Counter(c for o in outcomes for c in o.failed)
        waiting = Counter(c for o in outcomes for c in o.pending)
        requests = np.array([o.requests for o in outcomes])
        print(f"{name} ({n} canaries)")
        steps = range(len(policy.steps))
        why_held = f"   (inconclusive: {dict(sorted(waiting.items()))})" if waiting else ""
        why_failed = f"   (failed: {dict(sorted(failed.items()))})" if failed else ""
        print(f"   promoted     {_rate(verdicts[PASS], n)}")
        print(
            f"   held         {_rate(verdicts[INCONCLUSIVE], n)}   at {shares}: "
            f"{' / '.join(str(held[i]) for i in steps)}{why_held}"
        )
        print(
            f"   rolled back  {_rate(verdicts[FAIL], n)}   at {shares}: "
            f"{' / '.join(str(rolled[i]) for i in steps)}{why_failed}"
        )
        print(
            f"   synthetic requests: mean {requests.mean():,.0f}, median "
            f"{np.median(requests):,.0f}, max {requests.max():,}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--policy",
        choices=("live", "in-run"),
        default="live",
        help="live: the default live canary; in-run: [tool.mlci.canary] as `mlci run` uses it",
    )
    parser.add_argument("--config", type=Path, default=Path("pyproject.toml"))
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="--policy in-run: override a [tool.mlci.canary] key, e.g. judge.quality_margin=0.04",
    )
    parser.add_argument("--canaries", type=int, default=500)
    parser.add_argument(
        "--aa-canaries", type=int, default=1000, help="A/A canaries of --policy in-run"
    )
    parser.add_argument(
        "--precision-canaries",
        type=int,
        default=5000,
        help="A/A canaries for a tighter false-rollback estimate (0: skip)",
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.policy == "in-run":
        main_in_run(args)
        return
    n = args.canaries
    scenarios = [
        (Scenario("a. A/A (candidate = production)", Arm()), n),
        (Scenario("b. accuracy 5 points worse", Arm(accuracy=0.80)), n),
        (Scenario("c. errors on 2% of requests", Arm(error_rate=0.02)), n),
    ]
    if args.precision_canaries:
        scenarios.append((Scenario("a'. A/A, more canaries", Arm()), args.precision_canaries))
    started = time.perf_counter()
    results = run(LIVE, scenarios, args.workers)
    elapsed = time.perf_counter() - started

    steps = " -> ".join(f"{w:.0%}" for w in STEPS)
    print(
        f"steps {steps}; {BATCH} requests per batch; the judge after every batch; "
        f"at most {MAX_BATCHES_PER_STEP} batches per step; alpha {SETTINGS.alpha}"
    )
    _table(results, STEPS)
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


def main_in_run(args: argparse.Namespace) -> None:
    """``--policy in-run``: A/A and a 5-point accuracy drop under ``[tool.mlci.canary]``."""
    policy = in_run_policy(args.config, args.set)
    control = policy.control
    scenarios = [
        (Scenario("A/A (candidate = production)", control), args.aa_canaries),
        (
            Scenario("accuracy 5 points worse", replace(control, accuracy=control.accuracy - 0.05)),
            args.canaries,
        ),
    ]
    started = time.perf_counter()
    results = run(policy, scenarios, args.workers)
    elapsed = time.perf_counter() - started
    print(describe(policy))
    print(
        f"control: accuracy {control.accuracy}, errors {control.error_rate:.1%}, latency "
        f"lognormal median {control.latency_median_ms} ms sigma {control.latency_sigma}; "
        f"min_seconds {policy.min_seconds} not simulated"
    )
    print()
    in_run_report(policy, results)
    print(
        "targets: A/A rolled back <= 1%, held <= 5%; 5 points worse rolled back >= 95%"
        f"\n({elapsed:.0f} s with {args.workers} workers)"
    )


if __name__ == "__main__":
    main()
