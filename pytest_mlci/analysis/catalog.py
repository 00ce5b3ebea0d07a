"""What the engine knows about ML libraries, keyed by canonical qualified name.

Kept apart from the flow engine so the engine stays about values and the knowledge stays
reviewable in one place. Names are canonical: private modules are dropped
(``sklearn.ensemble._forest.RandomForestClassifier`` -> ``sklearn.ensemble.RandomForestClassifier``)
and ``tensorflow.keras`` is spelled ``keras``.
"""

from __future__ import annotations

# Estimators whose ``fit`` learns statistics of the rows it sees and applies them to other rows.
_PREPROCESSOR_PACKAGES = (
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.feature_selection",
    "sklearn.decomposition",
    "sklearn.feature_extraction",
    "sklearn.kernel_approximation",
    "imblearn.over_sampling",
    "imblearn.under_sampling",
    "imblearn.combine",
    "category_encoders",
    "feature_engine",
)
# Transformers that learn nothing from other rows (or only the label set), so fitting them on
# all data leaks nothing worth a finding.
_STATELESS = frozenset(
    {
        "FunctionTransformer",
        "PolynomialFeatures",
        "Normalizer",
        "Binarizer",
        "HashingVectorizer",
        "FeatureHasher",
    }
)
# Encoders that replace a category by a statistic of the target.
_TARGET_ENCODERS = frozenset(
    {
        "TargetEncoder",
        "MEstimateEncoder",
        "LeaveOneOutEncoder",
        "JamesSteinEncoder",
        "CatBoostEncoder",
        "WOEEncoder",
        "GLMMEncoder",
        "QuantileEncoder",
        "SummaryEncoder",
        "MeanEncoder",
        "WoEEncoder",
        "DecisionTreeEncoder",
    }
)
# Transformers that learn only which categories or tokens exist: the values they output for a
# row never depend on other rows. Fitted on all rows they let a category or word seen only in
# held-out rows have a column (with min_df, decide which words do), which is worth a look
# (medium confidence) but does not bias a score the way a mean, a variance or an idf does.
_VOCABULARY_ONLY = frozenset(
    {
        "OneHotEncoder",
        "OrdinalEncoder",
        "DictVectorizer",
        "CountVectorizer",
        "LabelEncoder",
        "LabelBinarizer",
        "MultiLabelBinarizer",
        "BinaryEncoder",
        "BaseNEncoder",
    }
)


def learns_vocabulary_only(cls: str | None, keywords: frozenset[str]) -> bool:
    """Whether an estimator of class ``cls`` (built with ``keywords``) learns only which
    categories or tokens exist, not a statistic of their values."""
    return (cls or "").rsplit(".", 1)[-1] in _VOCABULARY_ONLY


_PIPELINES = frozenset(
    {
        "sklearn.pipeline.Pipeline",
        "sklearn.pipeline.make_pipeline",
        "imblearn.pipeline.Pipeline",
        "imblearn.pipeline.make_pipeline",
    }
)
_COMPOSITES = frozenset(
    {
        "sklearn.compose.ColumnTransformer",
        "sklearn.compose.make_column_transformer",
        "sklearn.pipeline.FeatureUnion",
        "sklearn.pipeline.make_union",
    }
)
SPLITTERS = frozenset(
    "sklearn.model_selection." + name
    for name in (
        "KFold",
        "StratifiedKFold",
        "GroupKFold",
        "StratifiedGroupKFold",
        "RepeatedKFold",
        "RepeatedStratifiedKFold",
        "ShuffleSplit",
        "StratifiedShuffleSplit",
        "GroupShuffleSplit",
        "TimeSeriesSplit",
        "LeaveOneOut",
        "LeavePOut",
        "LeaveOneGroupOut",
        "LeavePGroupsOut",
        "PredefinedSplit",
    )
)
_SEARCHES = frozenset(
    {
        "sklearn.model_selection.GridSearchCV",
        "sklearn.model_selection.RandomizedSearchCV",
        "sklearn.model_selection.HalvingGridSearchCV",
        "sklearn.model_selection.HalvingRandomSearchCV",
        "skopt.BayesSearchCV",
        "sklearn.feature_selection.RFECV",
        "sklearn.feature_selection.SequentialFeatureSelector",
    }
)
CV_FUNCTIONS = frozenset(
    "sklearn.model_selection." + name
    for name in (
        "cross_val_score",
        "cross_validate",
        "cross_val_predict",
        "learning_curve",
        "validation_curve",
        "permutation_test_score",
    )
)
HOLDOUT_SPLITS = frozenset(
    {
        "sklearn.model_selection.train_test_split",
        "dask_ml.model_selection.train_test_split",
        "cuml.model_selection.train_test_split",
        "torch.utils.data.random_split",
    }
)

