"""MLC005: a target (mean) encoding is computed over rows that are split afterwards.

What it does
    Flags target encoders (scikit-learn ``TargetEncoder``, category_encoders'
    ``TargetEncoder``/``MEstimateEncoder``/``LeaveOneOutEncoder``/``CatBoostEncoder``/
    ``WOEEncoder`` ..., feature-engine's ``MeanEncoder``) fitted before a train/test split or
    cross-validation, and pandas mean encodings such as
    ``df.groupby("city")["churn"].transform("mean")`` when ``churn`` is used as the label and
    the encoded frame is split or cross-validated afterwards.

Why is this bad?
    The encoded feature is an average of the label. Computed over all rows, each test row's
    own label is inside its feature, so the model looks far better than it is; on rare
    categories the feature is nearly the answer.

Example
    df["city_rate"] = df.groupby("city")["churn"].transform("mean")
    X_train, X_test, y_train, y_test = train_test_split(df[features], df["churn"])

Use instead
    X_train, X_test, y_train, y_test = train_test_split(df[features], df["churn"])
    model = make_pipeline(TargetEncoder(), LogisticRegression()).fit(X_train, y_train)
"""

from __future__ import annotations

from collections.abc import Iterator

from pytest_mlci.analysis import Analysis, Finding

CODE = "MLC005"
FAMILY = "leakage"
MESSAGE = "target encoding computed over all rows before the split; compute it on training rows"


def check(analysis: Analysis) -> Iterator[Finding]:
    targets = analysis.flow.target_columns
    for leak in analysis.flow.leaks:
        fit = leak.fit
        if fit.kind == "target":
            what = f"{fit.name}.{fit.method}()"
        elif fit.kind == "group" and targets.intersection(fit.columns):
            column = sorted(targets.intersection(fit.columns))[0]
            what = f"a per-group statistic of the label {column!r}"
        else:
            continue
        message = (
            f"{what} is computed over rows that {leak.split.name} later holds out; compute the "
            "encoding on the training rows only (e.g. TargetEncoder in a Pipeline)"
        )
        yield analysis.finding(CODE, message, fit.node)
