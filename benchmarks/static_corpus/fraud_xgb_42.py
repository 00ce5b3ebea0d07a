"""Card transaction fraud model: XGBoost.

Loads the transactions extract, derives features, splits off a held-out test set, fits a
model to predict ``is_fraud`` and writes the model, its metrics and diagnostic plots to the
output directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
from pathlib import Path

import matplotlib.pyplot as plt
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
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import train_test_split

LOGGER = logging.getLogger(__name__)

RANDOM_STATE = 42
DATA_PATH = Path("data") / "transactions.parquet"
OUT_DIR = Path("artifacts") / "fraud"
TARGET = "is_fraud"
ID_COL = "transaction_id"
DATE_COL = "transaction_time"
NUMERIC = [
    "amount",
    "card_age_days",
    "txn_count_24h",
    "distance_from_home_km",
    "amount_per_txn",
    "log_amount",
    "amount_vs_merchant_category",
    "n_events",
]
CATEGORICAL = ["merchant_category", "device_type", "country"]


def set_seed(seed: int) -> None:
    """Seed every global generator the pipeline touches."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_PATH, help="raw extract")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    return parser.parse_args(argv)


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
    df["amount_per_txn"] = df["amount"] / df["txn_count_24h"].replace(0, np.nan)
    df["log_amount"] = np.log1p(df["amount"].clip(lower=0))
    group_mean = df.groupby("merchant_category", observed=True)["amount"].transform("mean")
    df["amount_vs_merchant_category"] = df["amount"] - group_mean
    df["amount"] = df["amount"].clip(lower=0)
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


def save_artifacts(model, metrics: dict[str, float], out_dir: Path) -> None:
    """Model, metrics and the feature lists the serving code needs."""
    model.save_model(out_dir / "model.json")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    features = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": TARGET}
    (out_dir / "features.json").write_text(json.dumps(features, indent=2))
    LOGGER.info("saved model and metrics to %s", out_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    set_seed(RANDOM_STATE)
    df = add_features(load_data(args.data))
    for col in CATEGORICAL:
        df[col] = df[col].astype("category")
    feature_cols = sorted(set(df.columns) - {TARGET, ID_COL, DATE_COL})
    X, y = df[feature_cols], df[TARGET]
    X_dev, X_test, y_dev, y_test = train_test_split(
        X, y, test_size=0.15, stratify=y, random_state=RANDOM_STATE
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_dev, y_dev, test_size=0.15, stratify=y_dev, random_state=RANDOM_STATE
    )
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
        random_state=RANDOM_STATE,
    )
    model.fit(X_train, y_train, eval_set=[(X_val, y_val)], verbose=200)
    LOGGER.info("best iteration: %d", model.best_iteration)
    metrics = evaluate(model, X_test, y_test)
    proba = model.predict_proba(X_test)[:, 1]
    print(classification_report(y_test, model.predict(X_test), digits=3))
    fpr, tpr, thresholds = roc_curve(y_test, proba)
    metrics["threshold"] = float(thresholds[np.argmax(tpr - fpr)])
    plot_curves(y_test, proba, out_dir / "curves.png")
    save_artifacts(model, metrics, out_dir)
    LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
