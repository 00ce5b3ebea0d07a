"""Score a model once per row set: labels and scores from a single pass over the rows.

Asking a classifier for ``predict`` and then for ``predict_proba`` runs the model twice; on a
1M-row evaluation the second pass was most of the time. For most classifiers ``predict`` *is*
the argmax of ``predict_proba`` (scikit-learn, XGBoost's and LightGBM's wrappers), so the labels
follow from the scores. Not for all: a tuned decision threshold
(``FixedThresholdClassifier``, ``TunedThresholdClassifierCV``) or a hand-written ``predict``
decides differently. So the derivation is checked: ``predict`` is called on an evenly spaced
sample of rows, and only if it agrees with the argmax on every sampled row are the derived
labels used. Otherwise ``predict`` is called on all rows. The report says which way was used
(:attr:`Predictions.how`).
"""

from __future__ import annotations

from typing import Any

from pytest_mlci.evaluation.compare import Predictions

#: Rows on which ``predict`` must agree with the argmax of the scores.
CHECK_ROWS = 256


def take_rows(X: Any, rows: Any) -> Any:
    """The rows ``rows`` (integer positions) of a DataFrame, numpy array or sparse matrix."""
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    return X[rows]


def row_count(X: Any) -> int:
    """Rows of a DataFrame, numpy array or sparse matrix."""
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None else len(X)


def score(model: Any, X: Any, task: str, class_labels: Any = None) -> Predictions:
    """``model``'s labels and scores on ``X``, the model run once over every row.

    Binary tasks: ``y_pred`` is 1 for the positive class (``classes_[1]``), ``y_score`` its
    probability. Multiclass: ``y_pred`` are class labels, ``y_score`` the probabilities in the
    column order of ``class_labels`` (the candidate's classes), so paired scores line up.
    """
    import numpy as np

    from pytest_mlci.model_adapters import LabelsOnly

    if task == "regression" or not hasattr(model, "predict_proba"):
        return _labels_only(model, np.asarray(model.predict(X)), task, "predict (no scores)")
    try:
        proba = np.asarray(model.predict_proba(X), dtype=float)
    except LabelsOnly as only:  # an MLflow pyfunc model or predict function that gave labels
        return _labels_only(model, np.asarray(only.labels), task, "predict (labels only)")
    classes = np.asarray(model.classes_)
    derived = classes[proba.argmax(axis=1)]
    labels, how = _checked_labels(model, X, derived)
    if task == "binary_classification":
        positive = positive_class(model)
        column = list(classes).index(positive)
        return Predictions(
            y_pred=(np.asarray(labels) == positive).astype(np.int64),
            y_score=proba[:, column],
            how=how,
        )
    aligned = align_columns(proba, classes, class_labels if class_labels is not None else classes)
    return Predictions(y_pred=np.asarray(labels), y_score=aligned, how=how)


def _checked_labels(model: Any, X: Any, derived: Any) -> tuple[Any, str]:
    """The argmax labels if ``predict`` agrees on a sample of rows, else ``predict``'s own."""
    import numpy as np

    from pytest_mlci.model_adapters import _OutputModel

    if isinstance(model, _OutputModel):  # predict is the same single call: nothing to check
        return derived, "labels from the model's scores (argmax / 0.5 threshold)"
    n = row_count(X)
    sample = np.unique(np.linspace(0, n - 1, num=min(CHECK_ROWS, n)).astype(np.int64))
    direct = np.asarray(model.predict(take_rows(X, sample)))
    disagree = int(np.sum(direct.astype(str) != derived[sample].astype(str)))
    if disagree == 0:
        return derived, (
            f"labels derived from predict_proba (argmax agreed with predict on {len(sample)} "
            "sampled rows)"
        )
    return np.asarray(model.predict(X)), (
        f"predict called separately: it disagreed with the argmax of predict_proba on "
        f"{disagree} of {len(sample)} sampled rows (a tuned decision threshold?)"
    )


def _labels_only(model: Any, raw: Any, task: str, how: str) -> Predictions:
    import numpy as np

    if task == "binary_classification":
        return Predictions(y_pred=(raw == positive_class(model)).astype(np.int64), how=how)
    return Predictions(y_pred=raw, how=how)


def positive_class(model: Any) -> Any:
    """The binary positive class: ``classes_[1]`` (``1`` for a model that names none)."""
    from pytest_mlci.errors import CheckFailed

    classes = list(getattr(model, "classes_", [0, 1]))
    if len(classes) != 2:
        raise CheckFailed(
            f"task is binary_classification but the model has classes {classes}; "
            "set task = 'multiclass'"
        )
    return classes[1]


def align_columns(proba: Any, classes: Any, labels: Any) -> Any:
    """``proba``'s columns reordered to ``labels``; a class the model lacks scores 0."""
    import numpy as np

    classes = list(classes)
    if classes == list(labels):
        return proba
    aligned = np.zeros((proba.shape[0], len(labels)))
    for column, label in enumerate(labels):
        if label in classes:
            aligned[:, column] = proba[:, classes.index(label)]
    return aligned
