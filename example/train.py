"""DVC stage ``train``: fit the conversion model on ``data/train.parquet`` and save it with skops.

Only the training split is read here; the test split belongs to ``evaluate`` and the gates, and
touching it while fitting would be the very leakage pytest-mlci's static rules look for.

The model is a plain sklearn Pipeline (scaling and one-hot encoding in a ColumnTransformer, then
a HistGradientBoostingClassifier) so that skops can persist it without pickle, and every source of
randomness is tied to ``train.seed`` so ``dvc repro`` gives the same model twice.

``train.degrade`` (0..1) exists for tests that need a *worse* candidate to watch a gate fail:
it drops the strongest features (more of them as it grows) and flips a share ``degrade / 2`` of
the training labels. At 0 it does nothing.

Run as ``python -m example.train [--params params.yaml] [--data data/train.parquet]
[--model models/model.skops]``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from example.generate import TARGET
from example.prepare import load_params
from pytest_mlci.skops_save import dump

DEFAULTS: dict[str, Any] = {"seed": 42, "max_iter": 200, "learning_rate": 0.1, "degrade": 0.0}
# The features that carry the most signal, strongest first; ``degrade`` removes a prefix of them.
STRONGEST_FEATURES = (
    "time_on_site",
    "pages_viewed",
    "days_since_last_visit",
    "channel",
    "previous_purchases",
)


def feature_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Split the feature columns (everything but the target) into numeric and categorical."""
    features = [column for column in frame.columns if column != TARGET]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in features if c not in numeric]
    return numeric, categorical


def build_pipeline(
    numeric: Sequence[str],
    categorical: Sequence[str],
    *,
    seed: int,
    max_iter: int,
    learning_rate: float,
) -> Pipeline:
    """Return the unfitted model: preprocessing for the named columns, then gradient boosting."""
    preprocess = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(numeric)),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                list(categorical),
            ),
        ],
        remainder="drop",  # columns a degraded model leaves out are ignored, not an error
    )
    classifier = HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=learning_rate,
        # Explicit rather than "auto" so small test samples and the full data stop the same way.
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=seed,
    )
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)])


def train(
    frame: pd.DataFrame,
    *,
    seed: int = 42,
    max_iter: int = 200,
    learning_rate: float = 0.1,
    degrade: float = 0.0,
) -> Pipeline:
    """Fit the conversion model on ``frame`` (features plus the ``converted`` target)."""
    if not 0.0 <= degrade <= 1.0:
        raise ValueError(f"degrade must be between 0 and 1, got {degrade!r}")
    if frame.empty:
        raise ValueError("cannot train on an empty frame")
    X = frame.drop(columns=[TARGET])
    y = frame[TARGET].to_numpy(copy=True)
    numeric, categorical = feature_columns(frame)

    if degrade > 0:
        dropped = set(STRONGEST_FEATURES[: math.ceil(degrade * len(STRONGEST_FEATURES))])
        numeric = [c for c in numeric if c not in dropped]
        categorical = [c for c in categorical if c not in dropped]
        flip = np.random.default_rng(seed).random(len(y)) < degrade / 2
        y[flip] = 1 - y[flip]

    model = build_pipeline(
        numeric, categorical, seed=seed, max_iter=max_iter, learning_rate=learning_rate
    )
    # Fitted on every feature column so a degraded model accepts the same input as a good one.
    model.fit(X, y)
    return model


def save(model: Pipeline, path: str | Path) -> Path:
    """Persist ``model`` with skops (no pickle: it loads without running code), the same
    model always as the same bytes.

    A plain ``skops.io.dump`` differs on every save (object ids, zip timestamps); pytest-mlci
    tells "same model" by a content digest that ignores both, so it needs nothing more. The
    example commits its ``dvc.lock`` (DVC refuses a git-ignored lock), which records the
    model's md5: ``pytest_mlci.skops_save.dump`` keeps that md5 stable across retrains, so the
    quickstart leaves the tree unmodified.
    """
    return dump(model, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the DVC stage."""
    parser = argparse.ArgumentParser(
        prog="python -m example.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )
    parser.add_argument("--data", default="data/train.parquet", help="(default: %(default)s)")
    parser.add_argument("--model", default="models/model.skops", help="(default: %(default)s)")
    args = parser.parse_args(argv)

    params = load_params(args.params, "train", DEFAULTS)
    frame = pd.read_parquet(args.data, engine="pyarrow")
    model = train(
        frame,
        seed=int(params["seed"]),
        max_iter=int(params["max_iter"]),
        learning_rate=float(params["learning_rate"]),
        degrade=float(params["degrade"]),
    )
    path = save(model, args.model)
    iterations = model.named_steps["classifier"].n_iter_
    print(f"{path}: trained on {len(frame)} rows, {iterations} boosting iterations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
