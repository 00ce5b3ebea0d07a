"""Store-level product demand model: XGBoost.

Loads the store_sales extract, derives features, splits off a held-out test set, fits a
model to estimate ``units_sold`` and writes the model, its metrics and diagnostic plots to
the output directory.

Exported from the exploration notebook; run it top to bottom.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sqlalchemy import create_engine

LOGGER = logging.getLogger(__name__)

RANDOM_STATE = 42
TABLE = os.environ.get("FEATURE_TABLE", "analytics.store_sales")
OUT_DIR = Path("artifacts") / "demand"
TARGET = "units_sold"
ID_COL = "record_id"
DATE_COL = "sale_date"
NUMERIC = [
    "price",
    "discount_pct",
    "store_size_sqm",
    "temperature_c",
    "discount_per_price",
    "log_price",
    "price_vs_store_type",
]
CATEGORICAL = ["store_type", "product_category", "weekday"]


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
    df["discount_per_price"] = df["discount_pct"] / df["price"].replace(0, np.nan)
    df["log_price"] = np.log1p(df["price"].clip(lower=0))
    group_mean = df.groupby("store_type", observed=True)["price"].transform("mean")
    df["price_vs_store_type"] = df["price"] - group_mean
    df["price"] = df["price"].clip(lower=0)
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
    model.save_model(out_dir / "model.json")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    features = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": TARGET}
    (out_dir / "features.json").write_text(json.dumps(features, indent=2))
    LOGGER.info("saved model and metrics to %s", out_dir)


# %% Setup
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
OUT_DIR.mkdir(parents=True, exist_ok=True)


# %% Train and evaluate
df = add_features(load_data(TABLE))
for col in CATEGORICAL:
    df[col] = df[col].astype("category")
feature_cols = NUMERIC + CATEGORICAL
df = df.sort_values(DATE_COL).reset_index(drop=True)
train_end, val_end = int(len(df) * 0.7), int(len(df) * 0.85)
train_df = df.iloc[:train_end]
val_df = df.iloc[train_end:val_end]
test_df = df.iloc[val_end:]
X_train, y_train = train_df[feature_cols], train_df[TARGET]
X_val, y_val = val_df[feature_cols], val_df[TARGET]
X_test, y_test = test_df[feature_cols], test_df[TARGET]
model = xgb.XGBRegressor(
    n_estimators=2000,
    learning_rate=0.05,
    max_depth=8,
    subsample=0.8,
    colsample_bytree=0.7,
    eval_metric="rmse",
    early_stopping_rounds=100,
    tree_method="hist",
    enable_categorical=True,
    random_state=RANDOM_STATE,
)
model.fit(X_train, y_train, eval_set=[(X_train, y_train), (X_val, y_val)], verbose=200)
LOGGER.info("best iteration: %d", model.best_iteration)
metrics = evaluate(model, X_test, y_test)
plot_residuals(y_test, model.predict(X_test), OUT_DIR / "residuals.png")
plot_importance(feature_cols, model.feature_importances_, OUT_DIR / "importance.png")
save_artifacts(model, metrics, OUT_DIR)
mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "file:./mlruns"))
with mlflow.start_run(run_name="demand-xgb_reg"):
    mlflow.log_params({"model": "xgb_reg", "seed": RANDOM_STATE})
    mlflow.log_metrics(metrics)
    mlflow.log_artifacts(str(OUT_DIR))
LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
