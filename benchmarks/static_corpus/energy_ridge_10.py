"""Hourly grid load model: ridge regression.

Loads the grid_load extract, derives features, splits off a held-out test set, fits a model
to estimate ``load_mw`` and writes the model, its metrics and diagnostic plots to the output
directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import KFold, train_test_split
from sklearn.preprocessing import StandardScaler
from sqlalchemy import create_engine

LOGGER = logging.getLogger(__name__)

RANDOM_SEED = 42
TABLE = os.environ.get("FEATURE_TABLE", "analytics.grid_load")
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=str, default=TABLE, help="table to read")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    return parser.parse_args(argv)


def load_data(table: str) -> pd.DataFrame:
    """Read the feature table from the warehouse; rows without a label are dropped."""
    engine = create_engine(os.environ["WAREHOUSE_URL"])
    query = f"SELECT * FROM {table} WHERE {DATE_COL} >= '2022-01-01'"
    with engine.connect() as conn:
        df = pd.read_sql(query, conn, parse_dates=[DATE_COL])
    LOGGER.info("read %d rows from %s", len(df), table)
    return df.dropna(subset=[TARGET]).drop_duplicates(subset=ID_COL)


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


def make_model() -> Ridge:
    """The estimator with the hyperparameters chosen in the last tuning round."""
    return Ridge(alpha=3.0)


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
    np.random.seed(RANDOM_SEED)
    df = add_features(load_data(args.data))
    X = pd.get_dummies(df[NUMERIC + CATEGORICAL], columns=CATEGORICAL, dtype=float)
    y = df[TARGET]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=RANDOM_SEED
    )
    imputer = SimpleImputer(strategy="median")
    scaler = StandardScaler()
    X_train_s = scaler.fit_transform(imputer.fit_transform(X_train))
    X_test_s = scaler.transform(imputer.transform(X_test))
    cv = KFold(n_splits=5, shuffle=True, random_state=RANDOM_SEED)
    oof = np.zeros(len(y_train))
    for fit_idx, val_idx in cv.split(X_train, y_train):
        X_fit, X_val_fold = X_train.iloc[fit_idx], X_train.iloc[val_idx]
        fold_imputer = SimpleImputer(strategy="median").fit(X_fit)
        fold_scaler = StandardScaler().fit(fold_imputer.transform(X_fit))
        X_fit = fold_scaler.transform(fold_imputer.transform(X_fit))
        X_val_fold = fold_scaler.transform(fold_imputer.transform(X_val_fold))
        fold_model = make_model().fit(X_fit, y_train.iloc[fit_idx])
        oof[val_idx] = fold_model.predict(X_val_fold)
    LOGGER.info("out-of-fold mean_absolute_error: %.4f", mean_absolute_error(y_train, oof))
    model = make_model().fit(X_train_s, y_train)
    metrics = evaluate(model, X_test_s, y_test)
    plot_residuals(y_test, model.predict(X_test_s), out_dir / "residuals.png")
    importance = permutation_importance(
        model, X_test_s, y_test, n_repeats=5, random_state=RANDOM_SEED
    )
    plot_importance(list(X.columns), importance.importances_mean, out_dir / "importance.png")
    save_artifacts(model, metrics, out_dir)
    LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
