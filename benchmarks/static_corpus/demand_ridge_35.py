"""Store-level product demand model: ridge regression.

Loads the store_sales extract, derives features, splits off a held-out test set, fits a
model to estimate ``units_sold`` and writes the model, its metrics and diagnostic plots to
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
import mlflow
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

LOGGER = logging.getLogger(__name__)

RANDOM_STATE = 42
ROOT = Path(__file__).resolve().parents[1]
DATA_PATH = ROOT / "data" / "raw" / "store_sales.csv"
OUT_DIR = Path("artifacts") / "demand"
TARGET = "units_sold"
ID_COL = "record_id"
DATE_COL = "sale_date"
NUMERIC = [
    "price",
    "discount_pct",
    "store_size_sqm",
    "temperature_c",
    "discount_per_price",
    "log_price",
    "price_vs_store_type",
    "sale_month",
]
CATEGORICAL = ["store_type", "product_category", "weekday"]
SCORING = "neg_root_mean_squared_error"
PARAM_GRID = {
    "model__alpha": [0.1, 1.0, 3.0, 10.0, 30.0],
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
    df["discount_per_price"] = df["discount_pct"] / df["price"].replace(0, np.nan)
    df["log_price"] = np.log1p(df["price"].clip(lower=0))
    group_mean = df.groupby("store_type", observed=True)["price"].transform("mean")
    df["price_vs_store_type"] = df["price"] - group_mean
    df["sale_month"] = df[DATE_COL].dt.month
    df["price"] = df["price"].clip(lower=0)
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
    model = Ridge(alpha=3.0)
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
X = df[NUMERIC + CATEGORICAL].copy()
y = df[TARGET]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=RANDOM_STATE)
cv = KFold(n_splits=5, shuffle=True, random_state=RANDOM_STATE)
search = GridSearchCV(build_pipeline(), PARAM_GRID, cv=cv, scoring=SCORING, n_jobs=-1)
search.fit(X_train, y_train)
LOGGER.info("best %s: %.4f with %s", SCORING, search.best_score_, search.best_params_)
model = search.best_estimator_
metrics = evaluate(model, X_test, y_test)
plot_residuals(y_test, model.predict(X_test), OUT_DIR / "residuals.png")
save_artifacts(model, metrics, OUT_DIR)
if os.environ.get("REFIT_ALL") == "1":
    # evaluation is done: ship a model trained on every labelled row
    X_all, y_all = pd.concat([X_train, X_test]), pd.concat([y_train, y_test])
    final = clone(model).fit(X_all, y_all)
    joblib.dump(final, OUT_DIR / "model_all_rows.joblib")
mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "file:./mlruns"))
with mlflow.start_run(run_name="demand-ridge"):
    mlflow.log_params({"model": "ridge", "seed": RANDOM_STATE})
    mlflow.log_metrics(metrics)
    mlflow.log_artifacts(str(OUT_DIR))
LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
