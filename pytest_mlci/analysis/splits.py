"""Splits and partition roles: which rows are train, validation or test.

A :class:`SplitEvent` is made by ``train_test_split``, a manual ``test = df[n:]`` slice, a
cross-validation helper, a splitter's ``split`` or a search's ``fit``; every part it returns
carries a :class:`Role` label. Names speak too: ``X_val`` is a validation set even when it
came out of ``train_test_split`` in the test position, because that is how it is used.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from pytest_mlci.analysis.values import (
    Draw,
    Scope,
    Source,
    Value,
    _without_pending,
    made_up,
    union,
    words,
)

if TYPE_CHECKING:
    from pytest_mlci.analysis.fits import FitEvent


_ROLE_WORDS = {
    "test": "test",
    "te": "test",
    "tst": "test",
    "holdout": "test",
    "heldout": "test",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "cal": "val",
    "calib": "val",
    "eval": "val",  # X_eval: the set early stopping watches
    "validate": "val",
    "calibration": "val",
    "train": "train",
    "tr": "train",
    "trn": "train",
    "training": "train",
}
_NOT_ROWS = frozenset(
    {
        "size",
        "sizes",
        "mask",
        "masks",
        "col",
        "cols",
        "column",
        "columns",
        "vars",
        # a key that picks the held-out rows (`test_season`, `test_ids`), not the rows
        "season",
        "seasons",
        "year",
        "years",
        "date",
        "dates",
        "day",
        "days",
        "month",
        "id",
        "ids",
        "idx",
        "index",
        "indices",
        "seed",
        "seeds",
        "epoch",
        "epochs",
        "ratio",
        "frac",
        "fraction",
        "pct",
        "percent",
        "n",
        "num",
        "count",
        "len",
        "length",
        "mode",
        "is",
        "fn",
        "func",
        "function",
        "case",
        "cases",
        "name",
        "names",
        "path",
        "paths",
        "file",
        "files",
        "dir",
        "url",
        "step",
        "steps",
        "every",
        "freq",
        "interval",
        "time",
        "start",
        "end",
        "stop",
        "flag",
        "cmd",
        "config",
        "kwargs",
        "args",
        "params",
        "only",
        "per",
        "score",
        "scores",
        "result",
        "results",
        "metric",
        "metrics",
        "acc",
        "accuracy",
        "loss",
        "losses",
        "error",
        "errors",
        "auc",
        "report",
    }
)
_TARGET_WORDS = frozenset({"y", "target", "targets", "label", "labels"})


def name_role(name: str) -> str | None:
    """``train`` / ``test`` / ``val`` when a variable name says which side of a split it holds.

    Names about a split rather than its rows (``test_size``, ``n_train``, ``is_test``) and
    numbered convergence tests (``test1``) say nothing.
    """
    found = set()
    parts = words(name)
    if _NOT_ROWS.intersection(parts):
        return None
    if any(w.isdigit() for w in parts):
        parts = [w for w in parts if not w.isdigit()]
        if len(parts) < 2:
            return None  # test1, test2: numbered checks, not data
    for word in parts:
        role = _ROLE_WORDS.get(word)
        if role is None and len(word) > 2 and word[0] in "xy":
            role = _ROLE_WORDS.get(word[1:])  # Xtest, ytr
        if role:
            found.add(role)
    return found.pop() if len(found) == 1 else None


class SplitEvent:
    """Data divided into parts: ``holdout`` (train/test) or ``cv`` (folds, CV helpers, searches)."""

    __slots__ = ("estimator", "inputs", "kind", "name", "node")

    def __init__(self, node: ast.AST, kind: str, name: str, inputs: frozenset = frozenset()):
        self.node = node
        self.kind = kind
        self.name = name
        self.inputs = inputs
        # what a cross-validation helper or a search evaluates on the folds, when known
        self.estimator: Value | None = None

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"SplitEvent({self.kind}, {self.name}, line {getattr(self.node, 'lineno', '?')})"


class Role:
    """The side of a split a value holds; ``split`` is None when only its name tells us."""

    __slots__ = ("role", "split")

    def __init__(self, split: SplitEvent | None, role: str) -> None:
        self.split = split
        self.role = role

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Role) and other.split is self.split and other.role == self.role

    def __hash__(self) -> int:
        return hash((id(self.split), self.role))

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Role({self.split!r}, {self.role})"


def roles(labels: Iterable) -> Iterator[Role]:
    return (label for label in labels if isinstance(label, Role))


def merged_by_name(labels: Iterable) -> bool:
    """Rows of a ``train`` and a ``test`` set known only by their names, together: usually a
    competition's labelled train file and unlabelled test file merged for feature engineering
    (transductive, and the test rows are never scored), sometimes a real leak."""
    sides = {label.role for label in labels if isinstance(label, Role) and label.split is None}
    return {"train", "test"} <= sides


def has_test(labels: Iterable) -> bool:
    """Whether a value carries rows of a test set (validation sets and CV folds do not count).

    A ``train`` and a ``test`` set known only by their names, merged (a Kaggle competition's
    train and test files concatenated for feature engineering), are all the rows, not a test
    set: what is cut from them later is a new split's business. The two sides of a real
    split are still test rows when they travel together (a watch list of train and test).
    """
    by_name: set = set()
    for label in labels:
        if isinstance(label, Role):
            if label.split is not None:
                if label.role == "test":
                    return True
            else:
                by_name.add(label.role)
    return "test" in by_name and "train" not in by_name


def _saw_rows_of(fit: FitEvent, split: SplitEvent) -> bool:
    """Whether ``fit`` learned from rows that ``split`` may put on its held-out side.

    It did when both come from the same source rows (for cross-validation, always: every
    fold is scored on rows the fit saw), unless the fit only saw one side of an earlier
    split. Then ``split`` either cuts that earlier split's parts apart again
    (``np.vstack([X_train_std, X_test_std])`` sliced back), or carves a validation set out of
    the training side, where a scaler fitted on all training rows is common and harmless to
    the test score.
    """
    if not fit.sources & split.inputs:
        return False
    fitted_sides: dict[SplitEvent | None, set[str]] = {}
    for role in roles(fit.data):
        fitted_sides.setdefault(role.split, set()).add(role.role)
    split_sides: dict[SplitEvent | None, set[str]] = {}
    for role in roles(split.inputs):
        split_sides.setdefault(role.split, set()).add(role.role)
    for earlier, sides in fitted_sides.items():
        if earlier is not None and earlier in split_sides and not sides & split_sides[earlier]:
            return False  # fitted on one side of an earlier split, this one cuts the other
    if split.kind == "cv":
        # every fold is validated on rows the fit has seen, unless it was fitted fold by fold
        # (inside the loop over another CV's folds, on one side of them: out of fold)
        return not (
            fit.in_loop
            and any(
                s is not None and s.kind == "cv" and len(sides) == 1
                for s, sides in fitted_sides.items()
            )
        )
    return not any(len(sides) == 1 for sides in fitted_sides.values())


def _selects_columns(index: ast.expr) -> bool:
    """``X[:, :5]`` / ``df.loc[:, cols]`` / ``df["y"]`` / ``df[["a", "b"]]`` pick columns,
    not rows."""
    if isinstance(index, ast.Constant) and isinstance(index.value, str):
        return True
    if isinstance(index, ast.List) and index.elts:
        return all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in index.elts)
    if not isinstance(index, ast.Tuple) or not index.elts:
        return False
    first = index.elts[0]
    return isinstance(first, ast.Slice) and first.lower is None and first.upper is None


def _mixed_splits(labels: frozenset) -> set[SplitEvent | None]:
    sides: dict[SplitEvent | None, set[str]] = {}
    for role in roles(labels):
        sides.setdefault(role.split, set()).add(role.role)
    return {split for split, found in sides.items() if len(found) > 1}


def _mixed(labels: frozenset) -> bool:
    """Both sides of one split in a value: train and test concatenated back together."""
    return bool(_mixed_splits(labels))


class SplitTracking:
    """The :class:`~pytest_mlci.analysis.flow.Flow` methods that create and name splits."""

    def _manual_split(self, target: ast.expr, node: ast.expr, value: Value, scope: Scope) -> Value:
        """``train = df[:800]`` / ``test = df[df.year >= 2020]``: a split made by slicing."""
        if not isinstance(target, ast.Name) or not isinstance(node, ast.Subscript):
            return value
        role = name_role(target.id)
        if role is None:
            return value
        base_node = node.value
        if isinstance(base_node, ast.Attribute) and base_node.attr in ("iloc", "loc"):
            base_node = base_node.value
        base = self._eval(base_node, scope)
        if not base.is_data or _selects_columns(node.slice):
            return value
        index = self._eval(node.slice, scope)
        self._consume(index.labels, "split")  # `data.iloc[shuffled[:n]]`: a random split
        if any(True for _ in roles(index.labels)):
            return value  # selecting rows by split indices: the roles are already there
        if any(True for _ in roles(base.labels)) and not _mixed(base.labels):
            return value  # already one side of a split (`test[features]`): not a new split
        split = self._manual_splits.get(id(base))
        if split is None:
            if any(frame.loop > 0 for frame in self._stack):  # here or in a caller
                # `for season in seasons: test = df[df.season == season]`: a hand-written
                # cross-validation; what each pass holds out is a fold, not the test set
                split = SplitEvent(node, "cv", "a hand-written fold loop", base.labels)
            else:
                split = SplitEvent(node, "holdout", "a manual train/test slice", base.labels)
            self._manual_splits[id(base)] = split
            self._split_created(split)
        if split.kind == "cv" and role == "test":
            role = "val"
        return value.copy(value.labels | {Role(split, role)})

    def _named(self, name: str, value: Value) -> Value:
        """Let a name like ``X_val`` or ``test_df`` tell which side of a split the value is."""
        role = name_role(name)
        if role is None or not value.is_data or "empty" in value.flags:
            return value  # `test_data = []`: what is put in it later tells its side
        found = list(roles(value.labels))
        if not found:
            if not self.name_roles:
                return value
            if role == "test" and any(frame.loop > 0 for frame in self._stack):
                # `for s in seasons: y_test = y[seasons == s].values`: a set named test and
                # made anew on every pass is that pass's held-out fold
                role = "val"
            return value.copy(value.labels | {Role(None, role)})
        # train_test_split returns (train, test) by position; `X_val` or `X_train2, X_train1 =
        # ...` say otherwise, and the name wins for the latest split the value came out of
        # (unless it holds both sides of it, as after pd.concat).
        splits = [r.split for r in found if r.split is not None]
        latest = max(splits, key=self._split_order.__getitem__, default=None)
        if (
            latest is not None
            and latest.name == "train_test_split"
            and latest not in _mixed_splits(value.labels)
        ):
            renamed = {
                r: Role(latest, role)
                for r in found
                # an estimator's internal split stays validation whatever its parts are called
                if r.split is latest and r.role != role and not (r.role == "val" and role == "test")
            }
            if renamed:
                return value.copy(frozenset(renamed.get(label, label) for label in value.labels))
        return value

    def _train_test_split(self, node: ast.Call, qualname: str, args: list[Value]) -> Value:
        split = SplitEvent(node, "holdout", "train_test_split", union(args))
        self._split_created(split, demo=len(args) > 1 and made_up(args[-1]))
        # a split made inside an estimator's own `fit` is its internal validation split
        # (feature selection, early stopping): what it holds out is not the reported test set
        function = self._frame.function
        held_out = "val" if getattr(function, "name", "") in ("fit", "_fit") else "test"
        items: list[Value] = []
        if qualname.endswith("random_split"):
            # random_split(dataset, [0.8, 0.2]) -> (train, test); three lengths add validation
            sizes = len(args[1].items or ()) if len(args) > 1 else 2
            names = ("train", "val", held_out) if sizes == 3 else ("train", held_out)
            data = args[0] if args else Value()
            for role in names:
                part = data.copy(data.labels | {Role(split, role)})
                part.items = None
                items.append(part)
            return Value(union(items), items=tuple(items))
        for arg in args:
            for role in ("train", held_out):
                part = arg.copy(arg.labels | {Role(split, role)})
                part.items = None
                items.append(part)
        return Value(union(items), items=tuple(items))

    def _old_folds(self, splitter: Value, node: ast.AST) -> Value:
        """``for train, test in KFold(len(X), n_folds=5)`` / ``list(kf)[0]``: the pre-0.20
        splitters were iterated directly; the rows their indices select tell which data
        they split (see ``_extend_split``)."""
        name = splitter.built.cls.rsplit(".", 1)[-1]  # type: ignore[union-attr]
        split = SplitEvent(node, "cv", name, _without_pending(splitter.labels))
        self._split_created(split)
        splitter.built.splits.append(split)  # type: ignore[union-attr]
        folds = Value(flags={"folds"})
        folds.split = split
        return folds

    def _sample_split(
        self, node: ast.Call, receiver: Value, args: list[Value], kwargs: dict[str, Value]
    ) -> Role | None:
        """``test = df.sample(frac=0.2); train = df.drop(test.index)``: a split into a sample
        and the rest. The sample gets the held-out role, the rest the training role."""
        given = args[0] if args else kwargs.get("index")
        if given is None or given.attr != "index" or given.receiver is None:
            return None
        sample = given.receiver
        if not any(isinstance(label, Draw) and not label.values for label in sample.labels):
            return None  # rows dropped by a condition (outliers) are discarded, not held out
        if not sample.is_data or not (
            {label for label in sample.labels if isinstance(label, Source)}
            & {label for label in receiver.labels if isinstance(label, Source)}
        ):
            return None
        split = SplitEvent(node, "holdout", "a sample and the rest (drop)", receiver.labels)
        self._split_created(split)
        # the sample is held out, unless its name says it is the training part
        # (`df_train = df.sample(frac=0.8); df_valid = df.drop(df_train.index)`)
        named_train = Role(None, "train") in sample.labels - receiver.labels  # its own name
        sample.labels = sample.labels | {Role(split, "train" if named_train else "test")}
        return Role(split, "test" if named_train else "train")
