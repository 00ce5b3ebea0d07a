"""MLC002: an estimator or preprocessor is fitted (or refitted) on test data.

What it does
    Flags ``fit``-like calls whose data is the test side of a split and not also its training
    side: ``scaler.fit_transform(X_test)``, ``model.fit(X_test, y_test)``. The test side is
    known from ``train_test_split`` results, manual ``test = df[n:]`` slices, or a name such
    as ``X_test`` / ``test_df`` / ``X_holdout``. Also: the test rows normalised or imputed
    with their own statistics (``X_test = (X_test - X_test.mean()) / X_test.std()``,
    ``test.fillna(test.median())``), and a model fitted on rows that include the test set
    (all rows before the split, or ``pd.concat([X_train, X_test])``) and then scored or
    predicted on that test set. A final refit on train and test together with nothing scored
    afterwards is not flagged: that is how a model is retrained on all data once evaluation
    is done. Neither is updating an estimator on the test rows after its last evaluation on
    them (``clf.score(X_test, y_test)`` then ``clf.partial_fit(X_test, y_test)``), a metric
    computed by hand from test statistics (``((y_test - y_test.mean()) ** 2).sum()``), nor
    two halves swapping roles (fit on one, score on the other, and back).

    Confidence: high for a scaler, encoder or imputer refitted on the test rows, statistics
    of a test split written into it, and a model fitted on rows that include the test set
    and then scored on it; medium for a model fitted on test rows alone (in real code more
    often a fold or a stack of predictions), a train and a test file stacked for a fit (often
    a competition's unlabelled test set), clusters of the test rows, statistics of a set that
    is a test set only by its name and never scored.

Why is this bad?
    Fitting on the test rows lets the estimator adapt to exactly the data it will be scored
    on. Refitting a scaler on the test set also puts train and test features on different
    scales, so the score is wrong in both directions.

Example
    X_train = scaler.fit_transform(X_train)
    X_test = scaler.fit_transform(X_test)

Use instead
    X_train = scaler.fit_transform(X_train)
    X_test = scaler.transform(X_test)
"""

from __future__ import annotations

from collections.abc import Iterator

from pytest_mlci.analysis import HIGH, MEDIUM, Analysis, Finding, catalog
from pytest_mlci.analysis.fits import FitEvent
from pytest_mlci.analysis.splits import Role, has_test, merged_by_name, roles

CODE = "MLC002"
FAMILY = "leakage"
MESSAGE = "fitted on test data; fit on the training rows and only transform/predict the test rows"


def _refit_after_evaluation(analysis: Analysis, fit: FitEvent) -> bool:
    """Scored on the test set first and never again after: updating on it is a final refit."""
    uses = [
        seq
        for estimator, labels, seq in analysis.flow.applications
        if estimator is fit.estimator and has_test(labels)
    ]
    return bool(uses) and max(uses) < fit.seq


def _swapped_folds(analysis: Analysis, fit: FitEvent, split: object) -> bool:
    """Fitted on the test side and then scored on the training side of the same split: the
    two halves swap roles (hand-written two-fold cross-validation), nothing is leaked."""
    return any(
        estimator is fit.estimator
        and seq > fit.seq
        and any(r.split is split and r.role == "train" for r in roles(labels))
        for estimator, labels, seq in analysis.flow.applications
    )


def check(analysis: Analysis) -> Iterator[Finding]:
    reported: set[int] = set()
    for leak in analysis.flow.model_leaks:
        if id(leak.fit) in reported:
            continue
        reported.add(id(leak.fit))
        yield analysis.finding(
            CODE,
            f"{leak.fit.name}.{leak.fit.method}() is fitted on rows that include the test set "
            f"of {leak.split.name}, and then applied to it; fit on the training rows only",
            leak.fit.node,
            # an encoder that learns only which categories or words exist leaks no statistic
            MEDIUM if catalog.learns_vocabulary_only(leak.fit.cls, frozenset()) else HIGH,
        )
    scored = _scores_named_test(analysis)
    for leak in analysis.flow.named_leaks:
        if id(leak.fit) in reported:
            continue
        reported.add(id(leak.fit))
        yield analysis.finding(
            CODE,
            f"{leak.fit.name}.{leak.fit.method}() is fitted on the train and test sets stacked "
            "together and then applied to the test set; fit on the training rows only",
            leak.fit.node,
            # a train and a test file stacked: as often a competition's unlabelled test set
            # (transductive preprocessing) as a leak into a reported score
            MEDIUM,
        )
    for fit in analysis.flow.fits:
        if id(fit) in reported:
            continue
        if fit.kind == "group" or _refit_after_evaluation(analysis, fit):
            continue
        if (fit.cls or "").rsplit(".", 1)[-1] in catalog.EVALUATORS:
            continue  # PermutationImportance(model).fit(X_test, y_test) is how it is used
        found = list(roles(fit.data))
        for role in found:
            if role.role != "test":
                continue
            if any(r.split == role.split and r.role in ("train", "val") for r in found):
                continue
            if role.split is not None and _swapped_folds(analysis, fit, role.split):
                continue
            message = (
                "the test rows are normalised or imputed with their own statistics; use the "
                "statistics of the training rows"
                if fit.method == "statistic"
                else f"{fit.name}.{fit.method}() is fitted on test data; fit on the training "
                "rows and only transform/predict the test rows"
            )
            yield analysis.finding(CODE, message, fit.node, _confidence(fit, role, scored))
            break


def _scores_named_test(analysis: Analysis) -> bool:
    """Whether a score is computed on a test set known by its name: then it is a labelled
    test set (a metric on it is reported), not a competition's unlabelled file."""
    return any(
        any(
            isinstance(label, Role) and label.split is None and label.role == "test"
            for label in labels
        )
        and not merged_by_name(labels)
        for labels in analysis.flow.scored
    )


def _confidence(fit: FitEvent, role: Role, scored: bool = False) -> str:
    """Medium for statistics of rows that are a test set only by name (often a competition's
    unlabelled test file or an inference batch, whose own statistics are a feature of it),
    for an unsupervised estimator (clusters of the test rows drawn for a look), and for a
    model fitted on test rows alone (high for a scaler, encoder or imputer refitted there)."""
    if role.split is None and fit.kind == "preprocessor" and fit.estimator is None and not scored:
        return MEDIUM  # statistics or a scaling function, not a fitted object kept for later
    if (fit.cls or "").startswith(catalog.UNSUPERVISED):
        return MEDIUM
    if fit.kind in ("model", "search"):
        # a model fitted on test rows alone is rare in real code; when the engine sees one it
        # is more often a fold or a stack of predictions it could not tell apart
        return MEDIUM
    return HIGH
