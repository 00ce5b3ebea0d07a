"""A dataset as the checks and the evaluation read it, whatever shape it arrived in.

A dataset is a table (a file read by :mod:`pytest_mlci.data.loading`, or a DataFrame a
``loader`` function returned) or a pair of arrays ``(X, y)`` a loader returned, where X is a
DataFrame, a 2-D numpy array or a scipy sparse matrix. :class:`LoadedData` holds either, so
a consumer asks it (``is_table``, ``sparse``, ``X``, ``y``, ``feature_names``) instead of
guessing from types. Sparse X is kept sparse (CSR): nothing here makes it dense.

Why a loader's return value is checked here, field by field: it is the user's code, and a
wrong shape found later shows up as a numpy traceback in the middle of a metric. Every
problem is a :class:`ConfigError` naming ``datasets.<name>.loader`` and what came back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mlci.errors import ConfigError, DataError

if TYPE_CHECKING:
    from pytest_mlci.config import DatasetConfig

EXAMPLE = "features:load"


@dataclass(frozen=True)
class LoadedData:
    """One loaded dataset: its table (or None), the model's input X, labels y, feature names.

    ``frame`` is the whole table (target, protected and segment columns included) when the
    data is a table; None when a loader returned ``(X, y)``. ``X`` is what the model is given:
    a DataFrame of the input columns, a 2-D numpy array, or a CSR matrix.
    """

    frame: Any
    X: Any
    y: Any
    feature_names: tuple[str, ...]
    source: str

    @property
    def is_table(self) -> bool:
        return self.frame is not None

    @property
    def sparse(self) -> bool:
        import scipy.sparse as sp

        return bool(sp.issparse(self.X))

    @property
    def rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def __len__(self) -> int:
        return self.rows

    @property
    def input_columns(self) -> list[str] | int:
        """Column names the model is given, or only their count when X is an unnamed array
        (a model fitted on an array can only be compared by its ``n_features_in_``)."""
        if hasattr(self.X, "columns"):
            return [str(c) for c in self.X.columns]
        return self.n_features

    def describe(self) -> str:
        """``12,000 rows x 300 features (sparse)`` (a table: ``x 8 columns``)."""
        if self.is_table:
            return f"{self.rows:,} rows x {len(self.frame.columns):,} columns"
        kind = "sparse" if self.sparse else "dense"
        return f"{self.rows:,} rows x {self.n_features:,} features ({kind})"


def load_data(dataset: DatasetConfig, path: Path | None = None, *, root: Path) -> LoadedData:
    """``dataset``'s data at ``path`` (its ``path`` unless told), through its loader if any."""
    from pytest_mlci.data.loading import read_dataset

    path = dataset.path if path is None else Path(path)
    if dataset.loader:
        returned = call_loader(dataset, path, root=root)
        frame = returned if _is_frame(returned) else _arrays(dataset, path, returned)
        if isinstance(frame, LoadedData):
            return frame
    else:
        frame = read_dataset(dataset, path)
    return table_data(frame, dataset, str(path))


def table_data(frame: Any, dataset: DatasetConfig, source: str) -> LoadedData:
    """A table as the model sees it: X from the input columns, y from the target."""
    from pytest_mlci.data.loading import model_input

    target = dataset.target or ""
    if len(frame) == 0:
        raise DataError(f"{source}: the dataset is empty (0 rows)")
    if target not in frame.columns:
        raise DataError(f"{source}: target column '{target}' is missing")
    X = model_input(frame, dataset, target)
    names = tuple(str(c) for c in X.columns)
    return LoadedData(frame, X, frame[target].to_numpy(), names, source)


def load_evaluation_data(config: Any) -> LoadedData:
    """The project's evaluation dataset, its target defaulting to the project's ``target``
    (what staging and the canary's synthetic traffic score, as the gates did)."""
    import dataclasses

    dataset = config.eval_dataset
    if not dataset.target:
        dataset = dataclasses.replace(dataset, target=config.target)
    if config.evaluation.engine == "spark" or dataset.engine == "spark":
        from pytest_mlci.spark.session import LOCAL_SAMPLE_ROWS, local_sample

        frame = local_sample(config.spark, dataset, LOCAL_SAMPLE_ROWS)
        where = dataset.location or dataset.name
        return table_data(frame, dataset, f"{where} (first {LOCAL_SAMPLE_ROWS:,} rows, via Spark)")
    return load_data(dataset, root=config.root)


def loader_function(dataset: DatasetConfig, *, root: Path) -> Any:
    """The function ``datasets.<name>.loader`` names (a ConfigError if it is not one)."""
    from pytest_mlci.importing import import_object

    key = f"datasets.{dataset.name}.loader"
    assert dataset.loader is not None
    function = import_object(dataset.loader, root=root, key=key, example=EXAMPLE)
    if not callable(function):
        raise ConfigError(f"'{dataset.loader}' is not a function", key=key)
    return function


