"""Selection: places where a value decides something, and probability thresholds.

A :class:`Choice` is a comparison inside a loop, an ``argmax``, a ``max(key=...)`` or early
stopping; rules ask whether test rows reached it (choosing on the test set). Probability
thresholds compared against model scores are kept for the opt-in magic-threshold rule.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from pytest_mlci.analysis import catalog
from pytest_mlci.analysis.splits import has_test
from pytest_mlci.analysis.values import Scope, Source, Value, _flatten, union, words


class Choice:
    """A place where a value decides something: a comparison in a loop, argmax, max(key=)."""

    __slots__ = ("labels", "node")

    def __init__(self, node: ast.AST, labels: frozenset) -> None:
        self.node = node
        self.labels = labels


class SelectionTracking:
    """The :class:`~pytest_mlci.analysis.flow.Flow` methods that record choices."""

    def _compare(self, node: ast.Compare, scope: Scope) -> Value:
        operands = [self._eval(node.left, scope)] + [self._eval(c, scope) for c in node.comparators]
        labels = union(operands)
        ordering = any(isinstance(op, ast.Lt | ast.Gt | ast.LtE | ast.GtE) for op in node.ops)
        # `score > best` compares two results: a choice; `proba > 0.5` compares with a fixed
        # number: a classification (the threshold itself is MLC901's business)
        fixed = any(isinstance(n, ast.Constant) for n in [node.left, *node.comparators])
        if ordering and self._in_condition and not fixed and has_test(labels):
            self.choices.append(Choice(node, labels))
        if ordering:
            nodes = [node.left, *node.comparators]
            for constant, other, other_node in _threshold_pairs(nodes, operands):
                if "proba" in other.flags or _probability_name(other_node):
                    self.thresholds.append(constant)
        return Value(labels, flags={"scalar"} if not labels else ())

    def _arg_choice(self, node: ast.Call, args: list[Value], kwargs: dict[str, Value]) -> None:
        """argmax over test scores picks something; argmax over class scores per row predicts."""
        if not args or kwargs.keys() & {"axis", "dim", "keepdim"} or len(args) > 1:
            return
        if "proba" in args[0].flags:
            return
        first = node.args[0] if node.args else None
        if isinstance(first, ast.Subscript) and (
            isinstance(first.slice, ast.Name)
            or (isinstance(first.slice, ast.Constant) and isinstance(first.slice.value, int))
        ):
            return  # `np.argmax(y_test[i])`: one row decoded (a one-hot label, a prediction)
        if has_test(args[0].labels):
            self.choices.append(Choice(node, args[0].labels))

    def _early_stopping(
        self, node: ast.Call, kwargs: dict[str, Value], estimator: Value | None
    ) -> None:
        watched = [kwargs[k] for k in catalog.EVAL_KWARGS if k in kwargs]
        # a watch list holds train and test side by side: look at each set in it
        if not any(has_test(part.labels) for value in watched for part in _flatten(value)):
            return
        given = set(kwargs) | (estimator.keywords if estimator else set())
        if given & catalog.EARLY_STOP_KWARGS:
            self.early_stops.append((node, "high"))
        elif "callbacks" in given:
            # callbacks may stop early or keep the best checkpoint, or only record and log
            literal = next((k.value for k in node.keywords if k.arg == "callbacks"), None)
            verdict = _callbacks_choose(kwargs.get("callbacks"), literal)
            if verdict is not None:
                self.early_stops.append((node, verdict))


_CHOOSING = re.compile(r"early|stop|modelcheckpoint|plateau|best|prun", re.IGNORECASE)
# a checkpoint of some other kind may keep the best weights, or only save metrics
_MAYBE_CHOOSING = re.compile(r"checkpoint", re.IGNORECASE)


def _callbacks_choose(callbacks: Value | None, literal: ast.expr | None) -> str | None:
    """``high`` when the callbacks include one that acts on what it watches (early stopping,
    a best-checkpoint, a learning-rate plateau, a pruner), None when all of them only record
    or log, ``medium`` when the interpreter cannot see them."""
    names: list[str] = []
    if callbacks is not None and callbacks.items is not None:
        elements = literal.elts if isinstance(literal, ast.List | ast.Tuple) else []
        for position, item in enumerate(callbacks.items):
            # what the callback is: its class, the function that made it, or its source text
            name = item.instance_of or item.qualname or ""
            if not name and position < len(elements) and isinstance(elements[position], ast.Call):
                name = ast.unparse(elements[position].func)
            names.append(name)
            names.extend(label.name for label in item.labels if isinstance(label, Source))
    else:
        return "medium"
    if any(_CHOOSING.search(name) for name in names):
        return "high"
    if any(_MAYBE_CHOOSING.search(name) for name in names):
        return "medium"
    if names and all(names):
        return None  # record_evaluation, log_evaluation, TensorBoard, CSVLogger ...
    return "medium"


def _threshold_pairs(
    nodes: list[ast.expr], values: list[Value]
) -> Iterator[tuple[ast.Constant, Value, ast.expr]]:
    for i, node in enumerate(nodes):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, float)
            and 0.0 < node.value < 1.0
        ):
            for j in (i - 1, i + 1):
                if 0 <= j < len(nodes):
                    yield node, values[j], nodes[j]


def _probability_name(node: ast.expr) -> bool:
    while isinstance(node, ast.Subscript | ast.Attribute | ast.Call):
        node = node.value if not isinstance(node, ast.Call) else node.func
    if isinstance(node, ast.Name):
        return bool(
            {
                "proba",
                "prob",
                "probs",
                "probas",
                "probability",
                "score",
                "scores",
                "logit",
                "logits",
                "confidence",
            }
            & set(words(node.id))
        )
    return False
