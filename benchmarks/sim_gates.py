"""Simulations of the evaluation judge: interval coverage and gate verdicts (issue 5 targets).

Every scenario draws evaluation sets (with replacement) from a fixed synthetic population of
2,000,000 rows, so the population value of each metric *is* the true value of the sampling
distribution, known exactly. Candidate and baseline are two synthetic scorers of the same
latent signal whose errors are partly shared (as two models trained on the same data are).
Accuracy differences are set exactly by flipping a chosen number of the candidate's hard
predictions in the population.

  a. coverage: over ``--replicates`` (1,000) evaluation sets of 5,000 rows, how often the 95%
     paired bootstrap interval of the delta (``bootstrap_metric``, 500 resamples, a different
     seed per replicate) covers the true delta, for accuracy, roc_auc and f1 (target 94-96%;
     the Monte Carlo standard error of a coverage estimate is 0.7 points at 1,000 replicates,
     1.0 at 500, so fewer replicates cannot resolve a 2-point band);
  b. two identical models (the same predictions), 5,000 rows, ``accuracy >= baseline - 0.01``,
     200 replicates: passes (target: all); also two *different* models of exactly equal
     accuracy, for contrast;
  c. a candidate exactly 3 points less accurate, 20,000 rows, the same gate, 200 replicates:
     fails (target: all);
  d. 200 rows and a 1-point accuracy difference, the same gate, 200 replicates: counts of
     inconclusive / pass / fail (target: inconclusive), for a candidate 1 point worse and
     1 point better than a different baseline model, and for a candidate that is a near-copy
     of the baseline (differs on 1% of rows, always for the worse). The table shows the
     share of population rows on which the two models disagree.

Run: .venv/bin/python benchmarks/sim_gates.py [--replicates 1000] [--resamples 500]
(about 1.5 minutes on the 2-core machine)
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_mlci.evaluation.compare import BootstrapSettings, Predictions, bootstrap_metric
from pytest_mlci.evaluation.metrics import get_metric
from pytest_mlci.gates import FAIL, INCONCLUSIVE, PASS, parse_expression

TASK = "binary_classification"
POPULATION = 2_000_000
GATE = "accuracy >= baseline - 0.01"


@dataclass(frozen=True)
class Population:
    """Labels and both models' predictions on every row of the population."""

    y: Any
    candidate: Predictions
    baseline: Predictions

    def draw(self, rows: int, rng: Any) -> tuple[Any, Predictions, Predictions]:
        idx = rng.integers(0, len(self.y), rows)
        return self.y[idx], _take(self.candidate, idx), _take(self.baseline, idx)


def _take(p: Predictions, idx: Any) -> Predictions:
    return Predictions(p.y_pred[idx], None if p.y_score is None else p.y_score[idx])


def _sigmoid(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-x))


def make_population(
    seed: int, cand_noise: float = 0.8, base_noise: float = 0.9, shared: float = 0.6
) -> Population:
    """Latent signal z; label ~ Bernoulli(sigmoid(1.5 z)); each model scores z + its noise.

    ``shared`` is the correlation of the two models' noise: they tend to err on the same rows.
    """
    rng = np.random.default_rng(seed)
    n = POPULATION
    z = rng.standard_normal(n)
    y = (rng.random(n) < _sigmoid(1.5 * z)).astype(np.int64)
    common = rng.standard_normal(n)
    own = math.sqrt(1.0 - shared**2)

    def model(noise: float) -> Predictions:
        score = _sigmoid(2.0 * (z + noise * (shared * common + own * rng.standard_normal(n))))
        return Predictions((score > 0.5).astype(np.int64), score)

    return Population(y, model(cand_noise), model(base_noise))


def with_accuracy_delta(pop: Population, delta: float, seed: int) -> Population:
    """Flip candidate hard predictions so that accuracy(candidate) - accuracy(baseline) is
    exactly ``delta`` on the population (scores untouched: only accuracy gates use this)."""
    rng = np.random.default_rng(seed)
    y, cand = pop.y, pop.candidate.y_pred.copy()
    current = int((cand == y).sum()) - int((pop.baseline.y_pred == y).sum())
    change = round(delta * len(y)) - current
    pool = np.flatnonzero(cand == y) if change < 0 else np.flatnonzero(cand != y)
    flip = rng.choice(pool, size=abs(change), replace=False)
    cand[flip] = 1 - cand[flip]
    return Population(y, Predictions(cand, pop.candidate.y_score), pop.baseline)


def near_copy(pop: Population, delta: float, seed: int) -> Population:
    """Candidate = baseline except on ``-delta`` of the rows, where it turns right into wrong."""
    rng = np.random.default_rng(seed)
    y, base = pop.y, pop.baseline.y_pred
    cand = base.copy()
    flip = rng.choice(np.flatnonzero(base == y), size=round(-delta * len(y)), replace=False)
    cand[flip] = 1 - cand[flip]
    return Population(y, Predictions(cand, pop.baseline.y_score), pop.baseline)


def true_delta(pop: Population, name: str) -> float:
    metric = get_metric(name, TASK)
    cand = metric.fn(pop.y, pop.candidate.y_pred, pop.candidate.y_score)
    base = metric.fn(pop.y, pop.baseline.y_pred, pop.baseline.y_score)
    return float(cand) - float(base)


