"""Fits and applications: estimators learning from rows and being applied to rows.

A ``fit``-like call makes a :class:`FitEvent` labelled onto its estimator and its output; a
fitted preprocessor whose statistics reach a split it was fitted before (or that is applied
to one side of a split whose other side it saw) makes a :class:`Leak`.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from pytest_mlci.analysis import catalog
from pytest_mlci.analysis.splits import (
    Role,
    SplitEvent,
    _mixed,
    _mixed_splits,
    _saw_rows_of,
    merged_by_name,
    roles,
)
from pytest_mlci.analysis.values import (
    Built,
    Scope,
    Source,
    Value,
    _flatten,
    _without_pending,
    made_up,
    union,
)

if TYPE_CHECKING:
    from pytest_mlci.analysis.flow import Flow


class FitEvent:
    """An estimator learned from data. ``kind`` comes from :func:`catalog.estimator_kind`."""

    __slots__ = (
        "cls",
        "columns",
        "data",
        "estimator",
        "in_loop",
        "kind",
        "method",
        "node",
        "pending",
        "seq",
    )

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
        # a statistic combined with rows in an expression that may still be reduced (a metric
        # computed by hand): it becomes a fit once the rows it made are stored
        self.pending = False
        # fitted inside a loop (a fold loop: fitted fold by fold, out of fold)
        self.in_loop = False

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
                    built.members.append(nested.built)
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
        event.in_loop = any(frame.loop > 0 for frame in self._stack)  # here or in a caller
        # targets that are random numbers: an API demo, with nothing to learn or reproduce
        demo = made_up(target)
        if kind in ("model", "search"):  # a scaler fitted on random numbers changes no model
            self._consume(union([*args, *kwargs.values()]), "demo" if demo else "fit")
        built = estimator.built
        if built is not None:
            built.fitted = True
            built.fits.append(event)
            if built.fit_order is None:
                built.fit_order = self._order
        if demo:
            pass  # a demo's training is not worth a seed finding
        elif _is_keras(estimator):
            self.trains.setdefault("tensorflow", []).append((node, self._order))
        elif (estimator.instance_of or "").startswith(("lightning.", "pytorch_lightning.")):
            self.trains.setdefault("torch", []).append((node, self._order))
        if kind == "search":
            split = SplitEvent(node, "cv", event.name, data.labels | target.labels)
            split.estimator = estimator
            self._split_created(split)
        self._early_stopping(node, kwargs, estimator)
        if method == "partial_fit":
            estimator.labels = estimator.labels | {event}
        else:  # fitting again replaces what was learned before (a pipeline refits its steps)
            estimator.labels = frozenset(
                label for label in estimator.labels if not isinstance(label, FitEvent)
            ) | {event}
        if method == "fit" and (_is_keras(estimator) or "validation_data" in kwargs):
            # Keras returns the History: its curves are computed on what was watched, so
            # `np.argmax(history.history["val_accuracy"])` chooses on that data
            watched = [kwargs[k] for k in ("validation_data", "x", "y") if k in kwargs]
            return Value(union(watched) | {event})
        if method == "fit" or method == "partial_fit":
            return estimator
        if method == "fit_resample":
            parts = tuple(
                Value(a.labels | {event}, flags=a.flags & {"pandas"}) for a in (data, target)
            )
            return Value(union(parts), items=parts)
        return Value(data.labels | {event}, flags=data.flags & {"pandas"})

    def _applied(self, node: ast.Call, estimator: Value, data: frozenset) -> None:
        """A fitted estimator applied to the test side of a split whose test rows it saw.

        A preprocessor fitted before the split (or on train and test concatenated) leaks
        its statistics into the test features (a :class:`Leak`); a model fitted on all rows
        and then scored on the test side has seen the answers (``model_leaks``).
        """
        for fit in estimator.labels:
            if not isinstance(fit, FitEvent) or fit.kind == "group":
                continue
            for role in roles(data):
                split = role.split
                if split is None:
                    if role.role == "test" and merged_by_name(fit.data) and not _mixed(data):
                        # fitted on a train and a test file stacked, applied to the test file
                        self.named_leaks.append(Leak(fit, None, node))  # type: ignore[arg-type]
                    continue
                if role.role != "test" and fit.kind == "model":
                    continue
                sides = {r.role for r in roles(fit.data) if r.split is split}
                if len(sides) == 1 or not _saw_rows_of(fit, split):
                    continue  # fitted on one side of this split, or on other rows
                if fit.kind in ("preprocessor", "target") and not sides:
                    self.leaks.append(Leak(fit, split, node))  # fitted before the split
                elif "test" in sides or not sides:
                    # fitted after the split on rows that include its test side (train and
                    # test concatenated), or a model fitted on all rows before it
                    self.model_leaks.append(Leak(fit, split, node))

    def _extend_split(self, split: SplitEvent, labels: frozenset) -> None:
        """Fold indices select rows of ``labels``: the split divides those rows too, so a
        preprocessor fitted on all of them before the folds leaks into each one."""
        new = labels - split.inputs
        if not new:
            return
        split.inputs = split.inputs | new
        self._consume(new, "split")
        for label in new:
            if (
                isinstance(label, FitEvent)
                and label.kind in ("preprocessor", "target", "group")
                and _saw_rows_of(label, split)
            ):
                self.leaks.append(Leak(label, split, split.node))

    def _split_created(self, split: SplitEvent, demo: bool = False) -> None:
        self._split_order[split] = len(self.splits)
        self.splits.append(split)
        self._consume(split.inputs, "demo" if demo else "split")
        for label in split.inputs:
            if (
                isinstance(label, FitEvent)
                and label.kind in ("preprocessor", "target", "group")
                and _saw_rows_of(label, split)
            ):
                earlier = [s for s in _mixed_splits(label.data) if s is not None]
                if split.kind == "holdout" and earlier:
                    # fitted on the train and test sides of an earlier split glued together,
                    # then cut apart again: fitted on that split's test rows
                    self.model_leaks.append(Leak(label, earlier[0], label.node))
                else:
                    self.leaks.append(Leak(label, split, split.node))

    # ---------------------------------------------------------------- statistics by hand

    def _statistic(self, data: Value, axis: Value | None) -> Value | None:
        """``df.mean()`` / ``np.percentile(x, 99)``: a statistic over the rows of ``data``.

        None when ``data`` is not rows, or the statistic is per row (``axis=1``) or per window
        or group (``rolling(7).mean()``; group statistics are tracked as target encodings).
        """
        if (
            not data.is_data
            or not data.labels
            or data.flags & {"window", "groupby", "grouped", "metric"}
        ):
            return None  # per-group statistics are target/group encodings, tracked apart
        if axis is not None and axis.const in (1, -1, "columns"):
            return None
        return Value(_without_pending(data.labels), flags={"statistic"})

    def _combine(self, node: ast.AST, result: Value, parts: list[Value]) -> None:
        """Give ``result`` (computed from ``parts``) what mixing statistics and rows makes it:
        a statistic when every data part is one, rows carrying a pending fit when statistics
        are written into rows (``x - x.mean()``, ``x.fillna(x.median())``)."""
        data = [p for p in parts if p.is_data and p.labels]
        stats = [p for p in data if "statistic" in p.flags]
        if not stats:
            return
        if len(stats) == len(data):
            result.flags = result.flags | {"statistic"}
            return
        event = self._statistic_written(node, stats)
        # the rows written into stay those rows: a statistic of another table (or of the
        # training side) does not make them that table's rows; the fit remembers its origin
        rows_written = union(p for p in data if "statistic" not in p.flags)
        others = frozenset(label for label in result.labels if not isinstance(label, Source | Role))
        result.labels = rows_written | others | {event}
        # `X_train = (X_train - X.mean()) / X.std()`: statistics of all rows written into one
        # side of a split made from them
        rows = union(p for p in data if "statistic" not in p.flags)
        for role in roles(rows):
            split = role.split
            if (
                split is not None
                and not any(r.split is split for r in roles(event.data))
                and _saw_rows_of(event, split)
                and not any(leak.fit is event and leak.split is split for leak in self.leaks)
            ):
                self.leaks.append(Leak(event, split, node))

    def _statistic_written(self, node: ast.AST, stats: list[Value]) -> FitEvent:
        """The fit a hand-written transformation makes: statistics of some rows written into
        rows (one per place in the code, so a loop over columns reports once)."""
        event = self._written_statistics.get(id(node))
        if event is None:
            self._seq += 1
            event = FitEvent(
                node,
                "preprocessor",
                "hand-written statistics",
                "statistic",
                _without_pending(union(stats)),
                seq=self._seq,
            )
            event.pending = True
            event.in_loop = any(frame.loop > 0 for frame in self._stack)
            self._written_statistics[id(node)] = event
        return event

    def _register_written(self, value: Value) -> None:
        """Rows carrying pending statistic fits are stored: the fits are real now."""
        for label in value.labels:
            if isinstance(label, FitEvent) and label.pending:
                label.pending = False
                self.fits.append(label)

    def _function_statistic(
        self,
        node: ast.Call,
        qualname: str,
        args: list[Value],
        kwargs: dict[str, Value],
        everything: frozenset,
    ) -> Value | None:
        """What a module-level function learns from rows: ``np.mean(X, axis=0)`` (a
        statistic), ``preprocessing.scale(X)`` (a fit and a transform), ``pd.qcut(x, 4)``
        (bins cut from the data). None for any other function."""
        if qualname in catalog.STATISTIC_FUNCTIONS and args:
            axis = kwargs.get("axis", kwargs.get("dim"))
            if axis is None and len(args) > 1 and not qualname.endswith(("percentile", "quantile")):
                axis = args[1]
            return self._statistic(args[0], axis)
        if qualname in catalog.FITTING_FUNCTIONS or (
            qualname == "sklearn.preprocessing.normalize"
            and "axis" in kwargs
            and kwargs["axis"].const == 0
        ):
            return self._fitted_function(node, qualname, args, kwargs)
        if qualname in ("pandas.qcut", "pandas.cut") and args:
            bins = kwargs.get("bins", kwargs.get("q", args[1] if len(args) > 1 else None))
            if qualname == "pandas.qcut" or (bins is not None and isinstance(bins.const, int)):
                # bin edges cut from the data's own range or quantiles
                edges = Value(_without_pending(args[0].labels), flags={"statistic"})
                result = Value(everything, flags={"pandas"})
                self._combine(node, result, [args[0], edges])
                return result
        return None

    def _method_statistic(
        self,
        node: ast.Call,
        receiver: Value,
        method: str,
        args: list[Value],
        kwargs: dict[str, Value],
        result: Value,
    ) -> None:
        """What a method call on rows does with statistics, recorded on ``result``: a window
        (``rolling(7)``: later statistics are per window), a reduction (drops pending fits),
        a write (``fillna(df.mean())``, in place too) or a function run over the data
        (``df.apply(lambda c: (c - c.mean()) / c.std())``)."""
        if method in catalog.WINDOW_METHODS:
            result.flags = result.flags | {"window"}
        elif method in catalog.REDUCTIONS:
            result.labels = _without_pending(result.labels)  # ((y - y.mean()) ** 2).sum()
        if method in catalog.WRITE_METHODS and "statistic" not in receiver.flags:
            parts = [receiver, *args, *kwargs.values()]
            if method in ("fillna", "replace", "where", "mask", "combine_first"):
                # a per-group statistic filling gaps is an imputation fitted on all rows (as a
                # new feature it is a group aggregate, left to the group/target rules)
                parts = [_as_statistic(p) if "group_statistic" in p.flags else p for p in parts]
            self._combine(node, result, parts)
            event = next((e for e in result.labels if isinstance(e, FitEvent) and e.pending), None)
            inplace = kwargs.get("inplace")
            if event is not None and inplace is not None and inplace.const is True:
                self._write_in_place(receiver, event)
        if method in catalog.APPLYING_METHODS or method == "assign":
            column = receiver.copy(receiver.labels)
            column.flags = receiver.flags - {"groupby", "grouped", "window"}
            for function in [*args, *kwargs.values()]:
                if function.func is not None:
                    returned = self._call_local(function, [column], {})
                    result.labels = result.labels | returned.labels

    def _fitted_function(
        self, node: ast.Call, qualname: str, args: list[Value], kwargs: dict[str, Value]
    ) -> Value:
        """``preprocessing.scale(X)``: a scaler fitted and applied in one call."""
        data = args[0] if args else kwargs.get("X", Value())
        self._seq += 1
        event = FitEvent(
            node, "preprocessor", qualname, "fit_transform", data.labels, seq=self._seq
        )
        self.fits.append(event)
        return Value(data.labels | {event}, flags=data.flags & {"pandas"})

    def _write_in_place(
        self, receiver: Value, event: FitEvent | None, labels: frozenset = frozenset()
    ) -> None:
        """``df["a"].fillna(df["a"].mean(), inplace=True)`` / ``X.loc[:, cols] = ...``: the
        frame the written part belongs to now carries what was written."""
        added = labels | ({event} if event is not None else frozenset())
        target: Value | None = receiver
        depth = 0
        while target is not None and depth < 8:
            target.labels = target.labels | added
            target, depth = target.receiver, depth + 1
        self._register_written(receiver)


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


def models_fed(flow: Flow, leak: Leak) -> list[str]:
    """The classes of the models that learn from what ``leak`` leaked into: the estimator a
    cross-validation or search evaluates, models fitted on the folds, or (for a train/test
    split) models fitted on rows carrying the leaked fit. Empty when none is seen."""
    split = leak.split
    names: list[str] = []
    if split.kind == "cv" and split.estimator is not None:
        names += _model_classes(split.estimator)
    for fit in flow.fits:
        if fit.kind not in ("model", "search") or fit is leak.fit:
            continue
        if split.kind == "cv":
            fed = any(isinstance(label, Role) and label.split is split for label in fit.data)
        else:
            fed = leak.fit in fit.data
        if fed:
            names += _model_classes(fit.estimator) if fit.estimator else [fit.cls or ""]
    return names


def _model_classes(value: Value) -> list[str]:
    """The model classes inside an estimator: itself, or the models among its steps and base
    estimators (a search over a pipeline over a forest is a forest)."""
    built = value.built
    if built is None:
        return [value.instance_of or ""]
    found: list[str] = []
    pending = [built]
    seen = 0
    while pending and seen < 32:
        current, seen = pending.pop(), seen + 1
        kind = catalog.estimator_kind(current.cls)
        if current.members and kind in ("search", "pipeline", "model", None):
            models = [m for m in current.members if catalog.estimator_kind(m.cls) != "preprocessor"]
            if models:
                pending.extend(models)
                continue
        if kind != "preprocessor":
            found.append(current.cls)
    return found


def trees_only(flow: Flow, leak: Leak) -> bool:
    """A monotone scaler (StandardScaler, MinMaxScaler ...) leaking only into tree models:
    trees split on the order of values within a feature, which such a scaler keeps, so the
    leak cannot change what they learn (worth a look, not a biased score)."""
    if leak.fit.name not in catalog.MONOTONE_SCALERS:
        return False
    names = models_fed(flow, leak)
    return bool(names) and all(catalog.tree_model(name) for name in names)


def encodes_the_target(flow: Flow, fit: FitEvent) -> bool:
    """Statistics written by hand that are a per-group statistic of the label
    (``df.groupby(c)["price"].transform("mean")``): a target encoding, MLC005's finding."""
    targets = flow.target_columns
    return fit.method == "statistic" and any(
        isinstance(label, FitEvent) and label.kind == "group" and set(label.columns) & targets
        for label in fit.data
    )


def _as_statistic(value: Value) -> Value:
    """A per-group statistic read as a statistic (for an imputation with it)."""
    statistic = value.copy()
    statistic.flags = value.flags | {"statistic"}
    return statistic
