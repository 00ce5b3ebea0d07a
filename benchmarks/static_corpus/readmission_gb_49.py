"""Hospital 30-day readmission model: gradient boosted trees.

Loads the hospital_encounters extract, derives features, splits off a held-out test set,
fits a model to predict ``readmitted`` and writes the model, its metrics and diagnostic
plots to the output directory.

Exported from the exploration notebook; run it top to bottom.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
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
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

LOGGER = logging.getLogger(__name__)

SEED = 42
DATA_DIR = Path(os.environ.get("DATA_DIR", "data"))
DATA_PATH = DATA_DIR / "hospital_encounters.parquet"
OUT_DIR = Path("artifacts") / "readmission"
TARGET = "readmitted"
ID_COL = "encounter_id"
DATE_COL = "admission_date"
NUMERIC = [
    "time_in_hospital",
    "num_procedures",
    "num_medications",
    "num_diagnoses",
    "meds_per_day",
    "log_num_medications",
    "time_in_hospital_vs_admission_type",
    "n_events",
    "admission_month",
]
CATEGORICAL = ["admission_type", "discharge_disposition", "primary_diagnosis"]
SCORING = "roc_auc"


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
    df["meds_per_day"] = df["num_medications"] / df["time_in_hospital"].replace(0, np.nan)
    df["log_num_medications"] = np.log1p(df["num_medications"].clip(lower=0))
    group_mean = df.groupby("admission_type", observed=True)["time_in_hospital"].transform("mean")
    df["time_in_hospital_vs_admission_type"] = df["time_in_hospital"] - group_mean
    df["admission_month"] = df[DATE_COL].dt.month
    df["time_in_hospital"] = df["time_in_hospital"].clip(lower=0)
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
    model = GradientBoostingClassifier(
        n_estimators=300, subsample=0.8, max_depth=3, random_state=SEED
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


def plot_confusion(y_true, pred, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    ConfusionMatrixDisplay.from_predictions(y_true, pred, normalize="true", ax=ax)
    ax.set_title("Confusion matrix (test, row-normalised)")
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
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=SEED
)
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
cv_scores = cross_val_score(build_pipeline(), X_train, y_train, cv=cv, scoring=SCORING, n_jobs=-1)
LOGGER.info("cv %s: %.4f +/- %.4f", SCORING, cv_scores.mean(), cv_scores.std())
model = build_pipeline().fit(X_train, y_train)
metrics = evaluate(model, X_test, y_test)
proba = model.predict_proba(X_test)[:, 1]
print(classification_report(y_test, model.predict(X_test), digits=3))
plot_curves(y_test, proba, OUT_DIR / "curves.png")
plot_confusion(y_test, model.predict(X_test), OUT_DIR / "confusion.png")
save_artifacts(model, metrics, OUT_DIR)
mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "file:./mlruns"))
with mlflow.start_run(run_name="readmission-gb"):
    mlflow.log_params({"model": "gb", "seed": SEED})
    mlflow.log_metrics(metrics)
    mlflow.log_artifacts(str(OUT_DIR))
LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