FIT_METHODS = frozenset({"fit", "fit_transform", "fit_resample", "fit_predict", "partial_fit"})
APPLY_METHODS = frozenset(
    {
        "transform",
        "predict",
        "predict_proba",
        "predict_log_proba",
        "decision_function",
        "score",
        "score_samples",
        "evaluate",
        "resample",
        "kneighbors",
    }
)
PROBA_METHODS = frozenset({"predict_proba", "decision_function", "predict", "predict_log_proba"})
PROBA_FUNCTIONS = frozenset({"torch.sigmoid", "torch.softmax", "scipy.special.expit"})
# Keyword arguments that hand a model data to watch during training, and those that make it
# act on what it sees there (stop early, keep the best checkpoint).
EVAL_KWARGS = frozenset({"eval_set", "validation_data", "valid_sets", "evals", "eval_sets"})
EARLY_STOP_KWARGS = frozenset({"early_stopping_rounds", "early_stopping"})
# (``callbacks`` may stop early or only log: selection.py looks at what they are)
# Builtins whose result is a number or text, not data derived from rows.
SCALAR_BUILTINS = frozenset(
    {
        "len",
        "int",
        "float",
        "str",
        "bool",
        "round",
        "abs",
        "isinstance",
        "print",
        "type",
        "hasattr",
        "id",
        "repr",
        "format",
        "open",
        "callable",
    }
)
# Methods that put their argument inside the receiver.
MUTATORS = frozenset({"append", "extend", "add", "update", "insert", "setdefault", "appendleft"})
SET_METHODS = frozenset({"union", "difference", "intersection", "symmetric_difference"})

# Packages whose classes are data, plots or plumbing, never something that is fitted.
_NOT_ESTIMATORS = frozenset(
    {
        "builtins",
        "pandas",
        "numpy",
        "polars",
        "pyarrow",
        "scipy",
        "datasets",
        "pathlib",
        "collections",
        "datetime",
        "json",
        "os",
        "re",
        "typing",
        "dataclasses",
        "enum",
        "logging",
        "argparse",
        "matplotlib",
        "seaborn",
        "plotly",
        "mlflow",
        "dvc",
        "random",
        "functools",
        "itertools",
    }
)
# Packages whose all-capitals names are classes (acronyms), not constants.
_ACRONYM_CLASSES = frozenset(
    {"sklearn", "imblearn", "xgboost", "lightgbm", "catboost", "torch", "keras", "hdbscan"}
)
_DATA_CLASSES = frozenset(
    {
        "xgboost.DMatrix",
        "lightgbm.Dataset",
        "catboost.Pool",
        "torch.Tensor",
        "torch.utils.data.DataLoader",
        "torch.utils.data.TensorDataset",
        "torch.utils.data.Dataset",
        "torch.utils.data.Subset",
        "torch.Generator",
    }
)

_ALIASES = (
    # scikit-learn before 0.20 kept splitters, CV helpers and searches in these modules
    ("sklearn.cross_validation", "sklearn.model_selection"),
    ("sklearn.grid_search", "sklearn.model_selection"),
    ("sklearn.learning_curve", "sklearn.model_selection"),
    ("tensorflow.python.keras", "keras"),
    ("tensorflow.keras", "keras"),
    ("tf_keras", "keras"),
)


def canonical(qualname: str) -> str:
    """Drop private module segments and unify keras spellings."""
    parts = qualname.split(".")
    if any(part.startswith("_") and not part.startswith("__") for part in parts[1:-1]):
        parts = [parts[0], *(p for p in parts[1:-1] if not p.startswith("_")), parts[-1]]
        qualname = ".".join(parts)
    for old, new in _ALIASES:
        if qualname == old or qualname.startswith(old + "."):
            return new + qualname[len(old) :]
    return qualname


