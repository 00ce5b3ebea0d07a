"""Residential sale price model: a random forest regressor.

Loads the house_sales extract, derives features, splits off a held-out test set, fits a
model to estimate ``sale_price`` and writes the model, its metrics and diagnostic plots to
the output directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=str, default=TABLE, help="table to read")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    return parser.parse_args(argv)


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


def make_model() -> RandomForestRegressor:
    """The estimator with the hyperparameters chosen in the last tuning round."""
    return RandomForestRegressor(
        n_estimators=300, min_samples_leaf=2, n_jobs=-1, random_state=RANDOM_SEED
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


def save_artifacts(model, metrics: dict[str, float], out_dir: Path) -> None:
    """Model, metrics and the feature lists the serving code needs."""
    with open(out_dir / "model.pkl", "wb") as fh:
        pickle.dump(model, fh)
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
    cv_model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), make_model())
    cv_scores = cross_val_score(cv_model, X_train, y_train, cv=cv, scoring=SCORING)
    LOGGER.info("cv %s: %.4f +/- %.4f", SCORING, cv_scores.mean(), cv_scores.std())
    model = make_model().fit(X_train_s, y_train)
    metrics = evaluate(model, X_test_s, y_test)
    plot_residuals(y_test, model.predict(X_test_s), out_dir / "residuals.png")
    save_artifacts(model, metrics, out_dir)
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "file:./mlruns"))
    with mlflow.start_run(run_name="houses-rf_reg"):
        mlflow.log_params({"model": "rf_reg", "seed": RANDOM_SEED})
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(out_dir))
    LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
