"""Evaluation gates at 1,000,000 rows: our paired bootstrap vs MLflow's evaluate + validate.

Measures, on a synthetic binary-classification problem (10 numeric features, a synthetic
protected attribute), with two small sklearn models trained beforehand on a separate
50,000-row training set (training is not timed):

  * ours: predictions of candidate and baseline (each scored once, as
    ``pytest_mlci.evaluation.scoring.score`` does; the old ``predict`` + ``predict_proba`` over
    every row is timed beside it), then ``bootstrap_metric`` for roc_auc, accuracy,
    f1, precision and recall (candidate estimate + paired delta, 1,000 resamples), a fairness
    gap (``fairness_estimate`` for ``fairness.demographic_parity_difference``, same resamples)
    and every gate check; prediction time and statistics time are reported apart;
  * MLflow: ``mlflow.models.evaluate(model_type="classifier")`` for the candidate and for the
    baseline (each logged with ``mlflow.sklearn.log_model`` to a sqlite tracking store in a
    temporary directory; logging is timed but kept out of MLflow's figure), then
    ``mlflow.validate_evaluation_results``;
  * plain sklearn point metrics (no intervals) for reference, with and without predictions.

MLflow is also run at 100,000 rows (ours too, for a same-size ratio), the size quoted in
issue 5. ``--skip-mlflow-full`` leaves MLflow out at the full size if it is too slow.

Run: .venv/bin/python benchmarks/bench_eval.py [--rows 1000000] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import numpy as np
import pandas as pd

from pytest_mlci.evaluation.compare import (
    BootstrapSettings,
    Predictions,
    bootstrap_metric,
)
from pytest_mlci.evaluation.fairness import fairness_estimate
from pytest_mlci.evaluation.metrics import get_metric
from pytest_mlci.gates import Estimate, parse_expression

TASK = "binary_classification"
FEATURES = [f"f{i}" for i in range(10)]
GATES = (
    "roc_auc >= 0.80",
    "roc_auc >= baseline - 0.01",
    "accuracy >= baseline - 0.01",
    "f1 >= baseline - 0.01",
    "precision >= baseline - 0.02",
    "recall >= baseline - 0.02",
    "fairness.demographic_parity_difference <= 0.10",
)
# skops (MLflow 3's default sklearn format) refuses HistGradientBoosting's tree nodes unless
# told to trust them; we made the file ourselves.
TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def make_data(train_rows: int, eval_rows: int, seed: int = 0) -> tuple[Any, Any]:
    """Train and evaluation frames: 10 features, ``label``, protected attribute ``group``."""
    from sklearn.datasets import make_classification

    n = train_rows + eval_rows
    x, y = make_classification(
        n_samples=n, n_features=10, n_informative=6, n_redundant=2, flip_y=0.05,
        class_sep=0.8, random_state=seed,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    # a protected attribute loosely tied to one feature, with a small third group
    p_a = 1.0 / (1.0 + np.exp(-x[:, 0]))
    group = np.where(rng.random(n) < p_a, "a", "b")
    group[rng.random(n) < 0.05] = "c"
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["label"] = y.astype(np.int64)
    frame["group"] = group
    return frame.iloc[:train_rows].reset_index(drop=True), frame.iloc[train_rows:].reset_index(
        drop=True
    )


def train_models(train: Any) -> tuple[Any, Any]:
    """Candidate: gradient boosting; baseline (the 'production' model): logistic regression."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    x, y = train[FEATURES], train["label"]
    candidate = HistGradientBoostingClassifier(max_iter=100, random_state=1).fit(x, y)
    baseline = LogisticRegression(max_iter=1000, random_state=2).fit(x, y)
    return candidate, baseline


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def predict(model: Any, features: Any) -> Predictions:
    """Hard labels (0/1) and positive-class score, the way the session computes them now:
    ``predict_proba`` over every row once, labels from its argmax checked against ``predict``
    on a sample (``pytest_mlci.evaluation.scoring.score``)."""
    from pytest_mlci.evaluation.scoring import score

    return score(model, features, TASK)


def predict_twice(model: Any, features: Any) -> Predictions:
    """Before scoring once: ``predict`` and ``predict_proba``, each over every row."""
    raw = model.predict(features)
    proba = model.predict_proba(features)
    positive = model.classes_[-1]
    column = list(model.classes_).index(positive)
    return Predictions(
        y_pred=(np.asarray(raw) == positive).astype(np.int64), y_score=np.asarray(proba)[:, column]
    )


