"""MLC105: the order of features comes from iterating a set.

What it does
    Flags ``list(set(...))``, ``tuple(...)`` of a set, list comprehensions and ``for`` loops
    over a set (including ``set(a) - set(b)`` and ``.union()``/``.difference()``) when the
    resulting order is used to select or name columns: ``df[cols]``, ``X.loc[:, cols]``,
    ``pd.DataFrame(data, columns=cols)``, ``usecols=``/``feature_names=``. Sets of integer
    literals are not flagged (their order is stable). High confidence when the columns so
    ordered reach a fit, a split or a prediction (a model's features); medium when they only
    order a table or a plot.

Why is this bad?
    The iteration order of a set of strings depends on string hashing, which Python
    randomises per process (``PYTHONHASHSEED``). The model is trained with columns in one
    order and served or re-trained with another; a saved model then silently reads the
    wrong features.

Example
    features = list(set(df.columns) - {"target"})
    X = df[features]

Use instead
    features = sorted(set(df.columns) - {"target"})
    X = df[features]
"""

from __future__ import annotations

from collections.abc import Iterator

from pytest_mlci.analysis import HIGH, MEDIUM, Analysis, Finding

CODE = "MLC105"
FAMILY = "nondeterminism"
MESSAGE = "feature order taken from a set changes between runs; use sorted(...)"


def check(analysis: Analysis) -> Iterator[Finding]:
    # columns in set order that reach a fit, a split or a prediction (a model's features)
    consumed = {id(draw.node) for draw in analysis.flow.random_consumed if draw.library == "hash"}
    seen = set()
    for origin, _use in analysis.flow.set_order_uses:
        if id(origin) in seen:
            continue
        seen.add(id(origin))
        yield analysis.finding(
            CODE,
            "column order comes from iterating a set, which changes between runs "
            "(PYTHONHASHSEED); use sorted(...)",
            origin,
            HIGH if id(origin) in consumed else MEDIUM,
        )
