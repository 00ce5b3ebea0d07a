"""Consumer loan default model: gradient boosted trees.

Loads the loan_applications extract, derives features, splits off a held-out test set, fits
a model to predict ``defaulted`` and writes the model, its metrics and diagnostic plots to
the output directory.

Exported from the exploration notebook; run it top to bottom.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    PrecisionRecallDisplay,
    RocCurveDisplay,
    accuracy_score,
    average_precision_score,
    classification_report,
    f1_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

LOGGER = logging.getLogger(__name__)

RANDOM_STATE = 42
DATA_PATH = Path("data") / "loan_applications.csv"
OUT_DIR = Path("artifacts") / "credit"
TARGET = "defaulted"
ID_COL = "application_id"
DATE_COL = "application_date"
NUMERIC = [
    "annual_income",
    "loan_amount",
    "credit_score",
    "employment_years",
    "loan_to_income",
    "log_annual_income",
    "annual_income_vs_state",
    "application_month",
]
CATEGORICAL = ["home_ownership", "loan_purpose", "state"]
SCORING = "roc_auc"


def load_data(path: Path) -> pd.DataFrame:
    """Read the raw extract; duplicated ids and rows without a label are dropped."""
    dtypes = {col: "category" for col in CATEGORICAL}
    df = pd.read_csv(path, dtype=dtypes, parse_dates=[DATE_COL])
    LOGGER.info("loaded %d rows from %s", len(df), path)
    return df.drop_duplicates(subset=ID_COL).dropna(subset=[TARGET])


def add_features(df: pd.DataFrame) -> pd.DataFrame:
    """Derived columns, computed row by row or from feature columns only."""
    df = df.copy()
    df["loan_to_income"] = df["loan_amount"] / df["annual_income"].replace(0, np.nan)
    df["log_annual_income"] = np.log1p(df["annual_income"].clip(lower=0))
    group_mean = df.groupby("state", observed=True)["annual_income"].transform("mean")
    df["annual_income_vs_state"] = df["annual_income"] - group_mean
    df["application_month"] = df[DATE_COL].dt.month
    df["annual_income"] = df["annual_income"].clip(lower=0)
    return df


def make_model() -> GradientBoostingClassifier:
    """The estimator with the hyperparameters chosen in the last tuning round."""
    return GradientBoostingClassifier(
        n_estimators=300, subsample=0.8, max_depth=3, random_state=RANDOM_STATE
    )


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
X = pd.get_dummies(df[NUMERIC + CATEGORICAL], columns=CATEGORICAL, dtype=float)
y = df[TARGET]
idx = np.random.permutation(len(X))
cut = int(0.8 * len(idx))
X_train, X_test = X.iloc[idx[:cut]], X.iloc[idx[cut:]]
y_train, y_test = y.iloc[idx[:cut]], y.iloc[idx[cut:]]
imputer = SimpleImputer(strategy="median")
scaler = StandardScaler()
X_train_s = scaler.fit_transform(imputer.fit_transform(X_train))
X_test_s = scaler.transform(imputer.transform(X_test))
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=RANDOM_STATE)
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
baseline = DummyClassifier(strategy="prior").fit(X_train_s, y_train)
LOGGER.info("baseline: %s", evaluate(baseline, X_test_s, y_test))
metrics = evaluate(model, X_test_s, y_test)
proba = model.predict_proba(X_test_s)[:, 1]
print(classification_report(y_test, model.predict(X_test_s), digits=3))
plot_curves(y_test, proba, OUT_DIR / "curves.png")
importance = permutation_importance(model, X_test_s, y_test, n_repeats=5, random_state=RANDOM_STATE)
plot_importance(list(X.columns), importance.importances_mean, OUT_DIR / "importance.png")
save_artifacts(model, metrics, OUT_DIR)
LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
