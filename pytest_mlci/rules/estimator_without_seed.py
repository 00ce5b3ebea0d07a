"""MLC101: a stochastic scikit-learn estimator or splitter is created without ``random_state``.

What it does
    Flags random forests, (histogram) gradient boosting, extra trees, bagging, AdaBoost, SGD,
    MLPs, k-means, Gaussian mixtures, TSNE, ``TruncatedSVD``, ``train_test_split``,
    ``ShuffleSplit``, ``KFold(shuffle=True)``, ``RandomizedSearchCV``, ``sklearn.utils.shuffle``,
    ``LogisticRegression(solver="saga")``, ``SVC(probability=True)``, imbalanced-learn samplers
    and the like when they are created without ``random_state`` (or with
    ``random_state=None``), unless the module seeds numpy's global generator before them.
    scikit-learn draws from numpy's global ``RandomState`` when ``random_state`` is None, so
    ``np.random.seed(...)`` (or ``keras.utils.set_random_seed``, ``transformers.set_seed``,
    ``seed_everything`` or a project helper whose name says ``seed``) covers them.
    Calls that pass ``**params`` are not flagged: the seed may be in there.

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

from pytest_mlci.analysis import Analysis, Finding

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
        yield analysis.finding(
            CODE,
            f"{name}() without random_state and no numpy seed before it; "
            "pass random_state=<int> so runs are reproducible",
            call.node,
        )
