"""Hourly grid load model: ridge regression.

Loads the grid_load extract, derives features, splits off a held-out test set, fits a model
to estimate ``load_mw`` and writes the model, its metrics and diagnostic plots to the output
directory.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import KFold, RandomizedSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

LOGGER = logging.getLogger(__name__)

SEED = 42
ROOT = Path(__file__).resolve().parents[1]
DATA_PATH = ROOT / "data" / "raw" / "grid_load.csv"
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
    "model__alpha": [0.1, 1.0, 3.0, 10.0, 30.0],
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
    model = Ridge(alpha=3.0)
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


def plot_importance(names: list[str], values, path: Path, top: int = 20) -> None:
    order = np.argsort(values)[::-1][:top]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(order) + 1.5))
    ax.barh([names[i] for i in order][::-1], np.asarray(values)[order][::-1])
    ax.set_xlabel("importance")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def save_artifacts(model, metrics: dict[str, float], out_dir: Path) -> None:
    """Model, metrics and the feature lists the serving code needs."""
    joblib.dump(model, out_dir / "model.joblib")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    features = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": TARGET}
    (out_dir / "features.json").write_text(json.dumps(features, indent=2))
    LOGGER.info("saved model and metrics to %s", out_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    np.random.seed(SEED)
    df = add_features(load_data(args.data))
    X = df[NUMERIC + CATEGORICAL].copy()
    y = df[TARGET]
    rng = np.random.default_rng(SEED)
    idx = rng.permutation(len(X))
    cut = int(0.8 * len(idx))
    X_train, X_test = X.iloc[idx[:cut]], X.iloc[idx[cut:]]
    y_train, y_test = y.iloc[idx[:cut]], y.iloc[idx[cut:]]
    cv = KFold(n_splits=5, shuffle=True, random_state=SEED)
    search = RandomizedSearchCV(
        build_pipeline(), PARAM_GRID, cv=cv, scoring=SCORING, n_iter=8, random_state=SEED, n_jobs=-1
    )
    search.fit(X_train, y_train)
    LOGGER.info("best %s: %.4f with %s", SCORING, search.best_score_, search.best_params_)
    model = search.best_estimator_
    metrics = evaluate(model, X_test, y_test)
    plot_residuals(y_test, model.predict(X_test), out_dir / "residuals.png")
    importance = permutation_importance(model, X_test, y_test, n_repeats=5, random_state=SEED)
    plot_importance(NUMERIC + CATEGORICAL, importance.importances_mean, out_dir / "importance.png")
    save_artifacts(model, metrics, out_dir)
    LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
