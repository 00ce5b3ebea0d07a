"""Employee attrition model: an L2-regularised logistic regression.

Loads the hr_employees extract, derives features, splits off a held-out test set, fits a
model to predict ``left_company`` and writes the model, its metrics and diagnostic plots to
the output directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    PrecisionRecallDisplay,
    RocCurveDisplay,
    accuracy_score,
    average_precision_score,
    classification_report,
    f1_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import create_engine

LOGGER = logging.getLogger(__name__)

RANDOM_STATE = 42
TABLE = os.environ.get("FEATURE_TABLE", "analytics.hr_employees")
OUT_DIR = Path("/home/deploy/models/attrition")
TARGET = "left_company"
ID_COL = "employee_id"
DATE_COL = "hire_date"
NUMERIC = [
    "satisfaction_score",
    "last_evaluation",
    "num_projects",
    "avg_monthly_hours",
    "hours_per_project",
    "log_avg_monthly_hours",
    "avg_monthly_hours_vs_department",
    "hire_month",
]
CATEGORICAL = ["department", "salary_band"]
SCORING = "roc_auc"


def set_seed(seed: int) -> None:
    """Seed every global generator the pipeline touches."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)


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
    df["hours_per_project"] = df["avg_monthly_hours"] / df["num_projects"].replace(0, np.nan)
    df["log_avg_monthly_hours"] = np.log1p(df["avg_monthly_hours"].clip(lower=0))
    group_mean = df.groupby("department", observed=True)["avg_monthly_hours"].transform("mean")
    df["avg_monthly_hours_vs_department"] = df["avg_monthly_hours"] - group_mean
    df["hire_month"] = df[DATE_COL].dt.month
    df["satisfaction_score"] = df["satisfaction_score"].clip(lower=0)
    return df


def make_model() -> LogisticRegression:
    """The estimator with the hyperparameters chosen in the last tuning round."""
    return LogisticRegression(max_iter=2000, C=1.0, class_weight="balanced")


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
    set_seed(RANDOM_STATE)
    df = add_features(load_data(args.data))
    X = pd.get_dummies(df[NUMERIC + CATEGORICAL], columns=CATEGORICAL, dtype=float)
    y = df[TARGET]
    rng = np.random.default_rng(RANDOM_STATE)
    idx = rng.permutation(len(X))
    cut = int(0.8 * len(idx))
    X_train, X_test = X.iloc[idx[:cut]], X.iloc[idx[cut:]]
    y_train, y_test = y.iloc[idx[:cut]], y.iloc[idx[cut:]]
    imputer = SimpleImputer(strategy="median")
    scaler = StandardScaler()
    X_train_s = scaler.fit_transform(imputer.fit_transform(X_train))
    X_test_s = scaler.transform(imputer.transform(X_test))
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=RANDOM_STATE)
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
