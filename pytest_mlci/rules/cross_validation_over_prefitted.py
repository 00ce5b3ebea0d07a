"""MLC004: cross-validation runs over features from a preprocessor fitted outside the folds.

What it does
    Flags ``cross_val_score`` / ``cross_validate`` / ``cross_val_predict`` /
    ``learning_curve`` / ``GridSearchCV.fit`` / ``KFold.split`` ... on data produced by a
    scaler, encoder, imputer, selector or resampler fitted on all of those rows (or statistics
    written into them by hand), and manual fold loops that index such rows with the fold's
    indices (``X_scaled[train_idx]``), including the pre-0.20 splitters iterated directly
    (``for train, test in KFold(len(X), n_folds=5):``) and ``sklearn.grid_search``.
    Vocabulary-only encoders (``OneHotEncoder``, ``CountVectorizer``) are medium confidence,
    and so is a monotone scaler (``StandardScaler``, ``MinMaxScaler``, ``RobustScaler``,
    ``MaxAbsScaler``) when only tree models (forests, boosted trees) are cross-validated over
    it: trees split on the order of values within a feature, which such a scaler keeps.
    Statistics fitted fold by fold inside the fold loop (out-of-fold encodings) are not
    flagged; a per-group statistic of the label is MLC005's.

Why is this bad?
    Each validation fold was part of what the preprocessor learned from, so every fold's
    score is optimistic and model selection favours settings that exploit the leak. With
    resamplers such as SMOTE the synthetic rows even copy validation rows into training.

Example
    X = StandardScaler().fit_transform(X)
    scores = cross_val_score(LogisticRegression(), X, y, cv=5)

Use instead
    model = make_pipeline(StandardScaler(), LogisticRegression())
    scores = cross_val_score(model, X, y, cv=5)
"""

from __future__ import annotations

from collections.abc import Iterator

from pytest_mlci.analysis import HIGH, MEDIUM, Analysis, Finding, catalog
from pytest_mlci.analysis.fits import encodes_the_target, trees_only
from pytest_mlci.analysis.splits import merged_by_name

CODE = "MLC004"
FAMILY = "leakage"
MESSAGE = "cross-validation over a preprocessor fitted outside the folds; put it in a Pipeline"


def check(analysis: Analysis) -> Iterator[Finding]:
    seen = set()
    for leak in analysis.flow.leaks:
        if leak.fit.kind != "preprocessor" or leak.split.kind != "cv" or id(leak.fit) in seen:
            continue
        if encodes_the_target(analysis.flow, leak.fit):
            continue  # a target encoding: MLC005 reports it
        seen.add(id(leak.fit))  # one finding per prefitted step, at its first cross-validation
        where = analysis.finding(CODE, "", leak.fit.node)
        at = f"cell {where.cell}, line {where.line}" if where.cell else f"line {where.line}"
        message = (
            f"{leak.split.name} runs over {leak.fit.name} fitted on all its rows ({at}); "
            "put it in a Pipeline so each fold fits its own"
        )
        keywords = leak.fit.estimator.keywords if leak.fit.estimator is not None else frozenset()
        vocabulary = catalog.learns_vocabulary_only(leak.fit.cls, keywords)
        # fitted together with a competition's unlabelled test file (known only by name)
        transductive = merged_by_name(leak.fit.data)
        confidence = (
            MEDIUM if vocabulary or transductive or trees_only(analysis.flow, leak) else HIGH
        )
        yield analysis.finding(CODE, message, leak.node, confidence)
