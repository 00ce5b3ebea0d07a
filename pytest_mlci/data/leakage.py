"""Runtime leakage checks on real frames (the static rules catch it in code; these in data).

* overlap: rows present in both train and test, by a hash of the feature values;
* proxy: a single feature that alone separates the target almost perfectly on the test rows
  (ROC AUC of the raw feature, or of its per-category target rate, ≥ ``proxy_auc``);
* time: test rows older than the newest training row, when a time column is named.
"""

from __future__ import annotations

from typing import Any

PROXY_AUC = 0.99


def overlapping_rows(train: Any, test: Any, *, exclude: tuple[str, ...] = ()) -> int:
    """How many test rows also occur in train (same values in every shared feature column)."""
    import pandas as pd

    columns = [c for c in test.columns if c in train.columns and c not in exclude]
    train_hashes = set(pd.util.hash_pandas_object(train[columns], index=False).tolist())
    test_hashes = pd.util.hash_pandas_object(test[columns], index=False)
    return int(test_hashes.isin(train_hashes).sum())


def target_proxies(frame: Any, target: str, *, threshold: float = PROXY_AUC) -> dict[str, float]:
    """Features whose values alone rank the (binary) target with AUC ≥ ``threshold``."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    y = frame[target].to_numpy()
    if len(np.unique(y)) != 2:
        return {}
    found = {}
    for column in frame.columns:
        if column == target:
            continue
        values = frame[column]
        if values.isna().any():
            values = values.fillna(values.mode().iloc[0] if not values.mode().empty else 0)
        if pd.api.types.is_datetime64_any_dtype(values):
            continue  # time order is its own check
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            rates = frame.groupby(values.astype(str))[target].mean()
            values = values.astype(str).map(rates)
        score = roc_auc_score(y, values.to_numpy(dtype=float))
        auc = max(score, 1 - score)  # a feature inversely equal to the target leaks too
        if auc >= threshold:
            found[column] = float(auc)
    return found


def time_violations(train: Any, test: Any, column: str) -> int:
    """Test rows dated before the newest training row (the model has seen the future)."""
    import pandas as pd

    newest_train = pd.to_datetime(train[column]).max()
    return int((pd.to_datetime(test[column]) < newest_train).sum())
