"""Employee attrition model: an L2-regularised logistic regression.

Loads the hr_employees extract, derives features, splits off a held-out test set, fits a
model to predict ``left_company`` and writes the model, its metrics and diagnostic plots to
the output directory.

Exported from the exploration notebook; run it top to bottom.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
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
from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

LOGGER = logging.getLogger(__name__)

SEED = 42
DATA_DIR = Path(os.environ.get("DATA_DIR", "data"))
DATA_PATH = DATA_DIR / "hr_employees.csv"
OUT_DIR = Path("artifacts") / "attrition"
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
    df["hours_per_project"] = df["avg_monthly_hours"] / df["num_projects"].replace(0, np.nan)
    df["log_avg_monthly_hours"] = np.log1p(df["avg_monthly_hours"].clip(lower=0))
    group_mean = df.groupby("department", observed=True)["avg_monthly_hours"].transform("mean")
    df["avg_monthly_hours_vs_department"] = df["avg_monthly_hours"] - group_mean
    df["hire_month"] = df[DATE_COL].dt.month
    df["satisfaction_score"] = df["satisfaction_score"].clip(lower=0)
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


def save_artifacts(model, metrics: dict[str, float], out_dir: Path) -> None:
    """Model, metrics and the feature lists the serving code needs."""
    sio.dump(model, out_dir / "model.skops")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    features = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": TARGET}
    (out_dir / "features.json").write_text(json.dumps(features, indent=2))
    LOGGER.info("saved model and metrics to %s", out_dir)


# %% Setup
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
np.random.seed(SEED)
OUT_DIR.mkdir(parents=True, exist_ok=True)


# %% Train and evaluate
df = add_features(load_data(DATA_PATH))
X = df[NUMERIC + CATEGORICAL].copy()
y = df[TARGET]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=SEED
)
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
save_artifacts(model, metrics, OUT_DIR)
if os.environ.get("REFIT_ALL") == "1":
    # evaluation is done: ship a model trained on every labelled row
    X_all, y_all = pd.concat([X_train, X_test]), pd.concat([y_train, y_test])
    final = clone(model).fit(X_all, y_all)
    joblib.dump(final, OUT_DIR / "model_all_rows.joblib")
LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
