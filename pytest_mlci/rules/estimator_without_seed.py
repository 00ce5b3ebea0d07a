"""MLC101: a stochastic scikit-learn estimator or splitter is created without ``random_state``.

What it does
    Flags random forests, (histogram) gradient boosting, extra trees, bagging, AdaBoost, SGD,
    MLPs, k-means, Gaussian mixtures, TSNE, ``TruncatedSVD``, ``train_test_split``,
    ``ShuffleSplit``, ``KFold(shuffle=True)``, ``RandomizedSearchCV``, ``sklearn.utils.shuffle``,
    ``LogisticRegression(solver="saga")``, ``SVC(probability=True)``, imbalanced-learn samplers
    and the like when they are created without ``random_state`` (or with
    ``random_state=None``), unless the module seeds numpy's global generator before them or
    before they are fitted. scikit-learn draws from numpy's global ``RandomState`` when
    ``random_state`` is None, so ``np.random.seed(...)`` (or ``keras.utils.set_random_seed``,
    ``transformers.set_seed``, ``seed_everything`` or a project helper whose name says
    ``seed``) covers them. Calls that pass ``**params`` are not flagged: the seed may be in
    there; neither is ``set_params(random_state=...)`` before the fit, a member of a bagging
    or boosting ensemble (the ensemble reseeds it), nor an estimator made deterministic by its
    arguments (``KMeans`` with an explicit ``init`` array, ``GaussianMixture`` with one
    component, ``HistGradientBoosting`` with ``early_stopping=False`` or fitted on a bundled
    toy dataset or ``make_*(n_samples < 10000)``, where early stopping stays off).

    Confidence: high when the estimator is fitted, handed to a search, a pipeline or a
    cross-validation, or used in any way the file does not show; medium when it is only
    built, when a resampler's rows train nothing, when a splitter's folds are only drawn,
    and for a single decision tree or gradient boosting without ``subsample`` /
    ``max_features``, which draw only to break ties between equally good splits.

Why is this bad?
    Every run trains a different model and reports a different score, so a gate can pass on
    one run and fail on the next, and nobody can reproduce the model that was deployed.

Example
    model = RandomForestClassifier(n_estimators=300)
    X_train, X_test, y_train, y_test = train_test_split(X, y)

Use instead
    model = RandomForestClassifier(n_estimators=300, random_state=42)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=42)
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from pytest_mlci.analysis import HIGH, MEDIUM, Analysis, CallSite, Finding
from pytest_mlci.analysis.splits import Role
from pytest_mlci.analysis.values import Built, Source

CODE = "MLC101"
FAMILY = "nondeterminism"
MESSAGE = "stochastic estimator created without random_state; pass random_state=<int>"


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is(call: ast.Call, name: str, *values: object) -> bool:
    value = _keyword(call, name)
    return isinstance(value, ast.Constant) and value.value in values


def _always(call: ast.Call) -> bool:
    return True


def _shuffled(call: ast.Call) -> bool:
    return _is(call, "shuffle", True)


def _not_unshuffled(call: ast.Call) -> bool:
    return not _is(call, "shuffle", False)


def _sag(call: ast.Call) -> bool:
    return _is(call, "solver", "sag", "saga")


def _probability(call: ast.Call) -> bool:
    return _is(call, "probability", True)


def _randomized_svd(call: ast.Call) -> bool:
    return _is(call, "svd_solver", "randomized", "arpack")


def _names(prefix: str, names: str, when: Callable[[ast.Call], bool] = _always) -> dict:
    return {f"{prefix}.{name}": when for name in names.split()}


STOCHASTIC: dict[str, Callable[[ast.Call], bool]] = {
    **_names(
        "sklearn.ensemble",
        "RandomForestClassifier RandomForestRegressor ExtraTreesClassifier ExtraTreesRegressor "
        "GradientBoostingClassifier GradientBoostingRegressor HistGradientBoostingClassifier "
        "HistGradientBoostingRegressor AdaBoostClassifier AdaBoostRegressor BaggingClassifier "
        "BaggingRegressor IsolationForest RandomTreesEmbedding",
    ),
    **_names(
        "sklearn.tree",
        "DecisionTreeClassifier DecisionTreeRegressor ExtraTreeClassifier ExtraTreeRegressor",
    ),
    **_names(
        "sklearn.linear_model",
        "SGDClassifier SGDRegressor SGDOneClassSVM Perceptron PassiveAggressiveClassifier "
        "PassiveAggressiveRegressor RANSACRegressor",
    ),
    **_names("sklearn.linear_model", "LogisticRegression LogisticRegressionCV Ridge", _sag),
    **_names("sklearn.svm", "SVC NuSVC", _probability),
    **_names("sklearn.neural_network", "MLPClassifier MLPRegressor BernoulliRBM"),
    **_names("sklearn.cluster", "KMeans MiniBatchKMeans BisectingKMeans SpectralClustering"),
    **_names("sklearn.mixture", "GaussianMixture BayesianGaussianMixture"),
    **_names("sklearn.manifold", "TSNE"),
    **_names("sklearn.decomposition", "TruncatedSVD LatentDirichletAllocation FastICA"),
    **_names("sklearn.decomposition", "PCA", _randomized_svd),
    **_names("sklearn.model_selection", "train_test_split", _not_unshuffled),
    **_names(
        "sklearn.model_selection",
        "ShuffleSplit StratifiedShuffleSplit GroupShuffleSplit RepeatedKFold "
        "RepeatedStratifiedKFold RandomizedSearchCV HalvingRandomSearchCV",
    ),
    **_names("sklearn.model_selection", "KFold StratifiedKFold GroupKFold", _shuffled),
    **_names("sklearn.utils", "shuffle resample"),
    **_names(
        "imblearn.over_sampling",
        "SMOTE SMOTENC SMOTEN ADASYN BorderlineSMOTE SVMSMOTE KMeansSMOTE RandomOverSampler",
    ),
    **_names("imblearn.under_sampling", "RandomUnderSampler"),
}


# Ensembles that hand every member a seed drawn from their own random_state (scikit-learn's
# BaseEnsemble and imbalanced-learn's bagging/boosting ensembles): the member's own seed is
# overwritten, so the ensemble is the one to seed.
_RESEEDING = ("Bagging", "AdaBoost", "EasyEnsemble", "RUSBoost", "BalancedRandomForest")
_RESAMPLERS = ("imblearn.",)


_EXPRESSION = object()  # an argument that is not a literal


def _constant(call: ast.Call, name: str, position: int | None = None) -> object:
    """The literal value of keyword ``name`` (or positional ``position``): ``...`` when it is
    not given (so "absent" and ``None`` differ), ``_EXPRESSION`` when it is not a literal."""
    value = _keyword(call, name)
    if value is None and position is not None and len(call.args) > position:
        value = call.args[position]
    if value is None:
        return ...
    return value.value if isinstance(value, ast.Constant) else _EXPRESSION


def _deterministic(name: str, call: ast.Call) -> bool:
    """Estimators whose only randomness is switched off by their arguments."""
    if name == "KMeans":
        init = _constant(call, "init")
        return init is not ... and not isinstance(init, str)  # an explicit array of centres
    if name in ("GaussianMixture", "BayesianGaussianMixture"):
        return _constant(call, "n_components", 0) == 1
    if name.startswith("HistGradientBoosting"):
        return _constant(call, "early_stopping") is False
    return False


def _random_only_in_ties(name: str, call: ast.Call) -> bool:
    """Estimators that draw only to break ties between equally good splits: reproducible
    in practice unless features are sampled (``max_features``) or rows are (``subsample``)."""
    if name in ("DecisionTreeClassifier", "DecisionTreeRegressor"):
        return _constant(call, "max_features") in (..., None) and _constant(call, "splitter") in (
            ...,
            "best",
        )
    if name in ("GradientBoostingClassifier", "GradientBoostingRegressor"):
        return (
            _constant(call, "subsample") in (..., 1, 1.0)
            and _constant(call, "max_features") in (..., None)
            and _constant(call, "n_iter_no_change") in (..., None)
        )
    return False


def _small_data_only(analysis: Analysis, built: Built) -> bool:
    """HistGradientBoosting's ``early_stopping='auto'`` draws a validation split only from
    10,000 rows; below that it is deterministic. True when every fit is on rows the code
    states are few."""
    sources = [label for fit in built.fits for label in fit.data if isinstance(label, Source)]
    small = analysis.flow.small_sources
    return bool(sources) and all(source in small for source in sources)


def _resampled_rows_train_a_model(analysis: Analysis, built: Built) -> bool:
    """A resampler's randomness matters when its output reaches a model's fit; class counts
    that are only plotted are fixed by ``sampling_strategy``."""
    events = set(built.fits)
    return any(fit.kind in ("model", "search") and events & fit.data for fit in analysis.flow.fits)


def _folds_train_a_model(analysis: Analysis, built: Built) -> bool:
    """A splitter's shuffling matters when its folds are fitted or scored, not when the fold
    pattern is only drawn."""
    splits = set(built.splits)
    flow = analysis.flow
    for labels in [*(fit.data for fit in flow.fits), *(data for _, data, _ in flow.applications)]:
        if any(isinstance(label, Role) and label.split in splits for label in labels):
            return True
    return False


def _confidence(analysis: Analysis, call: CallSite, name: str) -> str | None:
    """``high`` / ``medium`` for an unseeded construction, None when it is not a problem."""
    if _deterministic(name, call.node):
        return None
    built = analysis.flow.built.get(id(call.node))
    if built is None:  # a function such as train_test_split: it draws right there
        return HIGH
    owners = list(built.chain())[1:]
    if any(word in owner.cls.rsplit(".", 1)[-1] for owner in owners for word in _RESEEDING):
        return None  # the ensemble reseeds it (MLC101 is about the ensemble, if anything)
    if built.reseeded:
        return None  # set_params(random_state=...) before it is fitted
    if built.fit_order is not None and analysis.seeds.covers_order("numpy", built.fit_order):
        return None  # np.random.seed(...) after construction, before fit: where it draws
    if _random_only_in_ties(name, call.node):
        return MEDIUM
    auto_stop = _constant(call.node, "early_stopping") in (..., "auto")
    if name.startswith("HistGradientBoosting") and auto_stop and _small_data_only(analysis, built):
        return None
    if built.cls.startswith(_RESAMPLERS) and not any(o.fitted or o.used for o in owners):
        return HIGH if _resampled_rows_train_a_model(analysis, built) else MEDIUM
    active = any(b.fitted or b.used for b in built.chain())
    if not active and built.splits:
        active = _folds_train_a_model(analysis, built)
    return HIGH if active else MEDIUM


def check(analysis: Analysis) -> Iterator[Finding]:
    seeds = analysis.seeds
    for call in analysis.flow.calls:
        condition = STOCHASTIC.get(call.qualname or "")
        if condition is None or not condition(call.node):
            continue
        if any(k.arg is None for k in call.node.keywords):
            continue  # **params may carry the seed
        seed = _keyword(call.node, "random_state")
        if seed is not None and not (isinstance(seed, ast.Constant) and seed.value is None):
            continue
        if seeds.covers("numpy", call):
            continue
        name = call.qualname.rsplit(".", 1)[-1]  # type: ignore[union-attr]
        confidence = _confidence(analysis, call, name)
        if confidence is None:
            continue
        if confidence == HIGH:
            message = (
                f"{name}() without random_state and no numpy seed before it; "
                "pass random_state=<int> so runs are reproducible"
            )
        elif _random_only_in_ties(name, call.node):
            message = (
                f"{name}() without random_state: it draws only to break ties between equal "
                "splits here; pass random_state=<int> to make that reproducible too"
            )
        else:
            message = (
                f"{name}() without random_state is built but never fitted or used in this "
                "file; pass random_state=<int> if it is fitted elsewhere"
            )
        yield analysis.finding(CODE, message, call.node, confidence)
