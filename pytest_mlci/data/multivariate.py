"""Multivariate drift: can a classifier tell reference rows from current rows?

Why: per-column tests compare marginals one at a time, so they miss a change in how columns
move *together* (a correlation that flipped, a segment whose mix of features changed) while
every column's own distribution stays put. A domain classifier sees all columns at once: if
a model trained to separate "reference" from "current" rows does better than a coin, the
joint distribution moved.

How: up to ``DOMAIN_SAMPLE`` rows are drawn (seeded) from each side, the same number from
both so chance is exactly 0.5; a gradient-boosted tree classifier
(``HistGradientBoostingClassifier``, seeded) is cross-validated over ``FOLDS`` stratified
folds, and every row is scored by the model that did not see it. The effect size is the ROC
AUC of those out-of-fold scores (0.5 = indistinguishable, 1.0 = fully separable), judged
against ``drift_domain_auc`` like every other drift effect: the AUC decides, a one-sided
Mann-Whitney test of current vs reference scores (which *is* the AUC's test: U = AUC * n1 * n2)
confirms, and fewer than ``drift_min_rows`` rows on either side is inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pytest_mlci.config import DatasetConfig
from pytest_mlci.data.drift import judge
from pytest_mlci.data.results import FAIL, INCONCLUSIVE, CheckRow

DOMAIN_SAMPLE = 10_000  # rows per side the classifier sees at most (cost grows with it)
FOLDS = 5
SEED = 0
MAX_CODES = 250  # categorical columns with more values are passed as ordinal codes
COLUMN = "*multivariate*"
TEST = "domain classifier AUC"


def domain_rows(
    reference: Any, current: Any, columns: Sequence[str], dataset: DatasetConfig
) -> list[CheckRow]:
    """One drift row: the domain classifier's AUC on ``columns`` of two DataFrames."""
    import numpy as np
    from scipy import stats
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    assert dataset.drift_domain_auc is not None
    limit = dataset.drift_domain_auc
    n1, n2 = len(reference), len(current)
    if not columns:
        return [CheckRow("drift", COLUMN, TEST, None, None, None, limit, FAIL,
                         "no columns to compare")]  # fmt: skip
    if min(n1, n2) < 2 * FOLDS:
        return [CheckRow("drift", COLUMN, TEST, None, None, None, limit, INCONCLUSIVE,
                         f"{n1:,} reference / {n2:,} current rows: too few to judge")]  # fmt: skip
    rng = np.random.default_rng(SEED)
    n = min(n1, n2, DOMAIN_SAMPLE)
    ref = reference.iloc[np.sort(rng.choice(n1, n, replace=False))]
    cur = current.iloc[np.sort(rng.choice(n2, n, replace=False))]
    features, categorical = _features(ref, cur, columns)
    labels = np.repeat([0, 1], n)
    model = HistGradientBoostingClassifier(
        max_iter=60,
        categorical_features=categorical if any(categorical) else None,
        early_stopping=False,
        random_state=SEED,
    )
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    scores = cross_val_predict(model, features, labels, cv=folds, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(labels, scores))
    p = float(stats.mannwhitneyu(scores[n:], scores[:n], alternative="greater").pvalue)
    enough = min(n1, n2) >= dataset.drift_min_rows
    verdict = judge(auc, limit, p, alpha=dataset.drift_alpha, enough=enough)
    detail = (f"{n:,} reference + {n:,} current rows, {len(columns)} columns, {FOLDS}-fold "
              f"cross-validated; +-{1.96 * _hanley_mcneil(auc, n, n):.3f} (95%); "
              "0.5 = indistinguishable")  # fmt: skip
    if not enough:
        detail += f"; fewer than {dataset.drift_min_rows:,} rows: too small to judge"
    return [CheckRow("drift", COLUMN, TEST, auc, p, auc, limit, verdict, detail)]


def _features(ref: Any, cur: Any, columns: Sequence[str]) -> tuple[Any, list[bool]]:
    """A float matrix of both samples (reference rows first) and which columns are categorical.

    Categories are coded over the union of both sides' values, so a category only the current
    data has gets its own code (the classifier can use it), and nulls stay NaN.
    """
    import numpy as np
    import pandas as pd

    from pytest_mlci.data.drift import is_numeric

    blocks, categorical = [], []
    for column in columns:
        both = pd.concat([ref[column], cur[column]], ignore_index=True)
        if is_numeric(both):
            blocks.append(both.to_numpy(dtype="float64", na_value=math.nan))
            categorical.append(False)
            continue
        codes, uniques = pd.factorize(both.astype("object"), use_na_sentinel=True)
        values = codes.astype("float64")
        values[codes < 0] = math.nan
        blocks.append(values)
        categorical.append(len(uniques) <= MAX_CODES)
    return np.column_stack(blocks), categorical


def _hanley_mcneil(auc: float, n1: int, n2: int) -> float:
    """The standard error of an AUC (Hanley and McNeil, 1982), for the row's interval."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (n1 - 1) * (q1 - auc * auc) + (n2 - 1) * (q2 - auc * auc)) / (
        n1 * n2
    )
    return math.sqrt(max(variance, 0.0))
