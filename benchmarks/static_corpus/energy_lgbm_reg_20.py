"""Hourly grid load model: LightGBM.

Loads the grid_load extract, derives features, splits off a held-out test set, fits a model
to estimate ``load_mw`` and writes the model, its metrics and diagnostic plots to the output
directory.

Exported from the exploration notebook; run it top to bottom.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

import joblib
import lightgbm as lgb
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

LOGGER = logging.getLogger(__name__)

RANDOM_SEED = 42
ROOT = Path(__file__).resolve().parents[1]
DATA_PATH = ROOT / "data" / "raw" / "grid_load.parquet"
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
    "n_events",
]
CATEGORICAL = ["season", "day_type"]


def set_seed(seed: int) -> None:
    """Seed every global generator the pipeline touches."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)


def load_data(path: Path) -> pd.DataFrame:
    """Entity table joined with per-entity event counts from the sibling file."""
    entities = pd.read_parquet(path)
    events = pd.read_parquet(path.with_name("events.parquet"))
    counts = events.groupby(ID_COL).size().rename("n_events").reset_index()
    df = entities.merge(counts, on=ID_COL, how="left", validate="one_to_one")
    df["n_events"] = df["n_events"].fillna(0).astype(int)
    df[DATE_COL] = pd.to_datetime(df[DATE_COL])
    LOGGER.info("loaded %d rows (%d with events)", len(df), (df["n_events"] > 0).sum())
    return df.dropna(subset=[TARGET])


def add_features(df: pd.DataFrame) -> pd.DataFrame:
    """Derived columns, computed row by row or from feature columns only."""
    df = df.copy()
    df["temp_per_humidity"] = df["temperature_c"] / df["humidity_pct"].replace(0, np.nan)
    df["log_wind_speed_ms"] = np.log1p(df["wind_speed_ms"].clip(lower=0))
    group_mean = df.groupby("season", observed=True)["temperature_c"].transform("mean")
    df["temperature_c_vs_season"] = df["temperature_c"] - group_mean
    df["temperature_c"] = df["temperature_c"].clip(lower=0)
    return df


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


# %% Setup
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
set_seed(RANDOM_SEED)
OUT_DIR.mkdir(parents=True, exist_ok=True)


# %% Train and evaluate
df = add_features(load_data(DATA_PATH))
for col in CATEGORICAL:
    df[col] = df[col].astype("category")
feature_cols = sorted(set(df.columns) - {TARGET, ID_COL, DATE_COL})
df = df.sort_values(DATE_COL).reset_index(drop=True)
train_end, val_end = int(len(df) * 0.7), int(len(df) * 0.85)
train_df = df.iloc[:train_end]
val_df = df.iloc[train_end:val_end]
test_df = df.iloc[val_end:]
X_train, y_train = train_df[feature_cols], train_df[TARGET]
X_val, y_val = val_df[feature_cols], val_df[TARGET]
X_test, y_test = test_df[feature_cols], test_df[TARGET]
model = lgb.LGBMRegressor(
    objective="regression_l1",
    n_estimators=3000,
    learning_rate=0.03,
    num_leaves=63,
    min_child_samples=30,
    random_state=RANDOM_SEED,
)
model.fit(
    X_train,
    y_train,
    eval_set=[(X_val, y_val)],
    callbacks=[lgb.early_stopping(100), lgb.log_evaluation(200)],
)
LOGGER.info("best iteration: %d", model.best_iteration_)
metrics = evaluate(model, X_test, y_test)
plot_residuals(y_test, model.predict(X_test), OUT_DIR / "residuals.png")
plot_importance(feature_cols, model.feature_importances_, OUT_DIR / "importance.png")
save_artifacts(model, metrics, OUT_DIR)
mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "file:./mlruns"))
with mlflow.start_run(run_name="energy-lgbm_reg"):
    mlflow.log_params({"model": "lgbm_reg", "seed": RANDOM_SEED})
    mlflow.log_metrics(metrics)
    mlflow.log_artifacts(str(OUT_DIR))
LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
