"""Hourly grid load model: gradient boosted trees (Huber loss).

Loads the grid_load extract, derives features, splits off a held-out test set, fits a model
to estimate ``load_mw`` and writes the model, its metrics and diagnostic plots to the output
directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import KFold, RandomizedSearchCV, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

LOGGER = logging.getLogger(__name__)

RANDOM_STATE = 42
DATA_PATH = Path("data") / "grid_load.csv"
OUT_DIR = Path("artifacts") / "energy"
TARGET = "load_mw"
ID_COL = "reading_id"
DATE_COL = "timestamp"
NUMERIC = [
    "temperature_c",
    "humidity_pct",
    "wind_speed_ms",
    "hour",
    "temp_per_humidity",
    "log_wind_speed_ms",
    "temperature_c_vs_season",
    "timestamp_month",
]
CATEGORICAL = ["season", "day_type"]
SCORING = "neg_root_mean_squared_error"
PARAM_GRID = {
    "model__learning_rate": [0.05, 0.1],
    "model__max_depth": [2, 3, 5],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_PATH, help="raw extract")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    return parser.parse_args(argv)


def load_data(path: Path) -> pd.DataFrame:
    """Read the raw extract; duplicated ids and rows without a label are dropped."""
    dtypes = {col: "category" for col in CATEGORICAL}
    df = pd.read_csv(path, dtype=dtypes, parse_dates=[DATE_COL])
    LOGGER.info("loaded %d rows from %s", len(df), path)
    return df.drop_duplicates(subset=ID_COL).dropna(subset=[TARGET])


def add_features(df: pd.DataFrame) -> pd.DataFrame:
    """Derived columns, computed row by row or from feature columns only."""
    df = df.copy()
    df["temp_per_humidity"] = df["temperature_c"] / df["humidity_pct"].replace(0, np.nan)
    df["log_wind_speed_ms"] = np.log1p(df["wind_speed_ms"].clip(lower=0))
    group_mean = df.groupby("season", observed=True)["temperature_c"].transform("mean")
    df["temperature_c_vs_season"] = df["temperature_c"] - group_mean
    df["timestamp_month"] = df[DATE_COL].dt.month
    df["temperature_c"] = df["temperature_c"].clip(lower=0)
    return df


def build_pipeline() -> Pipeline:
    """Impute, scale and encode inside the pipeline, so every fold fits its own."""
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    preprocess = ColumnTransformer(
        [
            ("num", numeric, NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=20), CATEGORICAL),
        ]
    )
    model = GradientBoostingRegressor(
        loss="huber", n_estimators=400, subsample=0.8, random_state=RANDOM_STATE
    )
    return Pipeline([("preprocess", preprocess), ("model", model)])


def evaluate(model, X, y) -> dict[str, float]:
    """Error metrics on one held-out set, in the units of the target."""
    pred = model.predict(X)
    return {
        "mae": float(mean_absolute_error(y, pred)),
        "rmse": float(np.sqrt(mean_squared_error(y, pred))),
        "r2": float(r2_score(y, pred)),
    }


def plot_residuals(y_true, pred, path: Path) -> None:
    residuals = np.asarray(y_true) - np.asarray(pred)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    axes[0].scatter(pred, y_true, s=6, alpha=0.4)
    low, high = float(np.min(y_true)), float(np.max(y_true))
    axes[0].plot([low, high], [low, high], linestyle="--", color="grey")
    axes[0].set_xlabel("predicted")
    axes[0].set_ylabel("actual")
    axes[1].hist(residuals, bins=50, color="#55a868")
    axes[1].set_xlabel("residual")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def save_artifacts(model, metrics: dict[str, float], out_dir: Path) -> None:
    """Model, metrics and the feature lists the serving code needs."""
    with open(out_dir / "model.pkl", "wb") as fh:
        pickle.dump(model, fh)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    features = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": TARGET}
    (out_dir / "features.json").write_text(json.dumps(features, indent=2))
    LOGGER.info("saved model and metrics to %s", out_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    df = add_features(load_data(args.data))
    df = df.sample(frac=0.25)
    X = df[NUMERIC + CATEGORICAL].copy()
    y = df[TARGET]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=RANDOM_STATE
    )
    cv = KFold(n_splits=5, shuffle=True, random_state=RANDOM_STATE)
    search = RandomizedSearchCV(
        build_pipeline(),
        PARAM_GRID,
        cv=cv,
        scoring=SCORING,
        n_iter=8,
        random_state=RANDOM_STATE,
        n_jobs=-1,
    )
    search.fit(X_train, y_train)
    LOGGER.info("best %s: %.4f with %s", SCORING, search.best_score_, search.best_params_)
    model = search.best_estimator_
    metrics = evaluate(model, X_test, y_test)
    plot_residuals(y_test, model.predict(X_test), out_dir / "residuals.png")
    save_artifacts(model, metrics, out_dir)
    LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
