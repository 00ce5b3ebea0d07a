"""Display-ad click-through model: XGBoost.

Loads the ad_impressions extract, derives features, splits off a held-out test set, fits a
model to predict ``clicked`` and writes the model, its metrics and diagnostic plots to the
output directory.

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
from sklearn.metrics import (
    PrecisionRecallDisplay,
    RocCurveDisplay,
    accuracy_score,
    average_precision_score,
    classification_report,
    f1_score,
    precision_recall_curve,
    roc_auc_score,
)

LOGGER = logging.getLogger(__name__)

RANDOM_SEED = 42
DATA_PATH = Path("data") / "ad_impressions.parquet"
OUT_DIR = Path("artifacts") / "clicks"
TARGET = "clicked"
ID_COL = "impression_id"
DATE_COL = "served_at"
NUMERIC = [
    "ad_position",
    "bid_cents",
    "user_age",
    "session_seconds",
    "bid_per_position",
    "log_session_seconds",
    "bid_cents_vs_campaign",
    "n_events",
]
CATEGORICAL = ["device", "campaign", "placement"]


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
    df["bid_per_position"] = df["bid_cents"] / df["ad_position"].replace(0, np.nan)
    df["log_session_seconds"] = np.log1p(df["session_seconds"].clip(lower=0))
    group_mean = df.groupby("campaign", observed=True)["bid_cents"].transform("mean")
    df["bid_cents_vs_campaign"] = df["bid_cents"] - group_mean
    df["ad_position"] = df["ad_position"].clip(lower=0)
    return df


def evaluate(model, X, y) -> dict[str, float]:
    """Threshold-free and thresholded metrics on one held-out set."""
    proba = model.predict_proba(X)[:, 1]
    pred = model.predict(X)
    return {
        "roc_auc": float(roc_auc_score(y, proba)),
        "average_precision": float(average_precision_score(y, proba)),
        "f1": float(f1_score(y, pred)),
        "accuracy": float(accuracy_score(y, pred)),
    }


def plot_curves(y_true, proba, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    RocCurveDisplay.from_predictions(y_true, proba, ax=axes[0])
    PrecisionRecallDisplay.from_predictions(y_true, proba, ax=axes[1])
    axes[0].plot([0, 1], [0, 1], linestyle="--", color="grey")
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
OUT_DIR.mkdir(parents=True, exist_ok=True)


# %% Train and evaluate
df = add_features(load_data(DATA_PATH))
for col in CATEGORICAL:
    df[col] = df[col].astype("category")
feature_cols = list(set(df.columns) - {TARGET, ID_COL, DATE_COL})
df = df.sort_values(DATE_COL).reset_index(drop=True)
train_end, val_end = int(len(df) * 0.7), int(len(df) * 0.85)
train_df = df.iloc[:train_end]
val_df = df.iloc[train_end:val_end]
test_df = df.iloc[val_end:]
X_train, y_train = train_df[feature_cols], train_df[TARGET]
X_val, y_val = val_df[feature_cols], val_df[TARGET]
X_test, y_test = test_df[feature_cols], test_df[TARGET]
model = xgb.XGBClassifier(
    n_estimators=2000,
    learning_rate=0.05,
    max_depth=6,
    subsample=0.8,
    colsample_bytree=0.8,
    eval_metric="auc",
    early_stopping_rounds=100,
    tree_method="hist",
    enable_categorical=True,
    random_state=RANDOM_SEED,
)
model.fit(X_train, y_train, eval_set=[(X_val, y_val)], verbose=200)
LOGGER.info("best iteration: %d", model.best_iteration)
metrics = evaluate(model, X_test, y_test)
proba = model.predict_proba(X_test)[:, 1]
print(classification_report(y_test, model.predict(X_test), digits=3))
val_proba = model.predict_proba(X_val)[:, 1]
precision, recall, thresholds = precision_recall_curve(y_val, val_proba)
f1_scores = 2 * precision * recall / np.clip(precision + recall, 1e-9, None)
metrics["threshold"] = float(thresholds[np.argmax(f1_scores[:-1])])
plot_curves(y_test, proba, OUT_DIR / "curves.png")
plot_importance(feature_cols, model.feature_importances_, OUT_DIR / "importance.png")
save_artifacts(model, metrics, OUT_DIR)
mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "file:./mlruns"))
with mlflow.start_run(run_name="clicks-xgb"):
    mlflow.log_params({"model": "xgb", "seed": RANDOM_SEED})
    mlflow.log_metrics(metrics)
    mlflow.log_artifacts(str(OUT_DIR))
LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
