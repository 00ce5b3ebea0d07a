"""Insurance claim amount model: XGBoost.

Loads the insurance_policies extract, derives features, splits off a held-out test set, fits
a model to estimate ``claim_amount`` and writes the model, its metrics and diagnostic plots
to the output directory.

Exported from the exploration notebook; run it top to bottom.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

LOGGER = logging.getLogger(__name__)

SEED = 42
DATA_DIR = Path(os.environ.get("DATA_DIR", "data"))
DATA_PATH = DATA_DIR / "insurance_policies.parquet"
OUT_DIR = Path("artifacts") / "claims"
TARGET = "claim_amount"
ID_COL = "policy_id"
DATE_COL = "policy_start"
NUMERIC = [
    "age",
    "bmi",
    "children",
    "vehicle_age_years",
    "vehicle_age_ratio",
    "log_bmi",
    "bmi_vs_region",
    "n_events",
]
CATEGORICAL = ["sex", "smoker", "region"]


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
    df["vehicle_age_ratio"] = df["vehicle_age_years"] / df["age"].replace(0, np.nan)
    df["log_bmi"] = np.log1p(df["bmi"].clip(lower=0))
    group_mean = df.groupby("region", observed=True)["bmi"].transform("mean")
    df["bmi_vs_region"] = df["bmi"] - group_mean
    df["age"] = df["age"].clip(lower=0)
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


def save_artifacts(model, metrics: dict[str, float], out_dir: Path) -> None:
    """Model, metrics and the feature lists the serving code needs."""
    joblib.dump(model, out_dir / "model.joblib")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    features = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": TARGET}
    (out_dir / "features.json").write_text(json.dumps(features, indent=2))
    LOGGER.info("saved model and metrics to %s", out_dir)


# %% Setup
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
OUT_DIR.mkdir(parents=True, exist_ok=True)


# %% Train and evaluate
df = add_features(load_data(DATA_PATH))
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
    random_state=SEED,
)
model.fit(X_train, y_train, eval_set=[(X_train, y_train), (X_val, y_val)], verbose=200)
LOGGER.info("best iteration: %d", model.best_iteration)
metrics = evaluate(model, X_test, y_test)
plot_residuals(y_test, model.predict(X_test), OUT_DIR / "residuals.png")
save_artifacts(model, metrics, OUT_DIR)
mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "file:./mlruns"))
with mlflow.start_run(run_name="claims-xgb_reg"):
    mlflow.log_params({"model": "xgb_reg", "seed": SEED})
    mlflow.log_metrics(metrics)
    mlflow.log_artifacts(str(OUT_DIR))
LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
