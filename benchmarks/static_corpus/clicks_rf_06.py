"""Display-ad click-through model: a random forest.

Loads the ad_impressions extract, derives features, splits off a held-out test set, fits a
model to predict ``clicked`` and writes the model, its metrics and diagnostic plots to the
output directory.
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
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
    accuracy_score,
    average_precision_score,
    classification_report,
    f1_score,
    roc_auc_score,
)
from sklearn.model_selection import TimeSeriesSplit
from sklearn.preprocessing import StandardScaler

LOGGER = logging.getLogger(__name__)

SEED = 42
DATA_PATH = Path("data") / "ad_impressions.csv"
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
    "served_month",
]
CATEGORICAL = ["device", "campaign", "placement"]
SCORING = "roc_auc"


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
    df["bid_per_position"] = df["bid_cents"] / df["ad_position"].replace(0, np.nan)
    df["log_session_seconds"] = np.log1p(df["session_seconds"].clip(lower=0))
    group_mean = df.groupby("campaign", observed=True)["bid_cents"].transform("mean")
    df["bid_cents_vs_campaign"] = df["bid_cents"] - group_mean
    df["served_month"] = df[DATE_COL].dt.month
    df["ad_position"] = df["ad_position"].clip(lower=0)
    return df


def make_model() -> RandomForestClassifier:
    """The estimator with the hyperparameters chosen in the last tuning round."""
    return RandomForestClassifier(n_estimators=400, min_samples_leaf=3, n_jobs=-1)


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


def plot_confusion(y_true, pred, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    ConfusionMatrixDisplay.from_predictions(y_true, pred, normalize="true", ax=ax)
    ax.set_title("Confusion matrix (test, row-normalised)")
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
    df = add_features(load_data(args.data))
    X = pd.get_dummies(df[NUMERIC + CATEGORICAL], columns=CATEGORICAL, dtype=float)
    y = df[TARGET]
    cutoff = df[DATE_COL].quantile(0.8)
    is_train = df[DATE_COL] <= cutoff
    X_train, X_test = X[is_train], X[~is_train]
    y_train, y_test = y[is_train], y[~is_train]
    LOGGER.info("train until %s: %d rows", cutoff, is_train.sum())
    imputer = SimpleImputer(strategy="median")
    scaler = StandardScaler()
    X_train_s = scaler.fit_transform(imputer.fit_transform(X_train))
    X_test_s = scaler.transform(imputer.transform(X_test))
    cv = TimeSeriesSplit(n_splits=5)
    oof = np.zeros(len(y_train))
    for fit_idx, val_idx in cv.split(X_train, y_train):
        X_fit, X_val_fold = X_train.iloc[fit_idx], X_train.iloc[val_idx]
        fold_imputer = SimpleImputer(strategy="median").fit(X_fit)
        fold_scaler = StandardScaler().fit(fold_imputer.transform(X_fit))
        X_fit = fold_scaler.transform(fold_imputer.transform(X_fit))
        X_val_fold = fold_scaler.transform(fold_imputer.transform(X_val_fold))
        fold_model = make_model().fit(X_fit, y_train.iloc[fit_idx])
        oof[val_idx] = fold_model.predict_proba(X_val_fold)[:, 1]
    LOGGER.info("out-of-fold roc_auc_score: %.4f", roc_auc_score(y_train, oof))
    model = make_model().fit(X_train_s, y_train)
    metrics = evaluate(model, X_test_s, y_test)
    proba = model.predict_proba(X_test_s)[:, 1]
    print(classification_report(y_test, model.predict(X_test_s), digits=3))
    plot_curves(y_test, proba, out_dir / "curves.png")
    plot_confusion(y_test, model.predict(X_test_s), out_dir / "confusion.png")
    save_artifacts(model, metrics, out_dir)
    LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