def coverage(pop: Population, replicates: int, rows: int, resamples: int, seed: int) -> None:
    names = ("accuracy", "roc_auc", "f1")
    truth = {name: true_delta(pop, name) for name in names}
    hits = {name: Counter() for name in names}
    widths: dict[str, list[float]] = {name: [] for name in names}
    rng = np.random.default_rng(seed)
    for r in range(replicates):
        y, cand, base = pop.draw(rows, rng)
        settings = BootstrapSettings(resamples=resamples, confidence=0.95, seed=seed + r)
        for name in names:
            _, delta = bootstrap_metric(get_metric(name, TASK), y, cand, base, settings)
            assert delta is not None and delta.low is not None and delta.high is not None
            t = truth[name]
            side = "below" if t < delta.low else "above" if t > delta.high else "covered"
            hits[name][side] += 1
            widths[name].append(delta.high - delta.low)
    mc_se = math.sqrt(0.95 * 0.05 / replicates)
    print(
        f"\na. coverage of the 95% paired percentile interval of the delta: {replicates} "
        f"replicates x {rows:,} rows, {resamples} resamples (Monte Carlo s.e. of a true 95% "
        f"coverage: {100 * mc_se:.1f} points)"
    )
    print(
        f"  {'metric':<9} {'true delta':>11} {'covered':>8} {'coverage':>9} "
        f"{'truth<low':>10} {'truth>high':>11} {'mean width':>11}  target 94-96%"
    )
    for name in names:
        h = hits[name]
        cov = h["covered"] / replicates
        verdict = "met" if 0.94 <= cov <= 0.96 else "NOT met"
        print(
            f"  {name:<9} {truth[name]:>11.5f} {h['covered']:>8} {100 * cov:>8.1f}% "
            f"{h['below']:>10} {h['above']:>11} {np.mean(widths[name]):>11.5f}  {verdict}"
        )


def verdicts(pop: Population, replicates: int, rows: int, resamples: int, seed: int) -> Counter:
    gate = parse_expression(GATE)
    metric = get_metric("accuracy", TASK)
    rng = np.random.default_rng(seed)
    counts: Counter = Counter()
    for r in range(replicates):
        y, cand, base = pop.draw(rows, rng)
        settings = BootstrapSettings(resamples=resamples, confidence=0.95, seed=seed + r)
        counts[gate.check(*bootstrap_metric(metric, y, cand, base, settings)).verdict] += 1
    return counts


def show(label: str, pop: Population, rows: int, counts: Counter, want: str, reps: int) -> None:
    met = "met" if counts[want] == reps else "NOT met"
    disagree = float((pop.candidate.y_pred != pop.baseline.y_pred).mean())
    print(
        f"  {label:<44} {true_delta(pop, 'accuracy'):>+8.4f} {disagree:>8.3f} {rows:>7,} "
        f"{counts[PASS]:>5} {counts[INCONCLUSIVE]:>6} {counts[FAIL]:>5}   all {want}: {met}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000, help="coverage replicates")
    parser.add_argument("--resamples", type=int, default=500)
    parser.add_argument("--gate-replicates", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20240501)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    pop = make_population(args.seed)
    acc = get_metric("accuracy", TASK)
    print(
        f"population {POPULATION:,} rows; positive rate {pop.y.mean():.3f}; accuracy candidate "
        f"{acc.fn(pop.y, pop.candidate.y_pred, None):.4f}, baseline "
        f"{acc.fn(pop.y, pop.baseline.y_pred, None):.4f}; models disagree on "
        f"{(pop.candidate.y_pred != pop.baseline.y_pred).mean():.3f} of rows"
    )
    coverage(pop, args.replicates, 5_000, args.resamples, args.seed)
    print(f"  ({time.perf_counter() - start:.1f} s so far)")

    reps, res = args.gate_replicates, args.resamples
    print(f"\nb-d. gate '{GATE}', {reps} replicates each, {res} resamples")
    print(
        f"  {'scenario':<44} {'true d':>8} {'disagree':>8} {'rows':>7} {'pass':>5} "
        f"{'inconc':>6} {'fail':>5}"
    )
    scenarios = [
        ("b. identical models (same predictions)",
         Population(pop.y, pop.baseline, pop.baseline), 5_000, PASS),
        ("b'. different models, exactly equal accuracy",
         with_accuracy_delta(pop, 0.0, args.seed + 1), 5_000, PASS),
        ("c. candidate 3 points worse", with_accuracy_delta(pop, -0.03, args.seed + 2), 20_000,
         FAIL),
        ("d. 1 point worse, different models",
         with_accuracy_delta(pop, -0.01, args.seed + 3), 200, INCONCLUSIVE),
        ("d. 1 point better, different models",
         with_accuracy_delta(pop, 0.01, args.seed + 4), 200, INCONCLUSIVE),
        ("d. 1 point worse, near-copy of the baseline",
         near_copy(pop, -0.01, args.seed + 5), 200, INCONCLUSIVE),
    ]  # fmt: skip
    for i, (label, population, rows, want) in enumerate(scenarios):
        counts = verdicts(population, reps, rows, res, args.seed + 100 * (i + 1))
        show(label, population, rows, counts, want, reps)
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
