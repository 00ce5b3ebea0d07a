"""Telecom customer churn model: an L2-regularised logistic regression.

Loads the telco_customers extract, derives features, splits off a held-out test set, fits a
model to predict ``churned`` and writes the model, its metrics and diagnostic plots to the
output directory.

Exported from the exploration notebook; run it top to bottom.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
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
from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

LOGGER = logging.getLogger(__name__)

SEED = 42
DATA_PATH = Path("/home/mlopez/projects/churn/data/telco_customers.csv")
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
    "model__C": [0.01, 0.1, 1.0, 10.0],
    "model__penalty": ["l2"],
}


def load_data(path: Path) -> pd.DataFrame:
    """Read the raw extract; duplicated ids and rows without a label are dropped."""
    dtypes = {col: "category" for col in CATEGORICAL}
    df = pd.read_csv(path, dtype=dtypes, parse_dates=[DATE_COL])
    LOGGER.info("loaded %d rows from %s", len(df), path)
    return df.drop_duplicates(subset=ID_COL).dropna(subset=[TARGET])


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
    model = LogisticRegression(max_iter=2000, C=1.0, class_weight="balanced")
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
    sio.dump(model, out_dir / "model.skops")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    features = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": TARGET}
    (out_dir / "features.json").write_text(json.dumps(features, indent=2))
    LOGGER.info("saved model and metrics to %s", out_dir)


# %% Setup
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
OUT_DIR.mkdir(parents=True, exist_ok=True)


# %% Train and evaluate
df = add_features(load_data(DATA_PATH))
X = df[NUMERIC + CATEGORICAL].copy()
y = df[TARGET]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y)
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
search = RandomizedSearchCV(
    build_pipeline(), PARAM_GRID, cv=cv, scoring=SCORING, n_iter=8, random_state=SEED, n_jobs=-1
)
search.fit(X_train, y_train)
LOGGER.info("best %s: %.4f with %s", SCORING, search.best_score_, search.best_params_)
model = search.best_estimator_
metrics = evaluate(model, X_test, y_test)
proba = model.predict_proba(X_test)[:, 1]
print(classification_report(y_test, model.predict(X_test), digits=3))
plot_curves(y_test, proba, OUT_DIR / "curves.png")
importance = permutation_importance(model, X_test, y_test, n_repeats=5, random_state=SEED)
plot_importance(NUMERIC + CATEGORICAL, importance.importances_mean, OUT_DIR / "importance.png")
save_artifacts(model, metrics, OUT_DIR)
LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
