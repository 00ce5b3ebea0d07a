"""Hospital 30-day readmission model: gradient boosted trees.

Loads the hospital_encounters extract, derives features, splits off a held-out test set,
fits a model to predict ``readmitted`` and writes the model, its metrics and diagnostic
plots to the output directory.
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
import skops.io as sio
from sklearn.ensemble import GradientBoostingClassifier
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
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

LOGGER = logging.getLogger(__name__)

SEED = 42
DATA_DIR = Path(os.environ.get("DATA_DIR", "data"))
DATA_PATH = DATA_DIR / "hospital_encounters.csv"
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
    "admission_month",
]
CATEGORICAL = ["admission_type", "discharge_disposition", "primary_diagnosis"]
SCORING = "roc_auc"


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
    """Read the raw extract; duplicated ids and rows without a label are dropped."""
    dtypes = {col: "category" for col in CATEGORICAL}
    df = pd.read_csv(path, dtype=dtypes, parse_dates=[DATE_COL])
    LOGGER.info("loaded %d rows from %s", len(df), path)
    return df.drop_duplicates(subset=ID_COL).dropna(subset=[TARGET])


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


def make_model() -> GradientBoostingClassifier:
    """The estimator with the hyperparameters chosen in the last tuning round."""
    return GradientBoostingClassifier(
        n_estimators=300, subsample=0.8, max_depth=3, random_state=SEED
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


def save_artifacts(model, metrics: dict[str, float], out_dir: Path) -> None:
    """Model, metrics and the feature lists the serving code needs."""
    sio.dump(model, out_dir / "model.skops")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    features = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": TARGET}
    (out_dir / "features.json").write_text(json.dumps(features, indent=2))
    LOGGER.info("saved model and metrics to %s", out_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    set_seed(SEED)
    df = add_features(load_data(args.data))
    X = pd.get_dummies(df[NUMERIC + CATEGORICAL], columns=CATEGORICAL, dtype=float)
    y = df[TARGET]
    rng = np.random.default_rng(SEED)
    idx = rng.permutation(len(X))
    cut = int(0.8 * len(idx))
    X_train, X_test = X.iloc[idx[:cut]], X.iloc[idx[cut:]]
    y_train, y_test = y.iloc[idx[:cut]], y.iloc[idx[cut:]]
    imputer = SimpleImputer(strategy="median")
    scaler = StandardScaler()
    X_train_s = scaler.fit_transform(imputer.fit_transform(X_train))
    X_test_s = scaler.transform(imputer.transform(X_test))
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
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
    save_artifacts(model, metrics, out_dir)
    LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
