"""Fits and applications: estimators learning from rows and being applied to rows.

A ``fit``-like call makes a :class:`FitEvent` labelled onto its estimator and its output; a
fitted preprocessor whose statistics reach a split it was fitted before (or that is applied
to one side of a split whose other side it saw) makes a :class:`Leak`.
"""

from __future__ import annotations

import ast

from pytest_mlci.analysis.splits import SplitEvent, _saw_rows_of, roles
from pytest_mlci.analysis.values import Built, Draw, Scope, Source, Value, _flatten, union


class FitEvent:
    """An estimator learned from data. ``kind`` comes from :func:`catalog.estimator_kind`."""

    __slots__ = ("cls", "columns", "data", "estimator", "kind", "method", "node", "seq")

    def __init__(
        self,
        node: ast.AST,
        kind: str,
        cls: str | None,
        method: str,
        data: frozenset,
        columns: tuple[str, ...] = (),
        estimator: Value | None = None,
        seq: int = 0,
    ) -> None:
        self.node = node
        self.kind = kind
        self.cls = cls
        self.method = method
        self.data = data
        self.columns = columns
        self.estimator = estimator
        self.seq = seq

    @property
    def sources(self) -> frozenset:
        return frozenset(label for label in self.data if isinstance(label, Source))

    @property
    def name(self) -> str:
        return (self.cls or "estimator").rsplit(".", 1)[-1]

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"FitEvent({self.name}.{self.method}, line {getattr(self.node, 'lineno', '?')})"


class Leak:
    """A fitted preprocessor whose statistics reach a split it was fitted before."""

    __slots__ = ("fit", "node", "split")

    def __init__(self, fit: FitEvent, split: SplitEvent, node: ast.AST) -> None:
        self.fit = fit
        self.split = split
        self.node = node


class FitTracking:
    """The :class:`~pytest_mlci.analysis.flow.Flow` methods about estimators and their fits."""

    def _note_target(self, node: ast.expr, scope: Scope) -> None:
        """Remember column names used as the label: ``y = df["churn"]`` / ``df.pop("churn")``."""
        column: object = None
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant | ast.Name):
            column = self._eval(node.slice, scope).const
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            column = node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "pop"
            and node.args
            and isinstance(node.args[0], ast.Constant | ast.Name)
        ):
            column = self._eval(node.args[0], scope).const
        if isinstance(column, str):
            self.target_columns.add(column)

    def _group_statistic(
        self, group: Value, columns: tuple[str, ...], result: Value, node: ast.AST
    ) -> None:
        """``df.groupby(c)[target]``: a per-group statistic of a column, maybe a target encoding."""
        event = FitEvent(node, "group", None, "groupby", group.labels, columns)
        self.fits.append(event)
        result.labels = result.labels | {event}

    def _construct(
        self,
        node: ast.Call,
        qualname: str,
        kind: str,
        args: list[Value],
        kwargs: dict[str, Value],
        everything: frozenset,
    ) -> Value:
        instance = Value(everything)
        instance.instance_of = qualname
        instance.keywords = frozenset(kwargs) | (
            {"**"} if any(k.arg is None for k in node.keywords) else frozenset()
        )
        built = Built(node, qualname, instance.keywords)
        instance.built = built
        self.built[id(node)] = built
        for value in [*args, *kwargs.values()]:
            for nested in _flatten(value):
                if nested.built is not None and nested.built is not built:
                    nested.built.owner = built  # a pipeline step, an ensemble member
        if kind == "pipeline":
            steps = list(args)
            if qualname.endswith(".Pipeline"):
                steps_value = args[0] if args else kwargs.get("steps")
                steps = (
                    [s.items[1] for s in (steps_value.items or ()) if s.items and len(s.items) > 1]
                    if steps_value
                    else []
                )
            kinds = {s.kind for s in steps}
            if "target" in kinds:
                kind = "target"
            elif kinds and kinds <= {"preprocessor", "composite"}:
                kind = "preprocessor"
            else:
                kind = "model"
        elif kind == "composite":
            nested = [i for v in [*args, *kwargs.values()] for i in _flatten(v)]
            kind = "target" if any(v.kind == "target" for v in nested) else "preprocessor"
        instance.kind = kind
        return instance

    def _fit(
        self,
        node: ast.Call,
        estimator: Value,
        method: str,
        args: list[Value],
        kwargs: dict[str, Value],
    ) -> Value:
        data = args[0] if args else kwargs.get("X", kwargs.get("x", Value()))
        target = args[1] if len(args) > 1 else kwargs.get("y", Value())
        kind = estimator.kind or "model"
        self._seq += 1
        event = FitEvent(
            node,
            kind,
            estimator.instance_of,
            method,
            data.labels,
            estimator=estimator,
            seq=self._seq,
        )
        self.fits.append(event)
        if kind in ("model", "search"):  # a scaler fitted on random numbers changes no model
            self._consume(union([*args, *kwargs.values()]))
        built = estimator.built
        if built is not None:
            built.fitted = True
            built.fits.append(event)
            if built.fit_order is None:
                built.fit_order = self._order
        if _is_keras(estimator):
            self.trains.setdefault("tensorflow", []).append((node, self._order))
        elif (estimator.instance_of or "").startswith(("lightning.", "pytorch_lightning.")):
            self.trains.setdefault("torch", []).append((node, self._order))
        if kind == "search":
            self._split_created(SplitEvent(node, "cv", event.name, data.labels | target.labels))
        self._early_stopping(node, kwargs, estimator)
        if method == "partial_fit":
            estimator.labels = estimator.labels | {event}
        else:  # fitting again replaces what was learned before (a pipeline refits its steps)
            estimator.labels = frozenset(
                label for label in estimator.labels if not isinstance(label, FitEvent)
            ) | {event}
        if method == "fit" or method == "partial_fit":
            return estimator
        if method == "fit_resample":
            parts = tuple(
                Value(a.labels | {event}, flags=a.flags & {"pandas"}) for a in (data, target)
            )
            return Value(union(parts), items=parts)
        return Value(data.labels | {event}, flags=data.flags & {"pandas"})

    def _applied(self, node: ast.Call, estimator: Value, data: frozenset) -> None:
        """A fitted preprocessor applied to one side of a split whose other side it has seen."""
        for fit in estimator.labels:
            if not isinstance(fit, FitEvent) or fit.kind not in ("preprocessor", "target"):
                continue
            for role in roles(data):
                split = role.split
                if split is None or any(r.split is split for r in roles(fit.data)):
                    continue
                if _saw_rows_of(fit, split):
                    self.leaks.append(Leak(fit, split, node))

    def _consume(self, labels: frozenset) -> None:
        """Random draws among ``labels`` reached a fit, a split or an evaluation."""
        for label in labels:
            if isinstance(label, Draw):
                self.random_consumed.add(label)

    def _split_created(self, split: SplitEvent) -> None:
        self._split_order[split] = len(self.splits)
        self.splits.append(split)
        self._consume(split.inputs)
        for label in split.inputs:
            if (
                isinstance(label, FitEvent)
                and label.kind in ("preprocessor", "target", "group")
                and _saw_rows_of(label, split)
            ):
                self.leaks.append(Leak(label, split, split.node))


def _is_keras(estimator: Value) -> bool:
    """A Keras model: built from ``keras.*`` or a local subclass of a Keras class."""
    if (estimator.instance_of or "").startswith("keras."):
        return True
    cls = estimator.local_class
    if cls is None:
        return False
    for base in cls.bases:
        text = ast.unparse(base)
        if "keras" in text or text in ("Model", "Sequential"):
            return True
    return False