def stateless(qualname: str) -> bool:
    """A transformer class that learns nothing from other rows (``LabelEncoder``)."""
    return qualname.startswith(_PREPROCESSOR_PACKAGES) and qualname.rsplit(".", 1)[-1] in _STATELESS


def estimator_kind(qualname: str) -> str | None:
    """``preprocessor`` | ``target`` | ``splitter`` | ``search`` | ``model`` | None (not a class).

    Pipelines and column transformers are classified by the caller from their steps.
    """
    name = qualname.rsplit(".", 1)[-1]
    if qualname in SPLITTERS:
        return "splitter"
    if qualname in _SEARCHES or (
        qualname.startswith("sklearn.linear_model.") and name.endswith("CV")
    ):
        return "search"
    if qualname.startswith(_PREPROCESSOR_PACKAGES):
        if name in _TARGET_ENCODERS:
            return "target"
        if name in _STATELESS or not name[:1].isupper():
            return None
        return "preprocessor"
    if qualname in _PIPELINES:
        return "pipeline"
    if qualname in _COMPOSITES:
        return "composite"
    top = qualname.split(".", 1)[0]
    if top in _NOT_ESTIMATORS or qualname in _DATA_CLASSES:
        return None
    if name[:1].isupper() and (not name.isupper() or top in _ACRONYM_CLASSES):
        return "model"  # `SVC`, `DBSCAN`, `LSTM` are classes there; elsewhere `NAN` is not
    return None


# --------------------------------------------------------------------------- randomness

LIBRARIES = ("random", "numpy", "torch", "tensorflow")
# Calls that seed global random state, and which libraries' state they seed.
SEEDERS: dict[str, frozenset[str]] = {
    "random.seed": frozenset({"random"}),
    "numpy.random.seed": frozenset({"numpy"}),
    "torch.manual_seed": frozenset({"torch"}),
    "torch.cuda.manual_seed": frozenset({"torch"}),
    "torch.cuda.manual_seed_all": frozenset({"torch"}),
    "torch.random.manual_seed": frozenset({"torch"}),
    "tensorflow.random.set_seed": frozenset({"tensorflow"}),
    "tensorflow.set_random_seed": frozenset({"tensorflow"}),
    "tensorflow.compat.v1.set_random_seed": frozenset({"tensorflow"}),
    "keras.utils.set_random_seed": frozenset({"random", "numpy", "tensorflow", "torch"}),
}
# Any other function whose name speaks of seeding (transformers.set_seed,
# lightning.seed_everything, accelerate.utils.set_seed, a project's utils.set_seed) is
# trusted to seed everything: that is what such helpers are for.
SEED_WORDS = ("seed",)

# Draws that only reorder or pick existing rows (the other draws make up numbers).
ORDER_DRAWS = frozenset(
    {"shuffle", "permutation", "choice", "choices", "sample", "randperm", "random_split"}
    | {"DataLoader"}
)
# Constructors of random generators (their own state, not a global one).
RANDOM_GENERATORS = frozenset(
    {"numpy.random.default_rng", "numpy.random.RandomState", "random.Random"}
)
NUMPY_RANDOM_NOT_DRAWS = frozenset(
    {
        "seed",
        "default_rng",
        "RandomState",
        "Generator",
        "SeedSequence",
        "BitGenerator",
        "PCG64",
        "PCG64DXSM",
        "MT19937",
        "Philox",
        "SFC64",
        "get_state",
        "set_state",
    }
)
STDLIB_RANDOM_DRAWS = frozenset(
    {
        "random",
        "randint",
        "randrange",
        "choice",
        "choices",
        "shuffle",
        "sample",
        "uniform",
        "gauss",
        "normalvariate",
        "lognormvariate",
        "betavariate",
        "expovariate",
        "gammavariate",
        "triangular",
        "vonmisesvariate",
        "paretovariate",
        "weibullvariate",
        "getrandbits",
        "randbytes",
    }
)
TORCH_RANDOM_DRAWS = frozenset(
    {
        "torch.rand",
        "torch.randn",
        "torch.randint",
        "torch.randperm",
        "torch.rand_like",
        "torch.randn_like",
        "torch.randint_like",
        "torch.bernoulli",
        "torch.multinomial",
        "torch.normal",
        "torch.poisson",
        "torch.utils.data.random_split",
    }
)
TENSORFLOW_RANDOM_NOT_DRAWS = frozenset(
    {"set_seed", "Generator", "get_global_generator", "set_global_generator", "experimental"}
)

