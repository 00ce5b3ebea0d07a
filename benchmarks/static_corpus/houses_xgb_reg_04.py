"""Residential sale price model: XGBoost.

Loads the house_sales extract, derives features, splits off a held-out test set, fits a
model to estimate ``sale_price`` and writes the model, its metrics and diagnostic plots to
the output directory.

Exported from the exploration notebook; run it top to bottom.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

LOGGER = logging.getLogger(__name__)

SEED = 42
DATA_DIR = Path(os.environ.get("DATA_DIR", "data"))
DATA_PATH = DATA_DIR / "house_sales.csv"
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
]
CATEGORICAL = ["neighborhood", "house_style", "heating"]


def set_seed(seed: int) -> None:
    """Seed every global generator the pipeline touches."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)


def load_data(path: Path) -> pd.DataFrame:
    """Read the raw extract; duplicated ids and rows without a label are dropped."""
    dtypes = {col: "category" for col in CATEGORICAL}
    df = pd.read_csv(path, dtype=dtypes, parse_dates=[DATE_COL])
    LOGGER.info("loaded %d rows from %s", len(df), path)
    return df.drop_duplicates(subset=ID_COL).dropna(subset=[TARGET])


def add_features(df: pd.DataFrame) -> pd.DataFrame:
    """Derived columns, computed row by row or from feature columns only."""
    df = df.copy()
    df["sqft_per_bedroom"] = df["living_area_sqft"] / df["bedrooms"].replace(0, np.nan)
    df["log_lot_area_sqft"] = np.log1p(df["lot_area_sqft"].clip(lower=0))
    group_mean = df.groupby("neighborhood", observed=True)["living_area_sqft"].transform("mean")
    df["living_area_sqft_vs_neighborhood"] = df["living_area_sqft"] - group_mean
    df["living_area_sqft"] = df["living_area_sqft"].clip(lower=0)
    return df


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
    model.save_model(out_dir / "model.json")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    features = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": TARGET}
    (out_dir / "features.json").write_text(json.dumps(features, indent=2))
    LOGGER.info("saved model and metrics to %s", out_dir)


# %% Setup
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
set_seed(SEED)
OUT_DIR.mkdir(parents=True, exist_ok=True)


# %% Train and evaluate
df = add_features(load_data(DATA_PATH))
for col in CATEGORICAL:
    df[col] = df[col].astype("category")
feature_cols = sorted(set(df.columns) - {TARGET, ID_COL, DATE_COL})
X, y = df[feature_cols], df[TARGET]
X_dev, X_test, y_dev, y_test = train_test_split(X, y, test_size=0.15, random_state=SEED)
X_train, X_val, y_train, y_val = train_test_split(X_dev, y_dev, test_size=0.15, random_state=SEED)
model = xgb.XGBRegressor(
    n_estimators=2000,
    learning_rate=0.05,
    max_depth=8,
    subsample=0.8,
    colsample_bytree=0.7,
    eval_metric="rmse",
    early_stopping_rounds=100,
    tree_method="hist",
    enable_categorical=True,
    random_state=SEED,
)
model.fit(X_train, y_train, eval_set=[(X_val, y_val)], verbose=200)
LOGGER.info("best iteration: %d", model.best_iteration)
metrics = evaluate(model, X_test, y_test)
plot_residuals(y_test, model.predict(X_test), OUT_DIR / "residuals.png")
plot_importance(feature_cols, model.feature_importances_, OUT_DIR / "importance.png")
save_artifacts(model, metrics, OUT_DIR)
LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