def run_ours(candidate: Any, baseline: Any, data: Any, resamples: int) -> dict[str, Any]:
    """All gates, each timing kept apart; returns timings, estimates and verdicts."""
    times: dict[str, float] = {}
    start = time.perf_counter()
    features = data[FEATURES]
    y_true = data["label"].to_numpy()
    cand, times["predict candidate"] = timed(lambda: predict(candidate, features))
    base, times["predict baseline"] = timed(lambda: predict(baseline, features))
    settings = BootstrapSettings(resamples=resamples, confidence=0.95, seed=0)
    gates = [parse_expression(text) for text in GATES]
    estimates: dict[str, tuple[Estimate, Estimate | None]] = {}
    for name in dict.fromkeys(g.metric for g in gates):
        if name.startswith("fairness."):
            (est, delta, _), seconds = timed(
                lambda name=name: fairness_estimate(
                    name,
                    {"group": data["group"].to_numpy()},
                    y_true,
                    cand.y_pred,
                    base.y_pred,
                    min_group_size=30,
                    resamples=resamples,
                    confidence=0.95,
                    seed=0,
                )
            )
        else:
            metric = get_metric(name, TASK)
            (est, delta), seconds = timed(
                lambda metric=metric: bootstrap_metric(metric, y_true, cand, base, settings)
            )
        estimates[name] = (est, delta)
        times[f"bootstrap {name}"] = seconds
    outcomes, times["gate checks"] = timed(lambda: [g.check(*estimates[g.metric]) for g in gates])
    total = time.perf_counter() - start
    predict_s = times["predict candidate"] + times["predict baseline"]
    return {
        "times": times,
        "total": total,
        "predict": predict_s,
        "stats": total - predict_s,
        "estimates": estimates,
        "outcomes": list(zip(GATES, outcomes, strict=True)),
        "predictions": (cand, base),
    }


def run_sklearn(candidate: Any, baseline: Any, data: Any, preds: tuple[Any, Any]) -> dict:
    """Point estimates only: the 5 metrics for both models, given and including predictions."""
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    y_true = data["label"].to_numpy()

    def metrics(p: Predictions) -> list[float]:
        return [
            roc_auc_score(y_true, p.y_score),
            accuracy_score(y_true, p.y_pred),
            f1_score(y_true, p.y_pred),
            precision_score(y_true, p.y_pred),
            recall_score(y_true, p.y_pred),
        ]

    _, given = timed(lambda: [metrics(p) for p in preds])

    def with_predictions() -> list[list[float]]:
        return [metrics(predict(m, data[FEATURES])) for m in (candidate, baseline)]

    _, including = timed(with_predictions)
    return {"metrics only": given, "predictions + metrics": including}


