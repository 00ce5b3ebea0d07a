"""Card transaction fraud model: histogram gradient boosting.

Loads the transactions extract, derives features, splits off a held-out test set, fits a
model to predict ``is_fraud`` and writes the model, its metrics and diagnostic plots to the
output directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
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
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

LOGGER = logging.getLogger(__name__)

SEED = 42
ROOT = Path(__file__).resolve().parents[1]
DATA_PATH = ROOT / "data" / "raw" / "transactions.csv"
OUT_DIR = Path("artifacts") / "fraud"
TARGET = "is_fraud"
ID_COL = "transaction_id"
DATE_COL = "transaction_time"
NUMERIC = [
    "amount",
    "card_age_days",
    "txn_count_24h",
    "distance_from_home_km",
    "amount_per_txn",
    "log_amount",
    "amount_vs_merchant_category",
    "transaction_time_month",
]
CATEGORICAL = ["merchant_category", "device_type", "country"]
SCORING = "roc_auc"


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
    df["amount_per_txn"] = df["amount"] / df["txn_count_24h"].replace(0, np.nan)
    df["log_amount"] = np.log1p(df["amount"].clip(lower=0))
    group_mean = df.groupby("merchant_category", observed=True)["amount"].transform("mean")
    df["amount_vs_merchant_category"] = df["amount"] - group_mean
    df["transaction_time_month"] = df[DATE_COL].dt.month
    df["amount"] = df["amount"].clip(lower=0)
    return df


def make_model() -> HistGradientBoostingClassifier:
    """The estimator with the hyperparameters chosen in the last tuning round."""
    return HistGradientBoostingClassifier(learning_rate=0.05, max_iter=300, random_state=SEED)


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
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=SEED
    )
    imputer = SimpleImputer(strategy="median")
    scaler = StandardScaler()
    X_train_s = scaler.fit_transform(imputer.fit_transform(X_train))
    X_test_s = scaler.transform(imputer.transform(X_test))
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    cv_model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), make_model())
    cv_scores = cross_val_score(cv_model, X_train, y_train, cv=cv, scoring=SCORING)
    LOGGER.info("cv %s: %.4f +/- %.4f", SCORING, cv_scores.mean(), cv_scores.std())
    model = make_model().fit(X_train_s, y_train)
    metrics = evaluate(model, X_test_s, y_test)
    proba = model.predict_proba(X_test_s)[:, 1]
    print(classification_report(y_test, model.predict(X_test_s), digits=3))
    plot_curves(y_test, proba, out_dir / "curves.png")
    importance = permutation_importance(model, X_test_s, y_test, n_repeats=5, random_state=SEED)
    plot_importance(list(X.columns), importance.importances_mean, out_dir / "importance.png")
    save_artifacts(model, metrics, out_dir)
    LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