# --------------------------------------------------------------------------- hand-written fits

# Methods and functions that reduce rows to a statistic (a mean, a quantile, a bound).
STATISTIC_METHODS = frozenset(
    {"mean", "median", "mode", "std", "var", "quantile", "min", "max", "nanmean", "nanmedian"}
)
STATISTIC_FUNCTIONS = frozenset(
    [
        f"numpy.{name}"
        for name in [
            "mean",
            "std",
            "var",
            "median",
            "percentile",
            "quantile",
            "min",
            "max",
            "amin",
            "amax",
            "ptp",
            "nanmean",
            "nanstd",
            "nanvar",
            "nanmedian",
            "nanpercentile",
            "nanquantile",
            "nanmin",
            "nanmax",
            "average",
        ]
    ]
    + [
        f"torch.{name}"
        for name in ["mean", "std", "var", "median", "quantile", "min", "max", "amin", "amax"]
    ]
)
# Methods and functions that write values into rows: with a statistic as an argument, the
# statistic becomes part of the data (an imputation, a centring, a clipping).
WRITE_METHODS = frozenset(
    {
        "fillna",
        "clip",
        "clip_lower",
        "clip_upper",
        "replace",
        "where",
        "mask",
        "sub",
        "subtract",
        "div",
        "divide",
        "truediv",
        "add",
        "mul",
        "multiply",
        "combine_first",
        "clamp",
    }
)
WRITE_FUNCTIONS = frozenset(
    [
        f"numpy.{name}"
        for name in [
            "clip",
            "where",
            "nan_to_num",
            "subtract",
            "divide",
            "true_divide",
            "add",
            "multiply",
            "maximum",
            "minimum",
        ]
    ]
    + [
        f"torch.{name}"
        for name in ["clamp", "clip", "where", "sub", "subtract", "div", "divide", "nan_to_num"]
    ]
)
# Methods after which a statistic is per window or per group, not over all rows.
WINDOW_METHODS = frozenset({"rolling", "expanding", "ewm", "resample", "groupby", "cumsum"})
# Methods that run a function over a frame's columns or rows (the function sees the data).
APPLYING_METHODS = frozenset({"apply", "transform", "agg", "aggregate", "pipe", "applymap", "map"})
# Module-level scikit-learn preprocessing functions that fit and transform in one call, and
# the keyword that makes a row-wise one (normalize) learn from all rows.
FITTING_FUNCTIONS = frozenset(
    "sklearn.preprocessing." + name
    for name in (
        "scale",
        "minmax_scale",
        "robust_scale",
        "maxabs_scale",
        "quantile_transform",
        "power_transform",
    )
)
# Reductions of rows to a number: centred rows summed are a metric, not data.
REDUCTIONS = frozenset({"sum", "prod", "count", "item", "nansum", "dot", "norm", "all", "any"})
REDUCTION_FUNCTIONS = frozenset(
    f"numpy.{name}" for name in ("sum", "prod", "nansum", "dot", "sqrt", "linalg.norm", "abs")
)
# Estimators fitted on held-out rows by design: they score another, already fitted model.
EVALUATORS = frozenset({"PermutationImportance"})
# Unsupervised models: fitted on test rows they describe those rows, they predict nothing.
UNSUPERVISED = ("sklearn.cluster.", "sklearn.manifold.", "sklearn.mixture.", "hdbscan.", "umap.")
# Scalers that rescale each feature by a monotone map: tree models split on ranks within a
# feature, so such a scaler fitted on all rows cannot change what a tree learns.
MONOTONE_SCALERS = frozenset(
    {
        "StandardScaler",
        "MinMaxScaler",
        "RobustScaler",
        "MaxAbsScaler",
        "scale",
        "minmax_scale",
        "robust_scale",
        "maxabs_scale",
    }
)
_TREE_WORDS = ("Forest", "Tree", "Boost", "XGB", "LGBM", "LightGBM", "CatBoost", "GBM")


def tree_model(cls: str) -> bool:
    """Whether a model class is tree-based (forests, boosted trees, single trees)."""
    name = cls.rsplit(".", 1)[-1]
    return any(word in name for word in _TREE_WORDS)
