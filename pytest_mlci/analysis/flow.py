"""A small def-use / taint interpreter over one module, built on the standard ``ast`` only.

Why an interpreter rather than pattern matching: leakage is a property of where data goes,
not of how a line looks. ``X = scaler.fit_transform(X)`` is harmless before a plot and a
leak before ``train_test_split``; the difference is the path the value takes afterwards,
through renames, tuple unpacking, ``pd.concat``, helper functions and notebook cells.

The model is deliberately simple and fast:

* Statements run once, in order (both branches of an ``if``, loop bodies once). There is no
  fixpoint; the rules only need "may flow", and a single pass over 150 lines costs well under
  a millisecond.
* Every value carries a set of *labels*: where its rows came from (:class:`Source`), which
  side of a split it is (:class:`Role`) and which fitted estimators touched it
  (:class:`FitEvent`). Labels union through every expression and call we do not model.
* ML semantics live in a few places: ``fit``-like methods create a :class:`FitEvent`,
  ``train_test_split`` / manual train/test slices / cross-validation create a
  :class:`SplitEvent`, and a fitted preprocessor that reaches a split (or is applied to one
  side of a split it did not see) records a :class:`Leak`.
* Helper functions defined in the file are interpreted at their call sites with the real
  argument values (depth-limited); functions never called are analysed once on their own
  with parameters as fresh data sources.

Rules read the event lists afterwards; nothing here knows about rule codes.

This module is the interpreter itself (statements, expressions, calls). What it tracks lives
by concern, as mixins of :class:`Flow`: ``values`` (values, labels, what became of each
estimator, scopes), ``splits`` (splits and partition roles: train_test_split, slices, folds,
old-API splitters, sample-and-drop), ``fits`` (fits, applications, leaks, statistics written
by hand), ``selection`` (choices on test data, early stopping), ``seeds`` (random draws, where
they end up, and the seeds that cover them), ``catalog`` (what the libraries are).
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable

from pytest_mlci.analysis import catalog
from pytest_mlci.analysis.fits import FitEvent, FitTracking, Leak
from pytest_mlci.analysis.seeds import RandomnessTracking, small_dataset
from pytest_mlci.analysis.selection import Choice, SelectionTracking, has_test
from pytest_mlci.analysis.splits import (
    _TARGET_WORDS,
    Role,
    SplitEvent,
    SplitTracking,
    _mixed,
    _mixed_splits,
    roles,
)
from pytest_mlci.analysis.values import (
    Built,
    Draw,
    Scope,
    Source,
    Value,
    _constants,
    _dict_keys,
    _flatten,
    _stringy,
    _without_pending,
    union,
    words,
)

__all__ = ["CallSite", "Choice", "FitEvent", "Flow", "Leak", "Role", "SplitEvent", "Value"]

_DEFINITIONS = frozenset({ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef})
_MAX_DEPTH = 4
_MAX_INLINE = 16  # interpretations of one function at its call sites before summarising it
_BUILTINS = frozenset(dir(builtins))


class CallSite:
    """One call, resolved as far as possible.

    ``qualname`` is set for calls of imported names; ``method`` and ``receiver`` for method
    calls on values. ``order`` is the line of the top-level statement being executed (None
    while analysing a function on its own), which lets rules ask "was this seeded before?".
    """

    __slots__ = ("method", "node", "order", "qualname", "receiver")

    def __init__(
        self,
        node: ast.Call,
        qualname: str | None,
        method: str | None,
        receiver: Value | None,
        order: int | None,
    ) -> None:
        self.node = node
        self.qualname = qualname
        self.method = method
        self.receiver = receiver
        self.order = order


# --------------------------------------------------------------------------- interpreter


class _Frame:
    __slots__ = ("function", "loop", "returns")

    def __init__(self, function: ast.AST | None) -> None:
        self.function = function
        self.returns: list[Value] = []
        self.loop = 0


class Flow(SplitTracking, FitTracking, SelectionTracking, RandomnessTracking):
    """Runs a module once and keeps the events rules ask about."""

    def __init__(
        self, tree: ast.Module, *, name_roles: bool = True, nodes: list[ast.AST] | None = None
    ) -> None:
        self.tree = tree
        self._nodes = nodes if nodes is not None else list(ast.walk(tree))
        # In pytest modules `test_data` is a unit test's input, not a held-out set.
        self.name_roles = name_roles
        self.fits: list[FitEvent] = []
        self.splits: list[SplitEvent] = []
        self.leaks: list[Leak] = []
        # models fitted on rows that include a test set they are then scored on
        self.model_leaks: list[Leak] = []
        # the same, for a train and a test set known only by their names (separate files)
        self.named_leaks: list[Leak] = []
        # labels of the rows a score was computed on (metrics, .score, .evaluate)
        self.scored: list[frozenset] = []
        self.calls: list[CallSite] = []
        self.choices: list[Choice] = []
        self.early_stops: list[tuple[ast.Call, str]] = []  # (call, confidence)
        self.set_order_uses: list[tuple[ast.AST, ast.AST]] = []
        self.thresholds: list[ast.Constant] = []
        self.attribute_writes: list[tuple[str, ast.AST, Value]] = []
        self.target_columns: set[str] = set()
        # (estimator, labels of the data, sequence number) for transform/predict/score calls
        self.applications: list[tuple[Value, frozenset, int]] = []
        # id(constructor call) -> what became of the estimator it built
        self.built: dict[int, Built] = {}
        # random draws that reached a split, a fit or an evaluation
        self.random_consumed: dict[Draw, set[str]] = {}  # draw -> {"split", "fit", "score"}
        # libraries whose models this module trains (their training draws from the global
        # random state: weight initialisation, dropout, shuffling)
        self.trains: dict[str, list[tuple[ast.AST, int | None]]] = {}
        # row sources known to be small (toy datasets, make_* with a literal n_samples)
        self.small_sources: set[Source] = set()
        self._seq = 0
        self.globals = Scope()
        self._stack: list[_Frame] = [_Frame(None)]
        self._order: int | None = None
        self._star_modules: list[str] = []
        self._interpreted: set[ast.AST] = set()
        self._invocations: dict[ast.AST, int] = {}
        self._manual_splits: dict[int, SplitEvent] = {}
        self._written_statistics: dict[int, FitEvent] = {}
        self._split_order: dict[SplitEvent, int] = {}
        self._in_condition = False
        self._run()

    # ---------------------------------------------------------------- driver

    def _run(self) -> None:
        for statement in self.tree.body:
            self._order = getattr(statement, "lineno", None)
            self._statement(statement, self.globals)
        self._order = None
        self._run_uncalled()

    def _run_uncalled(self) -> None:
        """Analyse functions and methods nobody called, with parameters as fresh data."""
        definitions = [n for n in self._nodes if type(n) in _DEFINITIONS]
        for node in definitions:
            if type(node) is ast.ClassDef:
                instance = Value()
                instance.instance_of = f"<local>.{node.name}"
                instance.local_class = node
                methods = [
                    n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                ]
                methods.sort(key=lambda n: n.name != "__init__")
                for method in methods:
                    if method not in self._interpreted:
                        self._invoke(method, self.globals, [instance], {}, self_value=instance)
        for node in definitions:
            if type(node) is not ast.ClassDef and node not in self._interpreted:
                self._invoke(node, self.globals, [], {})

    @property
    def _frame(self) -> _Frame:
        return self._stack[-1]

    def in_function(self) -> bool:
        return len(self._stack) > 1

    # ---------------------------------------------------------------- statements

    def _block(self, body: Iterable[ast.stmt], scope: Scope) -> None:
        for statement in body:
            self._statement(statement, scope)

    def _statement(self, node: ast.stmt, scope: Scope) -> None:
        if isinstance(node, ast.Expr):
            self._eval(node.value, scope)
        elif isinstance(node, ast.Assign):
            self._assign(node.targets, node.value, scope)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self._assign([node.target], node.value, scope)
        elif isinstance(node, ast.AugAssign):
            old = self._eval(node.target, scope)
            new = self._eval(node.value, scope)
            combined = old.copy(old.labels | new.labels)
            if old.order_origin is None:
                combined.order_origin = new.order_origin
            self._bind(node.target, combined, scope)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            value = Value()
            value.func = (node, scope)
            scope.names[node.name] = value
        elif isinstance(node, ast.ClassDef):
            value = Value(qualname=None)
            value.local_class = node
            scope.names[node.name] = value
            body = Scope(scope)
            for statement in node.body:
                if not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                    self._statement(statement, body)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            self._import(node, scope)
        elif isinstance(node, ast.If):
            if _counts_only(node.body):
                # `if abs(pred - y_test[i]) < tol: hits += 1`: a metric by hand, not a choice
                self._eval(node.test, scope)
            else:
                self._condition(node.test, scope)
            if not self._known_false(node.test, scope):
                self._block(node.body, scope)
            self._block(node.orelse, scope)
        elif isinstance(node, ast.For | ast.AsyncFor):
            iterable = self._eval(node.iter, scope)
            self._bind(node.target, self._element(iterable, node.iter), scope)
            self._frame.loop += 1
            self._block(node.body, scope)
            self._frame.loop -= 1
            self._block(node.orelse, scope)
        elif isinstance(node, ast.While):
            self._frame.loop += 1
            self._condition(node.test, scope)
            self._block(node.body, scope)
            self._frame.loop -= 1
            self._block(node.orelse, scope)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                value = self._eval(item.context_expr, scope)
                if item.optional_vars is not None:
                    self._bind(item.optional_vars, value, scope)
            self._block(node.body, scope)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            self._block(node.body, scope)  # type: ignore[attr-defined]
            for handler in node.handlers:  # type: ignore[attr-defined]
                if handler.name:
                    scope.names[handler.name] = Value(flags={"scalar"})
                self._block(handler.body, scope)
            self._block(node.orelse, scope)  # type: ignore[attr-defined]
            self._block(node.finalbody, scope)  # type: ignore[attr-defined]
        elif isinstance(node, ast.Return):
            if node.value is not None:
                returned = self._eval(node.value, scope)
                _use([returned])
                self._frame.returns.append(returned)
        elif isinstance(node, ast.Match):
            self._eval(node.subject, scope)
            for case in node.cases:
                self._block(case.body, scope)
        elif isinstance(node, ast.Assert):
            self._eval(node.test, scope)
        elif isinstance(node, ast.Raise) and node.exc is not None:
            self._eval(node.exc, scope)

    def _known_false(self, test: ast.expr, scope: Scope) -> bool:
        """``if not scaler:`` / ``if scaler is None:`` when ``scaler`` holds an estimator (the
        caller passed the fitted one): the branch that would fit a new one does not run."""
        name = None
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            name = test.operand
        elif (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Is)
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value is None
        ):
            name = test.left
        if not isinstance(name, ast.Name):
            return False
        value = scope.lookup(name.id)
        return value is not None and value.instance_of is not None

    def _condition(self, test: ast.expr, scope: Scope) -> None:
        """Evaluate an ``if``/``while`` test; inside a loop its comparisons are choices."""
        saved = self._in_condition
        self._in_condition = self._frame.loop > 0
        try:
            self._eval(test, scope)
        finally:
            self._in_condition = saved

    def _import(self, node: ast.Import | ast.ImportFrom, scope: Scope) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    scope.names[alias.asname] = Value(qualname=catalog.canonical(alias.name))
                else:
                    top = alias.name.split(".", 1)[0]
                    scope.names[top] = Value(qualname=top)
            return
        module = node.module or ""
        if node.level:
            module = "<local>" + ("." + module if module else "")
        for alias in node.names:
            if alias.name == "*":
                self._star_modules.append(module)
                continue
            qualname = catalog.canonical(f"{module}.{alias.name}")
            scope.names[alias.asname or alias.name] = Value(qualname=qualname)

    # ---------------------------------------------------------------- assignment

    def _assign(self, targets: list[ast.expr], value_node: ast.expr, scope: Scope) -> None:
        # `a, b = x[:n], x[n:]`: pair targets with values so manual slices keep their names.
        if (
            len(targets) == 1
            and isinstance(targets[0], ast.Tuple | ast.List)
            and isinstance(value_node, ast.Tuple | ast.List)
            and len(targets[0].elts) == len(value_node.elts)
            and not any(isinstance(e, ast.Starred) for e in targets[0].elts)
        ):
            values = [self._eval(v, scope) for v in value_node.elts]
            for target, v_node, value in zip(targets[0].elts, value_node.elts, values, strict=True):
                self._bind(target, self._manual_split(target, v_node, value, scope), scope)
            return
        value = self._eval(value_node, scope)
        for target in targets:
            self._bind(target, self._manual_split(target, value_node, value, scope), scope)
            if isinstance(target, ast.Name) and set(words(target.id)) & _TARGET_WORDS:
                self._note_target(value_node, scope)

    def _bind(self, target: ast.expr, value: Value, scope: Scope) -> None:
        if not isinstance(target, ast.Tuple | ast.List | ast.Starred):
            self._register_written(value)
        if isinstance(target, ast.Name):
            scope.names[target.id] = self._named(target.id, value)
        elif isinstance(target, ast.Tuple | ast.List):
            elements = target.elts
            starred = [i for i, e in enumerate(elements) if isinstance(e, ast.Starred)]
            if value.items is not None and not starred and len(value.items) == len(elements):
                for element, item in zip(elements, value.items, strict=True):
                    self._bind(element, item, scope)
            else:
                # `train, dev, test = load_splits()`: an element is not all three sides at once;
                # drop the mixed roles and let each name say which side it holds.
                element_value = self._element(value, None)
                if _mixed(element_value.labels):
                    mixed = _mixed_splits(element_value.labels)
                    element_value = element_value.copy(
                        frozenset(
                            label
                            for label in element_value.labels
                            if not (isinstance(label, Role) and label.split in mixed)
                        )
                    )
                for element in elements:
                    self._bind(element, element_value, scope)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, value, scope)
        elif isinstance(target, ast.Attribute):
            base = self._eval(target.value, scope)
            if base.qualname:
                self.attribute_writes.append((f"{base.qualname}.{target.attr}", target, value))
            else:
                base.attrs[target.attr] = value
        elif isinstance(target, ast.Subscript):
            base = self._eval(target.value, scope)
            self._eval(target.slice, scope)
            _use([value])  # `models["rf"] = RandomForestClassifier()`
            if (
                "statistic" in value.flags
                and base.is_data
                and not base.flags & {"statistic", "mapping"}  # `scores["auc"] = mean`
            ):
                # `df.loc[df.x == 0, "x"] = df.x.median()`: a statistic written into rows
                self._write_in_place(base, self._statistic_written(target, [value]))
            elif value.labels and base.receiver is not None and base.attr in ("loc", "iloc"):
                self._write_in_place(base, None, value.labels)  # `X.loc[:, cols] = ...`
            if value.labels:
                base.labels = base.labels | value.labels

    def _unknown(self, name: str) -> Value:
        """A parameter or a name bound elsewhere: data from somewhere else.

        Its name may tell its side of a split (``X_test``, ``test_df``), but a bare ``test``
        parameter is as likely a callback or a flag as a data set, so one word is not enough.
        """
        value = Value({Source(name)})
        return self._named(name, value) if len(words(name)) > 1 else value

    def _element(self, iterable: Value, node: ast.expr | None) -> Value:
        """One element of an iterable: a fold pair, an enumerate pair, a zip tuple, or 'a row'."""
        if iterable.kind == "splitter" and iterable.built is not None and node is not None:
            iterable = self._old_folds(iterable, node)
        if "folds" in iterable.flags and iterable.split is not None:
            split = iterable.split
            return Value(
                items=(Value({Role(split, "train")}), Value({Role(split, "val")})),
            )
        if iterable.items is not None and "enumerate" in iterable.flags:
            inner = self._element(iterable.items[0], node)
            return Value(iterable.labels, items=(Value(flags={"scalar"}), inner))
        if iterable.items is not None and "zip" in iterable.flags:
            return Value(iterable.labels, items=iterable.items)
        shapes = {len(i.items) if i.items is not None else -1 for i in iterable.items or ()}
        if len(shapes) == 1 and min(shapes) > 0:
            # `for X_part, y_part in [(X_a, y_a), (X_b, y_b)]`: position by position
            size = shapes.pop()
            return Value(
                iterable.labels,
                items=tuple(
                    Value(union(i.items[k] for i in iterable.items))  # type: ignore[index, union-attr]
                    for k in range(size)
                ),
            )
        element = Value(iterable.labels, flags=iterable.flags & {"pandas", "proba"})
        if "set" in iterable.flags and node is not None:
            element.order_origin = node
        return element

    # ---------------------------------------------------------------- expressions

    def _eval(self, node: ast.expr, scope: Scope) -> Value:
        if isinstance(node, ast.Name):
            return self._name(node.id, scope)
        if isinstance(node, ast.Constant):
            return Value(const=node.value, flags={"scalar"})
        if isinstance(node, ast.Attribute):
            return self._attribute(self._eval(node.value, scope), node.attr, node)
        if isinstance(node, ast.Call):
            return self._call(node, scope)
        if isinstance(node, ast.Subscript):
            return self._subscript(node, scope)
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left, scope), self._eval(node.right, scope)
            result = Value(
                left.labels | right.labels, flags=(left.flags | right.flags) & {"pandas"}
            )
            self._combine(node, result, [left, right])
            if isinstance(node.op, ast.Sub | ast.BitOr | ast.BitAnd | ast.BitXor) and (
                "set" in left.flags
            ):
                result.flags = result.flags | {"set"}
            if isinstance(node.op, ast.Add):
                result.order_origin = left.order_origin or right.order_origin
            return result
        if isinstance(node, ast.Compare):
            return self._compare(node, scope)
        if isinstance(node, ast.BoolOp):
            return Value(union(self._eval(v, scope) for v in node.values))
        if isinstance(node, ast.UnaryOp):
            return self._eval(node.operand, scope).copy()
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = tuple(self._eval(e, scope) for e in node.elts)
            _use(items)
            if not items:
                return Value(items=(), flags={"empty"})
            if not _stringy(node.elts):
                flags = {"ints"}
            else:
                flags = {"set"} if isinstance(node, ast.Set) else ()
            return Value(union(items), items=items, flags=flags)
        if isinstance(node, ast.Dict):
            parts = [self._eval(v, scope) for v in node.values]
            _use(parts)
            parts += [self._eval(k, scope) for k in node.keys if k is not None]
            return Value(union(parts), flags={"mapping"})
        if isinstance(node, ast.ListComp | ast.GeneratorExp | ast.SetComp | ast.DictComp):
            return self._comprehension(node, scope)
        if isinstance(node, ast.IfExp):
            self._eval(node.test, scope)
            body, orelse = self._eval(node.body, scope), self._eval(node.orelse, scope)
            return Value(body.labels | orelse.labels)
        if isinstance(node, ast.JoinedStr):
            return Value(union(self._eval(v, scope) for v in node.values), flags={"scalar"})
        if isinstance(node, ast.FormattedValue):
            return self._eval(node.value, scope)
        if isinstance(node, ast.Starred):
            return self._eval(node.value, scope)
        if isinstance(node, ast.NamedExpr):
            value = self._eval(node.value, scope)
            self._bind(node.target, value, scope)
            return value
        if isinstance(node, ast.Await | ast.Yield | ast.YieldFrom) and node.value is not None:
            return self._eval(node.value, scope)
        if isinstance(node, ast.Slice):
            parts = [self._eval(p, scope) for p in (node.lower, node.upper, node.step) if p]
            return Value(union(parts), flags={"scalar"})
        if isinstance(node, ast.Lambda):
            function = Value()
            function.func = (node, scope)
            return function
        return Value()

    def _name(self, name: str, scope: Scope) -> Value:
        value = scope.lookup(name)
        if value is not None:
            return value
        if name in _BUILTINS:
            return Value(qualname=f"builtins.{name}")
        for module in self._star_modules:
            qualname = catalog.canonical(f"{module}.{name}")
            if catalog.estimator_kind(qualname) not in (None, "model"):
                return Value(qualname=qualname)
        # An unknown name (notebook fragment, global from elsewhere) is data from somewhere.
        value = self._unknown(name)
        self.globals.names[name] = value
        return value

    def _attribute(self, base: Value, attr: str, node: ast.AST) -> Value:
        if base.built is not None and attr not in _NOT_A_USE:
            base.built.used = True  # `clf.predict`, `clf.coef_`: fitted or used elsewhere
        if attr in base.attrs:
            return base.attrs[attr]
        if base.qualname is not None:
            return Value(qualname=catalog.canonical(f"{base.qualname}.{attr}"))
        if attr in _ABOUT_NOT_OF_ROWS and base.is_data:
            # `X_test.columns`, `X_test.shape`: the frame's layout, not its rows
            return Value(flags={"scalar"} | (base.flags & {"set"}))
        result = Value(base.labels, flags=base.flags & {"pandas", "groupby", "set"})
        result.receiver = base
        result.attr = attr
        if "groupby" in base.flags:
            result.flags = result.flags | {"grouped"}  # `df.groupby(c).age`: a column per group
            self._group_statistic(base, (attr,), result, node)
        return result

    def _subscript(self, node: ast.Subscript, scope: Scope) -> Value:
        base = self._eval(node.value, scope)
        index = self._eval(node.slice, scope)
        self._set_order_use(index, node)
        position = index.const
        ordered = self._order_draws(index)
        if (
            base.items is not None
            and isinstance(position, int)
            and not isinstance(position, bool)
            and -len(base.items) <= position < len(base.items)
        ):
            return base.items[position]
        if base.is_data and not any(isinstance(label, Source) for label in index.labels):
            # fold indices themselves (not rows that came out of a fold) select these rows
            for role in roles(index.labels):
                if role.split is not None and role.split.kind == "cv":
                    self._extend_split(role.split, base.labels)  # `X_scaled[train_idx]`
        if "folds" in base.flags and base.split is not None and isinstance(position, int):
            return self._element(base, None)  # `list(kf)[0]`: one (train, test) index pair
        result = Value(
            base.labels | _without_pending(index.labels) | ordered,
            flags=base.flags & {"pandas", "proba", "statistic", "window"},
        )
        result.receiver = base  # `df["a"].fillna(..., inplace=True)` writes into df
        if "groupby" in base.flags:
            result.flags = result.flags | {"grouped"}  # `df.groupby(c)["age"]`: per group
            columns = _constants(index)
            if columns:
                self._group_statistic(base, columns, result, node)
        return result

    def _comprehension(
        self, node: ast.ListComp | ast.GeneratorExp | ast.SetComp | ast.DictComp, scope: Scope
    ) -> Value:
        inner = Scope(scope)
        labels: frozenset = frozenset()
        origin = None
        for generator in node.generators:
            iterable = self._eval(generator.iter, inner)
            if "set" in iterable.flags:
                origin = generator.iter
            labels |= iterable.labels
            self._bind(generator.target, self._element(iterable, None), inner)
            for condition in generator.ifs:
                self._eval(condition, inner)
        if isinstance(node, ast.DictComp):
            labels |= self._eval(node.key, inner).labels | self._eval(node.value, inner).labels
        else:
            labels |= self._eval(node.elt, inner).labels
        result = Value(labels)
        if isinstance(node, ast.SetComp):
            result.flags = frozenset({"set"})
        elif isinstance(node, ast.ListComp) and origin is not None:
            result.order_origin = node
        return result

    # ---------------------------------------------------------------- calls

    def _call(self, node: ast.Call, scope: Scope) -> Value:
        func = self._eval(node.func, scope)
        args = [self._eval(a, scope) for a in node.args]
        kwargs = {k.arg: self._eval(k.value, scope) for k in node.keywords if k.arg}
        for keyword in node.keywords:
            if keyword.arg is None:
                self._eval(keyword.value, scope)
        if len(node.args) > 1 and (
            func.attr in catalog.FIT_METHODS or func.qualname in catalog.HOLDOUT_SPLITS
        ):
            self._note_target(node.args[1], scope)
        return self._dispatch(node, func, args, kwargs)

    def _dispatch(
        self, node: ast.Call, func: Value, args: list[Value], kwargs: dict[str, Value]
    ) -> Value:
        # `lgb.Dataset(X_test, reference=lgb_train)` borrows bin edges, not rows
        everything = union(
            [*args, *(v for k, v in kwargs.items() if k not in ("reference", "ref"))]
        )
        ordered: frozenset = frozenset()
        if func.attr != "drop":  # dropping columns keeps the frame's own order
            for name in ("columns", "usecols", "feature_names", "features"):
                if name in kwargs:
                    self._set_order_use(kwargs[name], node)
                    ordered = ordered | self._order_draws(kwargs[name])
        if ordered:  # `pd.DataFrame(values, columns=cols)`: the frame's columns in set order
            everything = everything | ordered
        if func.func is not None:
            name = getattr(func.func[0], "name", "<lambda>")
            self.calls.append(CallSite(node, f"<local>.{name}", None, None, self._order))
            return self._call_local(func, args, kwargs)
        if func.local_class is not None and func.instance_of is None:
            instance = Value(everything)
            instance.instance_of = f"<local>.{func.local_class.name}"
            instance.local_class = func.local_class
            instance.kind = "model"
            init = _method(func.local_class, "__init__")
            if init is not None:
                self._invoke(init, self.globals, [instance, *args], kwargs, self_value=instance)
            return instance
        if func.qualname is not None:
            self.calls.append(CallSite(node, func.qualname, None, None, self._order))
            if func.qualname[9:] not in catalog.SCALAR_BUILTINS and not catalog.estimator_kind(
                func.qualname
            ):
                _use([*args, *kwargs.values()])  # handed to code we do not follow
            return self._call_known(node, func.qualname, args, kwargs, everything)
        _use([*args, *kwargs.values()])
        if func.receiver is not None and func.attr is not None:
            self.calls.append(CallSite(node, None, func.attr, func.receiver, self._order))
            return self._call_method(node, func.receiver, func.attr, args, kwargs, everything)
        if (func.instance_of or "").endswith("Loss"):
            self.scored.append(everything)  # `criterion(model(x_test), y_test)`
        if func.instance_of is not None or func.is_data:
            # `model(x)`: calling an object, not a function: a model's output, scores per row
            # (predictions, not the scaled features they came from)
            return Value(_predictions(everything) | func.labels, flags={"proba"})
        return Value(everything | func.labels)

    def _call_local(self, func: Value, args: list[Value], kwargs: dict[str, Value]) -> Value:
        definition, closure = func.func  # type: ignore[misc]
        return self._invoke(definition, closure, args, kwargs)

    def _invoke(
        self,
        definition: ast.AST,
        closure: Scope,
        args: list[Value],
        kwargs: dict[str, Value],
        self_value: Value | None = None,
    ) -> Value:
        self._interpreted.add(definition)
        count = self._invocations.get(definition, 0) + 1
        self._invocations[definition] = count
        if (
            count > _MAX_INLINE
            or len(self._stack) > _MAX_DEPTH
            or any(f.function is definition for f in self._stack)
        ):
            # Recursion, deep call chains, or a helper called in a long unrolled sequence: stop
            # following it and let the arguments' labels flow through, to stay linear.
            _use([*args, *kwargs.values()])
            return Value(union([*args, *kwargs.values()]))
        scope = Scope(closure)
        self._bind_parameters(definition.args, args, kwargs, scope, closure)  # type: ignore[attr-defined]
        if isinstance(definition, ast.Lambda):
            self._stack.append(_Frame(definition))
            try:
                return self._eval(definition.body, scope)
            finally:
                self._stack.pop()
        frame = _Frame(definition)
        self._stack.append(frame)
        try:
            self._block(definition.body, scope)  # type: ignore[attr-defined]
        finally:
            self._stack.pop()
        if not frame.returns:
            return Value(flags={"scalar"})
        if len(frame.returns) == 1:
            return frame.returns[0]
        # `return X` on one path and `return X, X_test` on another: a caller that keeps one
        # value gets the single returns, a caller that unpacks gets the tuples' items.
        tuples = [r for r in frame.returns if r.items is not None]
        singles = [r for r in frame.returns if r.items is None]
        merged = Value(union(singles or frame.returns))
        lengths = {len(r.items) for r in tuples}  # type: ignore[arg-type]
        if len(lengths) == 1:
            size = lengths.pop()
            merged.items = tuple(
                Value(union(r.items[i] for r in tuples))  # type: ignore[index]
                for i in range(size)
            )
        return merged

    def _bind_parameters(
        self,
        spec: ast.arguments,
        args: list[Value],
        kwargs: dict[str, Value],
        scope: Scope,
        closure: Scope,
    ) -> None:
        positional = [*spec.posonlyargs, *spec.args]
        defaults = dict(
            zip(
                [a.arg for a in positional[len(positional) - len(spec.defaults) :]],
                spec.defaults,
                strict=True,
            )
        )
        for kw, default in zip(spec.kwonlyargs, spec.kw_defaults, strict=True):
            if default is not None:
                defaults[kw.arg] = default
        for i, param in enumerate(positional):
            if i < len(args):
                value = args[i]
            elif param.arg in kwargs:
                value = kwargs[param.arg]
            elif param.arg in defaults:
                value = self._eval(defaults[param.arg], closure)
            else:
                value = self._unknown(param.arg)
            scope.names[param.arg] = value
        for param in spec.kwonlyargs:
            if param.arg in kwargs:
                scope.names[param.arg] = kwargs[param.arg]
            elif param.arg in defaults:
                scope.names[param.arg] = self._eval(defaults[param.arg], closure)
            else:
                scope.names[param.arg] = self._unknown(param.arg)
        if spec.vararg:
            scope.names[spec.vararg.arg] = Value(
                union(args[len(positional) :]) or {Source(spec.vararg.arg)}
            )
        if spec.kwarg:
            known = {p.arg for p in positional} | {p.arg for p in spec.kwonlyargs}
            extra = [v for k, v in kwargs.items() if k not in known]
            scope.names[spec.kwarg.arg] = Value(union(extra) or {Source(spec.kwarg.arg)})

    def _call_known(
        self,
        node: ast.Call,
        qualname: str,
        args: list[Value],
        kwargs: dict[str, Value],
        everything: frozenset,
    ) -> Value:
        if qualname.startswith("builtins."):
            return self._call_builtin(node, qualname[9:], args, kwargs, everything)
        if qualname in catalog.HOLDOUT_SPLITS:
            return self._train_test_split(node, qualname, args)
        if qualname in catalog.CV_FUNCTIONS:
            data = [args[i] for i in (1, 2) if i < len(args)] + [
                kwargs[k] for k in ("X", "y") if k in kwargs
            ]
            split = SplitEvent(node, "cv", qualname.rsplit(".", 1)[-1], union(data))
            split.estimator = args[0] if args else kwargs.get("estimator")
            self._split_created(split)
            return Value(everything)
        if qualname.endswith((".argmax", ".argmin", ".nanargmax", ".nanargmin")):
            self._arg_choice(node, args, kwargs)
        if qualname.startswith(("sklearn.metrics.", "torchmetrics.")) or (
            qualname.startswith("torch.nn.functional.") and "loss" in qualname
        ):
            self.scored.append(everything)
            return Value(everything, flags={"metric"})  # a score, not rows
        self._early_stopping(node, kwargs, None)
        kind = catalog.estimator_kind(qualname)
        if kind is not None:
            return self._construct(node, qualname, kind, args, kwargs, everything)
        flags = {"pandas"} if qualname.startswith("pandas.") else set()
        if catalog.stateless(qualname):
            flags.add("stateless")  # LabelEncoder(): its fit learns nothing worth a finding
        if qualname.startswith("torch.optim.") and qualname.rsplit(".", 1)[-1][:1].isupper():
            flags.add("optimizer")  # its step() is a training step
        if qualname in catalog.PROBA_FUNCTIONS:
            flags.add("proba")
        learned = self._function_statistic(node, qualname, args, kwargs, everything)
        if learned is not None:
            return learned
        draw = self._random_draw(node, qualname, args)
        library = draw.library if draw is not None else None
        if draw is not None:
            everything = everything | {draw}
        if not everything and not qualname.startswith("<local>"):
            # A value out of nowhere (read_csv, load_iris, np.zeros): a new source of rows.
            source = Source(qualname)
            if small_dataset(qualname, node):
                self.small_sources.add(source)
            return Value({source}, flags=flags)
        if library is not None and not (everything - {draw}):
            return Value({Source(qualname), draw}, flags=flags)
        scores = [a for a in args if a.is_data and a.labels]
        if scores and all("metric" in a.flags for a in scores):
            flags.add("metric")  # np.array(scores), np.mean(scores): still scores
        result = Value(everything, flags=flags)
        if qualname in catalog.WRITE_FUNCTIONS:
            self._combine(node, result, [*args, *kwargs.values()])
        elif qualname.startswith(("numpy.", "torch.", "math.")) and args:
            data = [a for a in args if a.is_data and a.labels]
            if data and all("statistic" in a.flags for a in data):
                result.flags = result.flags | {"statistic"}  # np.sqrt(var), math.floor(mean)
            elif qualname in catalog.REDUCTION_FUNCTIONS:
                result.labels = _without_pending(result.labels)
        return result

    def _call_builtin(
        self,
        node: ast.Call,
        name: str,
        args: list[Value],
        kwargs: dict[str, Value],
        everything: frozenset,
    ) -> Value:
        if name in catalog.SCALAR_BUILTINS:
            return Value(flags={"scalar"})
        first = args[0] if args else Value()
        if name in ("set", "frozenset"):
            return Value(first.labels, flags={"set"} if args and "ints" not in first.flags else ())
        if name == "range":
            return Value(flags={"scalar", "ints"})
        if name in ("list", "tuple") and first.kind == "splitter" and first.built is not None:
            return self._old_folds(first, node)  # `train_idx, test_idx = list(kf)[0]`
        if not args and name in ("list", "tuple", "dict", "set"):
            return Value(flags={"empty"})
        if name in ("list", "tuple"):
            result = first.copy()
            result.flags = first.flags - {"set"}
            if "set" in first.flags:
                result.order_origin = node
            return result
        if name in ("max", "min") and "zip" in first.flags and has_test(everything):
            # `max(zip(test_scores, params))`: the parameter paired with the best test score
            self.choices.append(Choice(node, everything))
        elif name in ("max", "min", "sorted") and "key" in kwargs:
            key = kwargs["key"]
            if key.func is not None and args:
                # `max(thresholds, key=lambda t: f1_score(y_test, proba > t))`
                everything = (
                    everything | self._call_local(key, [self._element(first, None)], {}).labels
                )
            if has_test(everything):
                self.choices.append(Choice(node, everything))
        if name == "sorted":
            return Value(first.labels)
        if name in ("enumerate", "zip"):
            shape = (first,) if name == "enumerate" else tuple(self._element(a, None) for a in args)
            return Value(everything, items=shape, flags={name})
        return Value(everything)

    def _call_method(
        self,
        node: ast.Call,
        receiver: Value,
        method: str,
        args: list[Value],
        kwargs: dict[str, Value],
        everything: frozenset,
    ) -> Value:
        if receiver.local_class is not None:
            definition = _method(receiver.local_class, method)
            if definition is not None:
                return self._invoke(
                    definition, self.globals, [receiver, *args], kwargs, self_value=receiver
                )
        if method in catalog.FIT_METHODS and "stateless" not in receiver.flags:
            return self._fit(node, receiver, method, args, kwargs)
        if method in ("size", "numel", "dim", "nunique", "__len__"):
            return Value(flags={"scalar"})  # how many rows, not rows
        if method in ("score", "evaluate"):
            self.scored.append(everything)
        if method == "set_params" and receiver.built is not None and "random_state" in kwargs:
            receiver.built.reseeded = True
        optimizer = receiver.instance_of or ""
        if method == "step" and (
            "optimizer" in receiver.flags
            or (optimizer.startswith("torch.optim.") and ".lr_scheduler." not in optimizer)
        ):
            self.trains.setdefault("torch", []).append((node, self._order))  # a training step
        self._early_stopping(node, kwargs, receiver)
        if (
            method in catalog.APPLY_METHODS
            and "pandas" not in receiver.flags  # DataFrame.transform is not an estimator's
            and any(isinstance(label, FitEvent) for label in receiver.labels)
        ):
            if any(
                isinstance(label, FitEvent) and label.kind in ("model", "search")
                for label in receiver.labels
            ):
                self._consume(everything, "score")  # a model predicts on or scores the draws
            self._applied(node, receiver, everything)
            self._seq += 1
            self.applications.append((receiver, everything, self._seq))
            flags = {"proba"} if method in catalog.PROBA_METHODS else set()
            if method in ("score", "evaluate"):
                flags = {"metric"}
            if method != "transform" and any(
                isinstance(label, FitEvent) and label.kind in ("model", "search")
                for label in receiver.labels
            ):
                # a model's predictions are not the features it was given: the statistics
                # of a scaler upstream do not travel on into what is stacked on them
                everything = _predictions(everything)
            return Value(everything | receiver.labels, flags=flags)
        if method == "split" and (
            receiver.kind == "splitter"
            # `cv.split(X, y)` on a splitter passed in as a parameter (not `text.split(",")`)
            or (receiver.is_data and "pandas" not in receiver.flags and args and args[0].is_data)
        ):
            name = (receiver.instance_of or "cv.split").rsplit(".", 1)[-1]
            split = SplitEvent(node, "cv", name, everything)
            self._split_created(split)
            if receiver.built is not None:
                receiver.built.splits.append(split)
            folds = Value(flags={"folds"})
            folds.split = split
            return folds
        if method == "append" and "pandas" in receiver.flags:
            # DataFrame.append returns the rows of both (like pd.concat); it mutates nothing
            return Value(receiver.labels | everything, flags={"pandas"})
        if method in catalog.MUTATORS:
            if args and all("metric" in a.flags for a in args) and not receiver.labels:
                receiver.flags = receiver.flags | {"metric"}  # a list of scores
            receiver.flags = receiver.flags - {"empty"}
            if everything:
                receiver.labels = receiver.labels | everything
            origin = next((a.order_origin for a in args if a.order_origin is not None), None)
            if origin is not None and receiver.order_origin is None:
                receiver.order_origin = origin
            return Value(flags={"scalar"})
        if method in ("idxmax", "idxmin", "nlargest", "nsmallest", "argmax", "argmin"):
            self._arg_choice(node, [receiver, *args], kwargs)
        if method in catalog.STATISTIC_METHODS and "statistic" not in receiver.flags:
            axis = kwargs.get("axis", kwargs.get("dim", args[0] if args else None))
            statistic = self._statistic(receiver, axis if method != "quantile" else None)
            if statistic is not None:
                return statistic
        if method == "map" and not any(a.func is not None for a in args):
            # `train[col].map(proba)`: values looked up in another table; the rows stay these
            everything = frozenset(
                label for label in everything if not isinstance(label, Source | Role)
            )
        if method == "drop":  # `train = df.drop(test.index)`: what is removed is not kept
            everything = frozenset(label for label in everything if not isinstance(label, Role))
            held_out = self._sample_split(node, receiver, args, kwargs)
            if held_out is not None:
                result = Value(receiver.labels | everything | {held_out}, flags={"pandas"})
                return result
        result = Value(
            receiver.labels | everything,
            flags=receiver.flags & {"pandas", "proba", "statistic", "window"},
        )
        self._method_statistic(node, receiver, method, args, kwargs, result)
        if method in catalog.PROBA_METHODS:
            result.flags = result.flags | {"proba"}
        if method == "sample" and ("pandas" in receiver.flags or "frac" in kwargs):
            result.labels = result.labels | {Draw(node, "numpy", values=False)}
        if method == "transform" and receiver.flags & {"grouped", "groupby"} and args:
            # `df.groupby("Pclass")["Age"].transform("median")`: a statistic per group,
            # computed over all rows (an imputation with it is a fit, like fillna(mean))
            how = args[0].const
            if isinstance(how, str) and how in catalog.STATISTIC_METHODS:
                result.flags = (result.flags - {"window"}) | {"group_statistic"}
        if method == "groupby":
            result.flags = result.flags | {"groupby"}
        elif method in ("agg", "aggregate") and "groupby" in receiver.flags:
            columns = tuple(c for a in [*args, *kwargs.values()] for c in _dict_keys(a))
            if columns:
                self._group_statistic(receiver, columns, result, node)
        elif method in catalog.SET_METHODS and "set" in receiver.flags:
            result.flags = result.flags | {"set"}
        elif method == "copy":
            result.items = receiver.items
            result.order_origin = receiver.order_origin
        return result

    def _set_order_use(self, index: Value, node: ast.AST) -> None:
        candidates = [index, *(index.items or ())]
        for candidate in candidates:
            if candidate.order_origin is not None:
                self.set_order_uses.append((candidate.order_origin, node))


def _method(cls: ast.ClassDef, name: str) -> ast.AST | None:
    for statement in cls.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef) and statement.name == name:
            return statement
    return None


# attributes that describe a frame or an array, not its rows
_ABOUT_NOT_OF_ROWS = frozenset(
    {"columns", "shape", "dtypes", "dtype", "ndim", "feature_names", "feature_names_in_"}
)
# attribute reads that do not show an estimator is used: fitting it (tracked apart) and
# setting its parameters
_NOT_A_USE = catalog.FIT_METHODS | {"set_params", "get_params", "split"}


def _use(values: Iterable[Value]) -> None:
    """Estimators among ``values`` escape to code the interpreter does not follow, which must
    be assumed to fit or use them."""
    for value in values:
        for item in _flatten(value):
            if item.built is not None:
                item.built.used = True


def _counts_only(body: list[ast.stmt]) -> bool:
    """A branch that only adds constants to counters (computing a metric by hand)."""
    return bool(body) and all(
        isinstance(statement, ast.AugAssign) and isinstance(statement.value, ast.Constant)
        for statement in body
    )


def _predictions(labels: frozenset) -> frozenset:
    """What a model's output carries of its inputs: their rows and roles, not the statistics
    of a scaler upstream (predictions are not the scaled features they came from)."""
    return frozenset(
        label
        for label in labels
        if not (isinstance(label, FitEvent) and label.kind == "preprocessor")
    )
