"""Give models that are not scikit-learn estimators the few attributes the evaluation uses.

Every consumer (the gates, staging, ``mlci serve``, the canary replay) asks a model for
``predict``, ``predict_proba`` where it has scores, ``classes_`` and, when it knows them, its
input features (``feature_names_in_`` / ``n_features_in_``). scikit-learn estimators, XGBoost's
and LightGBM's scikit-learn wrappers already answer; the adapters here make a LightGBM
``Booster``, an MLflow pyfunc model and a user's ``predict`` function answer the same way, so
nothing downstream needs to know which library trained the model.

A pyfunc model or a user function returns whatever it returns: probabilities (an ``(n, k)``
array, or for a binary task a 1-D array of positive-class probabilities) or labels. Which one is
known only after the call, so ``predict_proba`` on such a model raises :class:`LabelsOnly`
carrying the labels it got: the caller uses them instead of scoring the rows a second time.
"""

from __future__ import annotations

from typing import Any

BINARY, MULTICLASS, REGRESSION = "binary_classification", "multiclass", "regression"


class LabelsOnly(Exception):
    """The model answered with labels, not scores; ``labels`` are those labels."""

    def __init__(self, labels: Any) -> None:
        super().__init__("the model returns labels, not scores")
        self.labels = labels


class LightGBMBoosterModel:
    """A native LightGBM ``Booster`` (a ``.txt`` model file) with a scikit-learn face.

    The objective saved in the model says what ``Booster.predict`` returns: positive-class
    probabilities (``binary``), an ``(n, k)`` probability matrix (``multiclass``,
    ``multiclassova``) or values (regression objectives). Classes are ``0..k-1``, as LightGBM
    numbers them.
    """

    flavour = "lightgbm"

    def __init__(self, booster: Any) -> None:
        import numpy as np

        self.booster = booster
        objective = str(booster.dump_model().get("objective", "")).split()[0]
        self.objective = objective
        if objective in ("binary", "cross_entropy", "xentropy"):
            self._kind = BINARY
            self.classes_ = np.array([0, 1])
        elif objective.startswith("multiclass"):
            self._kind = MULTICLASS
            self.classes_ = np.arange(int(booster.dump_model().get("num_class", 1)))
        else:
            self._kind = REGRESSION
        names = list(booster.feature_name())
        self.n_features_in_ = int(booster.num_feature())
        # LightGBM names unnamed inputs Column_0..; those are not names the data could carry.
        if names and not all(n == f"Column_{i}" for i, n in enumerate(names)):
            self.feature_names_in_ = np.asarray(names, dtype=object)

    def __getattr__(self, name: str) -> Any:
        # only a classifier has predict_proba; hasattr(model, "predict_proba") must say so
        if name == "predict_proba" and self.__dict__.get("_kind") in (BINARY, MULTICLASS):
            return self._predict_proba
        raise AttributeError(name)

    def _predict_proba(self, X: Any) -> Any:
        import numpy as np

        raw = np.asarray(self.booster.predict(X))
        if self._kind == BINARY:
            return np.column_stack([1.0 - raw, raw])
        return raw

    def predict(self, X: Any) -> Any:
        import numpy as np

        if self._kind == REGRESSION:
            return np.asarray(self.booster.predict(X))
        return self.classes_[self._predict_proba(X).argmax(axis=1)]


class _OutputModel:
    """A model known only by what its prediction function returns (see the module docstring)."""

    flavour = "custom"

    def __init__(self, task: str) -> None:
        self.task = task

    def _raw(self, X: Any) -> Any:
        raise NotImplementedError

    def _interpret(self, X: Any) -> tuple[Any, Any]:
        """``(labels, probabilities or None)`` from one call of the model."""
        import numpy as np

        out = self._raw(X)
        columns = list(getattr(out, "columns", []))
        values = np.asarray(out)
        if self.task == REGRESSION:
            return values.reshape(-1) if values.ndim == 2 and values.shape[1] == 1 else values, None
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim == 2:
            if columns and "classes_" not in self.__dict__:
                self.classes_ = np.asarray(columns)
            classes = self.__dict__.get("classes_", np.arange(values.shape[1]))
            return np.asarray(classes)[values.argmax(axis=1)], values.astype(float)
        if self.task == BINARY and _probabilities(values):
            proba = np.column_stack([1.0 - values, values]).astype(float)
            return (values >= 0.5).astype(np.int64), proba
        return values, None

    def __getattr__(self, name: str) -> Any:
        if name == "predict_proba" and self.__dict__.get("task") in (BINARY, MULTICLASS):
            return self._predict_proba
        raise AttributeError(name)

    def _predict_proba(self, X: Any) -> Any:
        labels, proba = self._interpret(X)
        if proba is None:
            raise LabelsOnly(labels)
        return proba

    def predict(self, X: Any) -> Any:
        return self._interpret(X)[0]


class PyfuncModel(_OutputModel):
    """An MLflow model of any flavour, through ``mlflow.pyfunc`` (its input names from the
    model's signature, when it was logged with one)."""

    flavour = "mlflow"

    def __init__(self, pyfunc: Any, task: str, keep_alive: Any = None) -> None:
        import numpy as np

        super().__init__(task)
        self.pyfunc = pyfunc
        self._keep_alive = keep_alive  # the private folder the model was loaded from
        try:
            schema = pyfunc.metadata.get_input_schema()
            names = schema.input_names() if schema is not None else []
        except Exception:  # no signature, or a tensor signature without names
            names = []
        if names and all(isinstance(n, str) for n in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)
            self.n_features_in_ = len(names)
        if task == BINARY:
            self.classes_ = np.array([0, 1])

    def _raw(self, X: Any) -> Any:
        return self.pyfunc.predict(X)


class CustomModel(_OutputModel):
    """``predict = "module:function"``: ``function(model, X)`` scores the rows, where ``model`` is
    what ``model_loader`` (or the artifact's own flavour) loaded."""

    def __init__(self, model: Any, predict: Any, task: str, keep_alive: Any = None) -> None:
        import numpy as np

        super().__init__(task)
        self.model = model
        self._predict = predict
        self._keep_alive = keep_alive
        for name in ("feature_names_in_", "n_features_in_", "classes_"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))
        if task == BINARY and "classes_" not in self.__dict__:
            self.classes_ = np.array([0, 1])

    def _raw(self, X: Any) -> Any:
        return self._predict(self.model, X)


def predict_scores(model: Any, X: Any) -> Any:
    """``predict_proba``'s answer as floats, or None when the model has no scores (or, being a
    pyfunc model or predict function, answered with labels)."""
    import numpy as np

    if not hasattr(model, "predict_proba"):
        return None
    try:
        return np.asarray(model.predict_proba(X), dtype=float)
    except LabelsOnly:
        return None


def serving_function(model: Any) -> Any:
    """What serving calls per request: probabilities where the model has them, else predict.

    A pyfunc model or predict function answers in one call whatever it returns, so its
    ``predict`` is that call."""
    if isinstance(model, _OutputModel) or not hasattr(model, "predict_proba"):
        return model.predict
    return model.predict_proba


def _probabilities(values: Any) -> bool:
    """A 1-D float array within [0, 1] that is not just 0s and 1s: scores, not labels."""
    import numpy as np

    if values.dtype.kind != "f" or values.size == 0:
        return False
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.min() < 0 or finite.max() > 1:
        return False
    return bool(np.any((finite != 0) & (finite != 1)))
