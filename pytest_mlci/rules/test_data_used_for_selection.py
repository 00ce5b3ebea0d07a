"""MLC003: test data is used to choose something (a hyperparameter, a threshold, a checkpoint).

What it does
    Flags places where a value computed from the test set decides something:

    * an ``if``/``while`` comparison inside a loop (``if score > best:`` over test scores,
      keeping the best checkpoint on the test loss);
    * ``argmax``/``argmin``/``idxmax``/``nlargest`` or ``max``/``min``/``sorted`` with a
      ``key=`` (a lambda or a function, followed into its body) over test scores or test-set
      curves (``max(thresholds, key=lambda t: f1_score(y_test, proba > t))``, picking a
      threshold from ``roc_curve(y_test, ...)``);
    * early stopping or ``ModelCheckpoint`` watching the test set (``eval_set``,
      ``validation_data``, ``valid_sets``, ``evals`` holding test data together with
      ``early_stopping_rounds`` or callbacks that stop, checkpoint, prune or adapt: medium
      confidence when the callbacks cannot be seen, or when the set is never scored, i.e. a
      validation set by another name).

    A validation split (``X_val``, ``X_valid``, CV folds, the split an estimator makes inside
    its own ``fit``) is the right place for all of these and is not flagged; neither are test
    sets watched only to record or plot the learning curve, nor ``argmax`` over one model's
    output (a prediction, not a choice).

Why is this bad?
    Whatever is chosen on the test set is tuned to it, so the test score stops being an
    unbiased estimate of performance on new data: it is the best of many tries.

Example
    for k in range(1, 30):
        model = KNeighborsClassifier(k).fit(X_train, y_train)
        if model.score(X_test, y_test) > best:
            best, best_k = model.score(X_test, y_test), k

Use instead
    search = GridSearchCV(KNeighborsClassifier(), {"n_neighbors": range(1, 30)})
    search.fit(X_train, y_train)
    search.score(X_test, y_test)  # once, at the end
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from pytest_mlci.analysis import HIGH, MEDIUM, Analysis, Finding, called_name
from pytest_mlci.analysis.splits import has_test

CODE = "MLC003"
FAMILY = "leakage"
MESSAGE = "test data used to choose a model setting; choose on a validation split or with CV"


# Calls that only draw a value: a choice whose result goes nowhere else decides nothing.
# (Printing the chosen value is reporting it: still a choice.)
_DISPLAY = frozenset(
    {
        "axvline",
        "axhline",
        "vlines",
        "hlines",
        "annotate",
        "text",
        "scatter",
        "plot",
        "axvspan",
        "set_title",
        "title",
        "xlabel",
        "ylabel",
        "legend",
    }
)


def _parents(analysis: Analysis) -> dict[int, ast.AST]:
    parents: dict[int, ast.AST] = {}
    for node in analysis.nodes:
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    return parents


def _displayed_only(analysis: Analysis, node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """``best = np.argmin(test_curve)`` used only in ``plt.axvline(best)``: a reference line
    drawn on a learning curve, not a setting chosen."""
    parent = parents.get(id(node))
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.Call) and called_name(parent) in _DISPLAY:
            return True  # `plt.axvline(np.argmin(test_curve))`
        parent = parents.get(id(parent))
    if not (
        isinstance(parent, ast.Assign)
        and len(parent.targets) == 1
        and isinstance(parent.targets[0], ast.Name)
    ):
        return False
    name = parent.targets[0].id
    uses = [
        n
        for n in analysis.nodes
        if isinstance(n, ast.Name) and n.id == name and n is not parent.targets[0]
    ]
    for use in uses:
        holder = parents.get(id(use))
        while holder is not None and not isinstance(holder, ast.stmt):
            if isinstance(holder, ast.Call) and called_name(holder) in _DISPLAY:
                break
            holder = parents.get(id(holder))
        else:
            return False
        if holder is None or isinstance(holder, ast.stmt):
            return False
    return bool(uses)


def check(analysis: Analysis) -> Iterator[Finding]:
    parents = _parents(analysis) if analysis.flow.choices else {}
    for choice in analysis.flow.choices:
        shown = _displayed_only(analysis, choice.node, parents)
        yield analysis.finding(
            CODE,
            "a choice is made on test-set results; choose on a validation split or with CV "
            "and score the test set once at the end"
            + (" (here it is only displayed)" if shown else ""),
            choice.node,
            MEDIUM if shown else HIGH,
        )
    # a set named test that is watched but never scored is a validation set by another name
    scored = any(has_test(labels) for labels in analysis.flow.scored)
    for node, confidence in analysis.flow.early_stops:
        if not scored:
            confidence = MEDIUM
        yield analysis.finding(
            CODE,
            "early stopping / checkpointing watches the test set; watch a validation split"
            if confidence == "high"
            else "the test set is watched during training with callbacks that may stop early "
            "or keep the best checkpoint; watch a validation split",
            node,
            confidence,
        )