def call_loader(dataset: DatasetConfig, path: Path, *, root: Path) -> Any:
    """Call the loader on ``path``; whatever it raises becomes one line naming it."""
    function = loader_function(dataset, root=root)
    try:
        return function(path)
    except Exception as exc:  # the user's code: its error, in one line, not a traceback
        detail = str(exc).strip().splitlines()
        raise DataError(
            f"datasets.{dataset.name}.loader '{dataset.loader}' failed on {path}: "
            f"{type(exc).__name__}: {detail[0] if detail else 'no message'}"
        ) from None


def loader_source_digest(dataset: DatasetConfig, *, root: Path) -> str:
    """sha256 of the file defining the loader, so a changed loader is changed data."""
    import hashlib
    import inspect

    function = loader_function(dataset, root=root)
    try:
        source = inspect.getsourcefile(function)
    except TypeError:
        source = None
    if not source:
        return ""
    return hashlib.sha256(Path(source).read_bytes()).hexdigest()


# ----------------------------------------------------------------- a loader's (X, y)


def _arrays(dataset: DatasetConfig, path: Path, returned: Any) -> Any:
    """The checked ``(X, y[, names])``; a DataFrame X comes back as a table with y as its
    target column (then it is a table like any other: schema, features, protected)."""
    import numpy as np
    import scipy.sparse as sp

    key = f"datasets.{dataset.name}.loader"

    def wrong(message: str) -> ConfigError:
        return ConfigError(f"'{dataset.loader}' on {path}: {message}", key=key)

    if not isinstance(returned, tuple):
        raise wrong(
            f"returned {_kind(returned)}; return a DataFrame or (X, y) "
            "(optionally (X, y, feature_names))"
        )
    if len(returned) not in (2, 3):
        raise wrong(
            f"returned a tuple of {len(returned)} items; return (X, y) or (X, y, feature_names)"
        )
    X, y = returned[0], returned[1]
    names = returned[2] if len(returned) == 3 else None
    if sp.issparse(X):
        X = X.tocsr()
        X.sum_duplicates()  # canonical: sorted indices, one entry per cell (duplicate hashing)
        X.eliminate_zeros()
        dtype = X.dtype
    elif _is_frame(X):
        dtype = None
    elif isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise wrong(
                f"X has shape {X.shape}; return a 2-D array (rows x features), e.g. "
                "X.reshape(-1, 1) for a single feature"
            )
        dtype = X.dtype
    else:
        raise wrong(
            f"X is {_kind(X)}; return a DataFrame, a 2-D numpy array or a scipy sparse matrix"
        )
    if dtype is not None and dtype.kind not in "biuf":
        raise wrong(f"X holds {dtype} values; the features must be numbers")
    if _is_frame(y) or not hasattr(y, "__len__"):
        raise wrong(f"y is {_kind(y)}; return a 1-D array or Series of labels")
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise wrong(f"y has shape {labels.shape}; return a 1-D array of labels (y.ravel())")
    if labels.shape[0] != X.shape[0]:
        raise wrong(
            f"X has {X.shape[0]:,} rows but y has {labels.shape[0]:,}; "
            "they must describe the same rows"
        )
    if X.shape[0] == 0:
        raise DataError(f"{path}: datasets.{dataset.name}.loader returned 0 rows")
    if X.shape[1] == 0:
        raise wrong("X has no features (0 columns)")
    own = [str(c) for c in X.columns] if _is_frame(X) else None
    if names is None:
        names = own or [f"f{i}" for i in range(X.shape[1])]
    else:
        if isinstance(names, (str, bytes)) or not hasattr(names, "__len__"):
            raise wrong(f"feature_names is {_kind(names)}; return a list of names")
        names = [str(n) for n in names]
        if len(names) != X.shape[1]:
            raise wrong(f"feature_names has {len(names):,} names but X has {X.shape[1]:,} features")
        if own is not None and names != own:
            raise wrong("feature_names differ from X's columns; return one or the other")
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise wrong(f"feature name {twice!r} appears twice")
    if own is not None:
        target = dataset.target or ""
        if target in own:
            raise wrong(f"X has a column named like the target {target!r}; return it in y only")
        return X.assign(**{target: labels})
    for which in ("features", "drop", "protected"):
        if getattr(dataset, which):
            raise ConfigError(
                f"{which} needs a loader returning a DataFrame (columns by name); "
                f"'{dataset.loader}' returns (X, y)",
                key=f"datasets.{dataset.name}.{which}",
            )
    return LoadedData(None, X, labels, tuple(names), str(path))


def _is_frame(value: Any) -> bool:
    import pandas as pd

    return isinstance(value, pd.DataFrame)


def _kind(value: Any) -> str:
    """``a list``, ``a str``, ``None``: what a user sees for a wrong return value."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"
