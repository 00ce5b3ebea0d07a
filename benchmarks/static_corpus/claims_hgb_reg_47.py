"""Insurance claim amount model: histogram gradient boosting (absolute error).

Loads the insurance_policies extract, derives features, splits off a held-out test set, fits
a model to estimate ``claim_amount`` and writes the model, its metrics and diagnostic plots
to the output directory.
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
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

LOGGER = logging.getLogger(__name__)

SEED = 42
ROOT = Path(__file__).resolve().parents[1]
DATA_PATH = ROOT / "data" / "raw" / "insurance_policies.csv"
OUT_DIR = Path("artifacts") / "claims"
TARGET = "claim_amount"
ID_COL = "policy_id"
DATE_COL = "policy_start"
NUMERIC = [
    "age",
    "bmi",
    "children",
    "vehicle_age_years",
    "vehicle_age_ratio",
    "log_bmi",
    "bmi_vs_region",
    "policy_start_month",
]
CATEGORICAL = ["sex", "smoker", "region"]
SCORING = "neg_root_mean_squared_error"
PARAM_GRID = {
    "model__learning_rate": [0.03, 0.1],
    "model__l2_regularization": [0.0, 1.0],
}


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
    df["vehicle_age_ratio"] = df["vehicle_age_years"] / df["age"].replace(0, np.nan)
    df["log_bmi"] = np.log1p(df["bmi"].clip(lower=0))
    group_mean = df.groupby("region", observed=True)["bmi"].transform("mean")
    df["bmi_vs_region"] = df["bmi"] - group_mean
    df["policy_start_month"] = df[DATE_COL].dt.month
    df["age"] = df["age"].clip(lower=0)
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
    model = HistGradientBoostingRegressor(loss="absolute_error", max_iter=400, random_state=SEED)
    return Pipeline([("preprocess", preprocess), ("model", model)])


def evaluate(model, X, y) -> dict[str, float]:
    """Error metrics on one held-out set, in the units of the target."""
    pred = model.predict(X)
    return {
        "mae": float(mean_absolute_error(y, pred)),
        "rmse": float(np.sqrt(mean_squared_error(y, pred))),
        "r2": float(r2_score(y, pred)),
    }


def plot_residuals(y_true, pred, path: Path) -> None:
    residuals = np.asarray(y_true) - np.asarray(pred)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    axes[0].scatter(pred, y_true, s=6, alpha=0.4)
    low, high = float(np.min(y_true)), float(np.max(y_true))
    axes[0].plot([low, high], [low, high], linestyle="--", color="grey")
    axes[0].set_xlabel("predicted")
    axes[0].set_ylabel("actual")
    axes[1].hist(residuals, bins=50, color="#55a868")
    axes[1].set_xlabel("residual")
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    df = add_features(load_data(args.data))
    df = df.sort_values(DATE_COL).reset_index(drop=True)
    X = df[NUMERIC + CATEGORICAL].copy()
    y = df[TARGET]
    cutoff = df[DATE_COL].quantile(0.8)
    is_train = df[DATE_COL] <= cutoff
    X_train, X_test = X[is_train], X[~is_train]
    y_train, y_test = y[is_train], y[~is_train]
    LOGGER.info("train until %s: %d rows", cutoff, is_train.sum())
    cv = TimeSeriesSplit(n_splits=5)
    search = GridSearchCV(build_pipeline(), PARAM_GRID, cv=cv, scoring=SCORING, n_jobs=-1)
    search.fit(X_train, y_train)
    LOGGER.info("best %s: %.4f with %s", SCORING, search.best_score_, search.best_params_)
    model = search.best_estimator_
    metrics = evaluate(model, X_test, y_test)
    plot_residuals(y_test, model.predict(X_test), out_dir / "residuals.png")
    importance = permutation_importance(model, X_test, y_test, n_repeats=5, random_state=SEED)
    plot_importance(NUMERIC + CATEGORICAL, importance.importances_mean, out_dir / "importance.png")
    save_artifacts(model, metrics, out_dir)
    LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
