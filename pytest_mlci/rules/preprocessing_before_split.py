"""MLC001: a preprocessor is fitted on data that is split into train and test afterwards.

What it does
    Flags ``fit`` / ``fit_transform`` / ``fit_resample`` of a scaler, encoder, imputer,
    feature selector, decomposition or resampler (scikit-learn, imbalanced-learn,
    category_encoders, feature-engine) when what it learned reaches a train/test split it
    was fitted before: its output is passed to ``train_test_split`` (or sliced by hand into
    ``train``/``test``), or it is fitted on the unsplit rows and then applied to one side of
    the split, or it is fitted on train and test concatenated after the split
    (``pd.concat([train, test])``, ``np.vstack``, ``list + list``) and applied to the test
    side. Also the same fit written by hand: statistics of all rows written back into the
    rows before the split (``df.fillna(df.mean())``, ``(x - x.mean()) / x.std()``, min-max by
    hand, clipping at quantiles, ``pd.qcut`` / ``pd.cut(bins=5)``, in pandas, numpy or torch,
    in ``apply``/``transform`` lambdas and helpers), the function forms
    ``preprocessing.scale`` / ``minmax_scale`` / ``robust_scale`` / ``quantile_transform`` /
    ``power_transform`` / ``normalize(axis=0)``, and the pre-0.20 ``sklearn.cross_validation``
    module. Stateless transformers (``FunctionTransformer``, ``PolynomialFeatures``,
    ``LabelEncoder``, row-wise ``normalize`` ...) are not flagged; neither is a statistic only
    printed, plotted or asserted, a per-row or rolling statistic, a fit whose result never
    reaches a split (a PCA for a plot), a fit on the training side that is later stacked with
    the test side and sliced apart again, or a validation split carved out of already-scaled
    training rows (the test score stays honest; cross-validation on such rows is MLC004).
    Encoders that learn only which categories or words exist (``OneHotEncoder``,
    ``OrdinalEncoder``, ``CountVectorizer``, ``LabelEncoder``) are medium confidence: no
    statistic of the values leaks, only which columns exist; so is a monotone scaler whose rows
    train only tree models, and a fit on a train and a test file merged for feature
    engineering (a competition's unlabelled test set). A fit after the split on train and
    test concatenated is MLC002 (it is fitted on the test rows).

Why is this bad?
    Means, variances, vocabularies, imputation values and synthetic samples computed over all
    rows carry information about the test rows into the features the model trains on. The
    test score is then optimistic, and the model will do worse in production than the
    evaluation promised.

Example
    X = StandardScaler().fit_transform(X)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

Use instead
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression())
    model.fit(X_train, y_train)
"""

from __future__ import annotations

from collections.abc import Iterator

from pytest_mlci.analysis import HIGH, MEDIUM, Analysis, Finding, FitEvent, catalog
from pytest_mlci.analysis.fits import encodes_the_target, trees_only
from pytest_mlci.analysis.splits import merged_by_name

CODE = "MLC001"
FAMILY = "leakage"
MESSAGE = "preprocessor fitted before the train/test split; fit it on the training rows only"


def _confidence(fit: FitEvent) -> str:
    """Medium for a transformer that learns only which categories exist (no statistic), and
    for one fitted on a train and a test set known only by name, together (usually a
    competition's unlabelled test file merged in for feature engineering)."""
    keywords = fit.estimator.keywords if fit.estimator is not None else frozenset()
    if catalog.learns_vocabulary_only(fit.cls, keywords) or merged_by_name(fit.data):
        return MEDIUM
    return HIGH


def check(analysis: Analysis) -> Iterator[Finding]:
    for leak in analysis.flow.leaks:
        if encodes_the_target(analysis.flow, leak.fit):
            continue  # a target encoding: MLC005 reports it
        if leak.fit.kind == "preprocessor" and leak.split.kind == "holdout":
            if leak.fit.method == "statistic":
                message = (
                    f"statistics of rows that {leak.split.name} puts in the test set are "
                    "written into the data (an imputation, centring, scaling, clipping or "
                    "binning by hand); compute them on the training rows only"
                )
            else:
                message = (
                    f"{leak.fit.name}.{leak.fit.method}() sees rows that {leak.split.name} "
                    "puts in the test set; fit it on the training rows only (e.g. in a "
                    "Pipeline)"
                )
            confidence = MEDIUM if trees_only(analysis.flow, leak) else _confidence(leak.fit)
            yield analysis.finding(CODE, message, leak.fit.node, confidence)
