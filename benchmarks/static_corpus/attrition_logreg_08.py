"""Employee attrition model: an L2-regularised logistic regression.

Loads the hr_employees extract, derives features, splits off a held-out test set, fits a
model to predict ``left_company`` and writes the model, its metrics and diagnostic plots to
the output directory.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import skops.io as sio
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
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

LOGGER = logging.getLogger(__name__)

SEED = 42
ROOT = Path(__file__).resolve().parents[1]
DATA_PATH = ROOT / "data" / "raw" / "hr_employees.parquet"
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
    "n_events",
    "hire_month",
]
CATEGORICAL = ["department", "salary_band"]
SCORING = "roc_auc"
PARAM_GRID = {
    "model__C": [0.01, 0.1, 1.0, 10.0],
    "model__penalty": ["l2"],
}


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    np.random.seed(SEED)
    df = add_features(load_data(args.data))
    X = df[NUMERIC + CATEGORICAL].copy()
    y = df[TARGET]
    rng = np.random.default_rng(SEED)
    idx = rng.permutation(len(X))
    cut = int(0.8 * len(idx))
    X_train, X_test = X.iloc[idx[:cut]], X.iloc[idx[cut:]]
    y_train, y_test = y.iloc[idx[:cut]], y.iloc[idx[cut:]]
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    search = GridSearchCV(build_pipeline(), PARAM_GRID, cv=cv, scoring=SCORING, n_jobs=-1)
    search.fit(X_train, y_train)
    LOGGER.info("best %s: %.4f with %s", SCORING, search.best_score_, search.best_params_)
    model = search.best_estimator_
    metrics = evaluate(model, X_test, y_test)
    proba = model.predict_proba(X_test)[:, 1]
    print(classification_report(y_test, model.predict(X_test), digits=3))
    plot_curves(y_test, proba, out_dir / "curves.png")
    save_artifacts(model, metrics, out_dir)
    LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
