"""Residential sale price model: histogram gradient boosting (absolute error).

Loads the house_sales extract, derives features, splits off a held-out test set, fits a
model to estimate ``sale_price`` and writes the model, its metrics and diagnostic plots to
the output directory.

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
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import KFold, cross_val_score
from sklearn.preprocessing import StandardScaler
from sqlalchemy import create_engine

LOGGER = logging.getLogger(__name__)

RANDOM_SEED = 42
TABLE = os.environ.get("FEATURE_TABLE", "analytics.house_sales")
OUT_DIR = Path("artifacts") / "houses"
TARGET = "sale_price"
ID_COL = "house_id"
DATE_COL = "sold_date"
NUMERIC = [
    "living_area_sqft",
    "lot_area_sqft",
    "year_built",
    "bedrooms",
    "bathrooms",
    "sqft_per_bedroom",
    "log_lot_area_sqft",
    "living_area_sqft_vs_neighborhood",
    "sold_month",
]
CATEGORICAL = ["neighborhood", "house_style", "heating"]
SCORING = "neg_root_mean_squared_error"


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
    df["sqft_per_bedroom"] = df["living_area_sqft"] / df["bedrooms"].replace(0, np.nan)
    df["log_lot_area_sqft"] = np.log1p(df["lot_area_sqft"].clip(lower=0))
    group_mean = df.groupby("neighborhood", observed=True)["living_area_sqft"].transform("mean")
    df["living_area_sqft_vs_neighborhood"] = df["living_area_sqft"] - group_mean
    df["sold_month"] = df[DATE_COL].dt.month
    df["living_area_sqft"] = df["living_area_sqft"].clip(lower=0)
    return df


def make_model() -> HistGradientBoostingRegressor:
    """The estimator with the hyperparameters chosen in the last tuning round."""
    return HistGradientBoostingRegressor(
        loss="absolute_error", max_iter=400, random_state=RANDOM_SEED
    )


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
    sio.dump(model, out_dir / "model.skops")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    features = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": TARGET}
    (out_dir / "features.json").write_text(json.dumps(features, indent=2))
    LOGGER.info("saved model and metrics to %s", out_dir)


# %% Setup
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
OUT_DIR.mkdir(parents=True, exist_ok=True)


# %% Train and evaluate
df = add_features(load_data(TABLE))
X = pd.get_dummies(df[NUMERIC + CATEGORICAL], columns=CATEGORICAL, dtype=float)
y = df[TARGET]
rng = np.random.default_rng(RANDOM_SEED)
idx = rng.permutation(len(X))
cut = int(0.8 * len(idx))
X_train, X_test = X.iloc[idx[:cut]], X.iloc[idx[cut:]]
y_train, y_test = y.iloc[idx[:cut]], y.iloc[idx[cut:]]
imputer = SimpleImputer(strategy="median")
scaler = StandardScaler()
X_train_s = scaler.fit_transform(imputer.fit_transform(X_train))
X_test_s = scaler.transform(imputer.transform(X_test))
cv = KFold(n_splits=5, shuffle=True, random_state=RANDOM_SEED)
cv_scores = cross_val_score(make_model(), X_train_s, y_train, cv=cv, scoring=SCORING)
LOGGER.info("cv %s: %.4f +/- %.4f", SCORING, cv_scores.mean(), cv_scores.std())
model = make_model().fit(X_train_s, y_train)
baseline = DummyRegressor(strategy="median").fit(X_train_s, y_train)
LOGGER.info("baseline: %s", evaluate(baseline, X_test_s, y_test))
metrics = evaluate(model, X_test_s, y_test)
plot_residuals(y_test, model.predict(X_test_s), OUT_DIR / "residuals.png")
importance = permutation_importance(model, X_test_s, y_test, n_repeats=5, random_state=RANDOM_SEED)
plot_importance(list(X.columns), importance.importances_mean, OUT_DIR / "importance.png")
save_artifacts(model, metrics, OUT_DIR)
mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "file:./mlruns"))
with mlflow.start_run(run_name="houses-hgb_reg"):
    mlflow.log_params({"model": "hgb_reg", "seed": RANDOM_SEED})
    mlflow.log_metrics(metrics)
    mlflow.log_artifacts(str(OUT_DIR))
LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
