"""Telecom customer churn model: a random forest.

Loads the telco_customers extract, derives features, splits off a held-out test set, fits a
model to predict ``churned`` and writes the model, its metrics and diagnostic plots to the
output directory.

Exported from the exploration notebook; run it top to bottom.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
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
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sqlalchemy import create_engine

LOGGER = logging.getLogger(__name__)

RANDOM_STATE = 42
TABLE = os.environ.get("FEATURE_TABLE", "analytics.telco_customers")
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
    "signup_month",
]
CATEGORICAL = ["contract_type", "payment_method", "region"]
SCORING = "roc_auc"
PARAM_GRID = {
    "model__max_depth": [None, 8, 16],
    "model__min_samples_leaf": [1, 3, 10],
}


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
    df["charges_per_month"] = df["total_charges"] / df["tenure_months"].replace(0, np.nan)
    df["log_total_charges"] = np.log1p(df["total_charges"].clip(lower=0))
    group_mean = df.groupby("region", observed=True)["monthly_charges"].transform("mean")
    df["monthly_charges_vs_region"] = df["monthly_charges"] - group_mean
    df["signup_month"] = df[DATE_COL].dt.month
    df["tenure_months"] = df["tenure_months"].clip(lower=0)
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
    model = RandomForestClassifier(
        n_estimators=400, min_samples_leaf=3, n_jobs=-1, random_state=RANDOM_STATE
    )
    return Pipeline([("preprocess", preprocess), ("model", model)])


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
    with open(out_dir / "model.pkl", "wb") as fh:
        pickle.dump(model, fh)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    features = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": TARGET}
    (out_dir / "features.json").write_text(json.dumps(features, indent=2))
    LOGGER.info("saved model and metrics to %s", out_dir)


# %% Setup
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
OUT_DIR.mkdir(parents=True, exist_ok=True)


# %% Train and evaluate
df = add_features(load_data(TABLE))
X = df[NUMERIC + CATEGORICAL].copy()
y = df[TARGET]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=RANDOM_STATE
)
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=RANDOM_STATE)
search = GridSearchCV(build_pipeline(), PARAM_GRID, cv=cv, scoring=SCORING, n_jobs=-1)
search.fit(X_train, y_train)
LOGGER.info("best %s: %.4f with %s", SCORING, search.best_score_, search.best_params_)
model = search.best_estimator_
metrics = evaluate(model, X_test, y_test)
proba = model.predict_proba(X_test)[:, 1]
print(classification_report(y_test, model.predict(X_test), digits=3))
plot_curves(y_test, proba, OUT_DIR / "curves.png")
save_artifacts(model, metrics, OUT_DIR)
if os.environ.get("REFIT_ALL") == "1":
    # evaluation is done: ship a model trained on every labelled row
    X_all, y_all = pd.concat([X_train, X_test]), pd.concat([y_train, y_test])
    final = clone(model).fit(X_all, y_all)
    joblib.dump(final, OUT_DIR / "model_all_rows.joblib")
LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
