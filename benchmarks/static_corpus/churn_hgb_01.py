"""Telecom customer churn model: histogram gradient boosting.

Loads the telco_customers extract, derives features, splits off a held-out test set, fits a
model to predict ``churned`` and writes the model, its metrics and diagnostic plots to the
output directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import (
    PrecisionRecallDisplay,
    RocCurveDisplay,
    accuracy_score,
    average_precision_score,
    classification_report,
    f1_score,
    roc_auc_score,
)
from sklearn.model_selection import TimeSeriesSplit, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

LOGGER = logging.getLogger(__name__)

SEED = 42
DATA_DIR = Path(os.environ.get("DATA_DIR", "data"))
DATA_PATH = DATA_DIR / "telco_customers.parquet"
OUT_DIR = Path("artifacts") / "churn"
TARGET = "churned"
ID_COL = "customer_id"
DATE_COL = "signup_date"
NUMERIC = [
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "charges_per_month",
    "log_total_charges",
    "monthly_charges_vs_region",
    "n_events",
    "signup_month",
]
CATEGORICAL = ["contract_type", "payment_method", "region"]
SCORING = "roc_auc"


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
    df["charges_per_month"] = df["total_charges"] / df["tenure_months"].replace(0, np.nan)
    df["log_total_charges"] = np.log1p(df["total_charges"].clip(lower=0))
    group_mean = df.groupby("region", observed=True)["monthly_charges"].transform("mean")
    df["monthly_charges_vs_region"] = df["monthly_charges"] - group_mean
    df["signup_month"] = df[DATE_COL].dt.month
    df["tenure_months"] = df["tenure_months"].clip(lower=0)
    return df


def make_model() -> HistGradientBoostingClassifier:
    """The estimator with the hyperparameters chosen in the last tuning round."""
    return HistGradientBoostingClassifier(learning_rate=0.05, max_iter=300, random_state=SEED)


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
    cv_model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), make_model())
    cv_scores = cross_val_score(cv_model, X_train, y_train, cv=cv, scoring=SCORING)
    LOGGER.info("cv %s: %.4f +/- %.4f", SCORING, cv_scores.mean(), cv_scores.std())
    model = make_model().fit(X_train_s, y_train)
    baseline = DummyClassifier(strategy="prior").fit(X_train_s, y_train)
    LOGGER.info("baseline: %s", evaluate(baseline, X_test_s, y_test))
    metrics = evaluate(model, X_test_s, y_test)
    proba = model.predict_proba(X_test_s)[:, 1]
    print(classification_report(y_test, model.predict(X_test_s), digits=3))
    plot_curves(y_test, proba, out_dir / "curves.png")
    save_artifacts(model, metrics, out_dir)
    LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