def run_mlflow(candidate: Any, baseline: Any, data: Any, root: Path) -> dict[str, Any]:
    """Log both models, evaluate each with the default evaluator, then validate."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import MetricThreshold

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    experiment = f"bench-{len(data)}"
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=(root / "artifacts").as_uri())
    mlflow.set_experiment(experiment)
    frame = data[[*FEATURES, "label"]]
    times: dict[str, float] = {}
    uris = {}
    for role, model in (("candidate", candidate), ("baseline", baseline)):
        with mlflow.start_run(run_name=f"log-{role}"):
            info, times[f"log_model {role}"] = timed(
                lambda model=model, role=role: mlflow.sklearn.log_model(
                    model,
                    name=role,
                    input_example=frame[FEATURES].head(5),
                    skops_trusted_types=TRUSTED,
                )
            )
        uris[role] = info.model_uri
    results = {}
    caught: list[str] = []
    for role in ("candidate", "baseline"):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            with mlflow.start_run(run_name=f"eval-{role}"):
                results[role], times[f"evaluate {role}"] = timed(
                    lambda role=role: mlflow.models.evaluate(
                        model=uris[role], data=frame, targets="label", model_type="classifier"
                    )
                )
        caught += [f"{w.category.__name__}: {str(w.message).splitlines()[0][:110]}" for w in seen]
    # MLflow cannot express "at most 0.01 worse" (min_absolute_change must be > 0), so the
    # closest it has: absolute thresholds, and "not below the baseline's point estimate"
    # (min_relative_change=0.0), all on point estimates.
    thresholds = {
        "roc_auc": MetricThreshold(threshold=0.80, greater_is_better=True),
        **{
            name: MetricThreshold(min_relative_change=0.0, greater_is_better=True)
            for name in ("accuracy_score", "f1_score", "precision_score", "recall_score")
        },
    }

    def validate() -> str:
        from mlflow.exceptions import MlflowException

        try:
            mlflow.validate_evaluation_results(
                thresholds, results["candidate"], results["baseline"]
            )
        except MlflowException as exc:  # ModelValidationFailedException is one
            return f"fail: {str(exc).splitlines()[0][:100]}"
        return "pass"

    verdict, times["validate_evaluation_results"] = timed(validate)
    mlflow_total = (
        times["evaluate candidate"] + times["evaluate baseline"]
        + times["validate_evaluation_results"]
    )  # fmt: skip
    return {
        "times": times,
        "total": mlflow_total,
        "verdict": verdict,
        "warnings": sorted(set(caught)),
        "metrics": {r: results[r].metrics for r in results},
    }


def show_ours(rows: int, ours: dict[str, Any]) -> None:
    print(f"\nours at {rows:,} rows: per step (seconds)")
    for step, seconds in ours["times"].items():
        print(f"  {step:<40} {seconds:8.3f}")
    print(f"  {'predictions (both models)':<40} {ours['predict']:8.3f}")
    print(f"  {'statistics + gates':<40} {ours['stats']:8.3f}")
    print(f"  {'total':<40} {ours['total']:8.3f}")
    print("  gate verdicts:")
    for _, outcome in ours["outcomes"]:
        print(f"    {outcome.verdict:<13} {outcome.message}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=100_000)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--skip-mlflow-full", action="store_true")
    args = parser.parse_args(argv)

    import sklearn

    train, data = make_data(args.train_rows, args.rows)
    small = data.iloc[: args.small_rows].reset_index(drop=True)
    (candidate, baseline), train_s = timed(lambda: train_models(train))
    print(
        f"numpy {np.__version__}, sklearn {sklearn.__version__}, {os.cpu_count()} cpus; "
        f"trained on {len(train):,} rows in {train_s:.1f} s (not timed below); "
        f"load average {_load()}"
    )
    rows: list[tuple[str, int, float]] = []
    ours_by_size = {}
    for size, frame in ((args.rows, data), (args.small_rows, small)):
        ours = run_ours(candidate, baseline, frame, args.resamples)
        ours_by_size[size] = ours["total"]
        show_ours(size, ours)
        rows += [
            (f"ours: all {len(GATES)} gates, {args.resamples}-resample paired bootstrap", size,
             ours["total"]),
            ("  of which predictions (2 models, each scored once)", size, ours["predict"]),
            ("  of which statistics + gate checks", size, ours["stats"]),
        ]  # fmt: skip
        features = frame[FEATURES]
        _, twice = timed(
            lambda features=features: [predict_twice(m, features) for m in (candidate, baseline)]
        )
        rows.append(("  before: predict + predict_proba (2 models)", size, twice))
        sk = run_sklearn(candidate, baseline, frame, ours["predictions"])
        rows += [
            ("sklearn point metrics, 5 x 2 models (given predictions)", size,
             sk["metrics only"]),
            ("sklearn predictions + point metrics", size, sk["predictions + metrics"]),
        ]  # fmt: skip

    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-eval-mlflow-") as tmp:
        sizes = [(args.small_rows, small)]
        if not args.skip_mlflow_full:
            sizes.append((args.rows, data))
        for size, frame in sizes:
            result = run_mlflow(candidate, baseline, frame, Path(tmp))
            print(f"\nMLflow {mlflow.__version__} at {size:,} rows (seconds)")
            for step, seconds in result["times"].items():
                print(f"  {step:<40} {seconds:8.3f}")
            print(f"  validate_evaluation_results verdict: {result['verdict']}")
            for role, metrics in result["metrics"].items():
                shown = {
                    k: round(v, 4)
                    for k, v in metrics.items()
                    if k
                    in ("roc_auc", "accuracy_score", "f1_score", "precision_score", "recall_score")
                }
                print(f"  {role} metrics: {shown}")
            for line in result["warnings"]:
                print(f"  warning: {line}")
            t = result["times"]
            rows += [
                ("MLflow: evaluate x2 + validate_evaluation_results", size, result["total"]),
                ("  of which evaluate candidate", size, t["evaluate candidate"]),
                ("  of which evaluate baseline", size, t["evaluate baseline"]),
                ("  of which validate_evaluation_results", size,
                 t["validate_evaluation_results"]),
                ("MLflow log_model x2 (not in MLflow's figure)", size,
                 t["log_model candidate"] + t["log_model baseline"]),
            ]  # fmt: skip

    print(f"\n{'approach':<62} {'rows':>10} {'seconds':>9} {'vs ours':>8}")
    for name, size, seconds in rows:
        print(f"{name:<62} {size:>10,} {seconds:9.3f} {seconds / ours_by_size[size]:7.2f}x")
    print("('vs ours' divides by our total at the same row count)")
    print(f"load average at the end: {_load()}")


if __name__ == "__main__":
    main()
