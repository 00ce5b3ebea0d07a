"""Values, labels and scopes: what the flow interpreter knows about one runtime value.

A :class:`Value` carries a set of *labels* (where its rows came from, which side of a split it
holds, which fitted estimators touched it, which random draws reached it) plus whatever the
interpreter learned about it (a module or class it names, a tuple's items, a local function).
Labels union through every expression and call the interpreter does not model, which is
what makes the analysis "may flow".
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_mlci.analysis.splits import SplitEvent

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def words(name: str) -> list[str]:
    """Split an identifier into lower-case words: ``X_trainScaled`` -> ``[x, train, scaled]``."""
    return [w.lower() for w in _WORDS.findall(name)]


# --------------------------------------------------------------------------- labels & events


class Source:
    """Where rows come from: a file read, an unknown name, a function parameter."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Source({self.name})"


class Draw:
    """Rows or numbers drawn from a random state: the label that lets rules ask whether the
    randomness reached a split, a fit or an evaluation, or was only printed or plotted."""

    __slots__ = ("library", "node", "values")

    def __init__(self, node: ast.AST, library: str, values: bool = True) -> None:
        self.node = node
        self.library = library
        # True when the numbers themselves are random (rand, normal, randint); False when
        # only the order or the choice of existing rows is (shuffle, permutation, sample)
        self.values = values

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Draw({self.library}, line {getattr(self.node, 'lineno', '?')})"


class Built:
    """What happened to one estimator object after its constructor call.

    ``owner`` is the estimator it was handed to (a pipeline, an ensemble, a search);
    ``fitted`` / ``used`` say whether it (or its owner) was fitted, or escaped to code the
    interpreter does not follow (any attribute, a container, an unknown call), which must
    be assumed to use it; ``reseeded`` that ``set_params(random_state=...)`` was called.
    """

    __slots__ = (
        "cls",
        "fit_order",
        "fits",
        "fitted",
        "keywords",
        "members",
        "node",
        "owner",
        "reseeded",
        "splits",
        "used",
    )

    def __init__(self, node: ast.Call, cls: str, keywords: frozenset[str]) -> None:
        self.node = node
        self.cls = cls
        self.keywords = keywords
        self.owner: Built | None = None
        self.members: list[Built] = []  # the steps / base estimators it was built from
        self.fitted = False
        self.used = False
        self.reseeded = False
        self.fit_order: int | None = None
        self.fits: list = []
        self.splits: list = []  # a splitter's SplitEvents

    def chain(self) -> Iterator[Built]:
        """This estimator and every estimator that owns it, innermost first."""
        built: Built | None = self
        seen = 0
        while built is not None and seen < 16:
            yield built
            built, seen = built.owner, seen + 1


class Value:
    """What the interpreter knows about one runtime value."""

    __slots__ = (
        "attr",
        "attrs",
        "built",
        "const",
        "flags",
        "func",
        "instance_of",
        "items",
        "keywords",
        "kind",
        "labels",
        "local_class",
        "order_origin",
        "qualname",
        "receiver",
        "split",
    )

    def __init__(
        self,
        labels: Iterable = (),
        *,
        qualname: str | None = None,
        items: tuple[Value, ...] | None = None,
        flags: Iterable[str] = (),
        const: object = None,
    ) -> None:
        self.labels = frozenset(labels)
        self.qualname = qualname
        self.items = items
        self.flags = frozenset(flags)
        self.const = const
        self.attr: str | None = None
        self.attrs: dict[str, Value] = {}
        self.func: tuple[ast.AST, Scope] | None = None
        self.instance_of: str | None = None
        self.keywords: frozenset[str] = frozenset()
        self.kind: str | None = None
        self.local_class: ast.ClassDef | None = None
        self.order_origin: ast.AST | None = None
        self.receiver: Value | None = None
        self.split: SplitEvent | None = None
        self.built: Built | None = None

    @property
    def is_data(self) -> bool:
        """Rows, or numbers derived from rows; not modules, functions, models or constants."""
        return (
            self.qualname is None
            and self.func is None
            and self.instance_of is None
            and self.local_class is None
            and self.const is None
            and "scalar" not in self.flags
        )

    def copy(self, labels: Iterable | None = None) -> Value:
        clone = Value(self.labels if labels is None else labels, flags=self.flags)
        clone.items = self.items
        clone.order_origin = self.order_origin
        clone.split = self.split
        return clone

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Value(q={self.qualname}, inst={self.instance_of}, labels={set(self.labels)})"


def union(values: Iterable[Value]) -> frozenset:
    labels: frozenset = frozenset()
    for value in values:
        if value.labels:
            labels = labels | value.labels
    return labels


class Scope:
    """Names bound in one function (or the module), falling back to the enclosing scope."""

    __slots__ = ("names", "parent")

    def __init__(self, parent: Scope | None = None) -> None:
        self.names: dict[str, Value] = {}
        self.parent = parent

    def lookup(self, name: str) -> Value | None:
        scope: Scope | None = self
        while scope is not None:
            value = scope.names.get(name)
            if value is not None:
                return value
            scope = scope.parent
        return None


def _flatten(value: Value) -> Iterator[Value]:
    yield value
    for item in value.items or ():
        yield from _flatten(item)


def _constants(value: Value) -> tuple[str, ...]:
    if isinstance(value.const, str):
        return (value.const,)
    return tuple(i.const for i in value.items or () if isinstance(i.const, str))


def _dict_keys(value: Value) -> tuple[str, ...]:
    return _constants(value)


def _stringy(elements: list[ast.expr]) -> bool:
    """A set literal of ints iterates in a fixed order; strings and unknowns are hash-seeded."""
    if not elements:
        return True
    return not all(isinstance(e, ast.Constant) and isinstance(e.value, int) for e in elements)


def made_up(target: Value) -> bool:
    """Whether ``target`` holds numbers drawn at random (not rows picked at random): a model
    fitted to random targets is an API demo, with nothing to learn or to reproduce."""
    if not target.labels:
        return False
    labels = [*target.labels, *(label for item in target.items or () for label in item.labels)]
    return any(isinstance(label, Draw) and label.values for label in labels)


def _without_pending(labels: frozenset) -> frozenset:
    """``labels`` without statistic fits not yet stored (a reduction drops them: the sum of
    squares of ``y - y.mean()`` is a number, not centred rows). Only a statistic FitEvent
    has ``pending`` set."""
    if not any(getattr(label, "pending", False) for label in labels):
        return labels
    return frozenset(x for x in labels if not getattr(x, "pending", False))
