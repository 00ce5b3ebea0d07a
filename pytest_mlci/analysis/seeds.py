"""Randomness and seeds: which calls draw from a global random state, and which seeds cover them.

Order matters at module level (a notebook that seeds in its last cell ran unseeded before
it), so a top-level seed covers only uses in later top-level statements. A seed reached
while analysing a function on its own, or a use inside a function, is given the benefit of
the doubt: the function may well run after the seed.

The interpreter labels every value drawn here with a :class:`~pytest_mlci.analysis.values.Draw`,
so rules can tell randomness that reaches a split, a fit or an evaluation (it changes the
model or the score) from randomness that is only printed or plotted.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from pytest_mlci.analysis import catalog
from pytest_mlci.analysis.values import Draw, Value

if TYPE_CHECKING:
    from pytest_mlci.analysis.flow import CallSite, Flow

_DETERMINISTIC_INITS = frozenset({"ones_", "zeros_", "constant_", "eye_", "dirac_"})
# scikit-learn's bundled datasets below 10,000 rows (HistGradientBoosting turns early stopping,
# its only randomness, on from 10,000 rows)
_SMALL_DATASETS = frozenset(
    "sklearn.datasets." + name
    for name in (
        "load_iris",
        "load_digits",
        "load_wine",
        "load_breast_cancer",
        "load_diabetes",
        "load_linnerud",
    )
)
_SMALL_ROWS = 10_000


def seeded_libraries(qualname: str) -> frozenset[str]:
    """The libraries a call to ``qualname`` seeds (empty when it seeds none)."""
    known = catalog.SEEDERS.get(qualname)
    if known is not None:
        return known
    last = qualname.rsplit(".", 1)[-1].lower()
    top = qualname.split(".", 1)[0]
    if "seed" in last and top not in ("numpy", "random", "torch", "tensorflow", "builtins"):
        return frozenset(catalog.LIBRARIES)
    return frozenset()


def draws_from(qualname: str, node: ast.Call) -> str | None:
    """The library whose global random state a call to ``qualname`` draws from, if it draws."""
    head, _, last = qualname.rpartition(".")
    if head == "random" and last in catalog.STDLIB_RANDOM_DRAWS:
        return "random"
    if head == "numpy.random" and last not in catalog.NUMPY_RANDOM_NOT_DRAWS and last.islower():
        return "numpy"
    if qualname in catalog.TORCH_RANDOM_DRAWS or (
        head == "torch.nn.init" and last.endswith("_") and last not in _DETERMINISTIC_INITS
    ):
        return "torch"
    if qualname == "torch.utils.data.DataLoader":
        keywords = {k.arg: k.value for k in node.keywords}
        shuffle = keywords.get("shuffle")
        if (
            isinstance(shuffle, ast.Constant)
            and shuffle.value is True
            and "generator" not in keywords
        ):
            return "torch"
    if head == "tensorflow.random" and last not in catalog.TENSORFLOW_RANDOM_NOT_DRAWS:
        return "tensorflow"
    return None


def small_dataset(qualname: str, node: ast.Call) -> bool:
    """Whether a call makes rows the code states are few: a bundled toy dataset, or
    ``make_classification(n_samples=500)`` (``make_*`` default to 100 rows)."""
    if qualname in _SMALL_DATASETS:
        return True
    if not qualname.startswith("sklearn.datasets.make_"):
        return False
    given = next((k.value for k in node.keywords if k.arg == "n_samples"), None)
    if given is None and node.args:
        given = node.args[0]
    if given is None:
        return True
    return (
        isinstance(given, ast.Constant)
        and isinstance(given.value, int)
        and given.value < _SMALL_ROWS
    )


class Seeds:
    """Answers "is this use of ``library`` covered by a global seed?" for one module."""

    def __init__(self, flow: Flow) -> None:
        self._orders: dict[str, list[int | None]] = {lib: [] for lib in catalog.LIBRARIES}
        for call in flow.calls:
            if call.qualname is None:
                continue
            for library in seeded_libraries(call.qualname):
                self._orders[library].append(call.order)

    def any(self, library: str) -> bool:
        """Whether the module seeds ``library`` anywhere at all."""
        return bool(self._orders[library])

    def covers(self, library: str, use: CallSite) -> bool:
        """Whether a seed of ``library`` runs before ``use`` (or plausibly might)."""
        return self.covers_order(library, use.order)

    def covers_order(self, library: str, order: int | None) -> bool:
        """Whether a seed of ``library`` runs before the top-level statement at ``order``."""
        for seeded in self._orders[library]:
            if seeded is None or order is None or seeded <= order:
                return True
        return False


class RandomnessTracking:
    """The :class:`~pytest_mlci.analysis.flow.Flow` methods that label random draws and
    record where they end up."""

    def _random_draw(self, node: ast.Call, qualname: str, args: list[Value]) -> Draw | None:
        """The label a call drawing from a random state puts on what it returns (and, for an
        in-place shuffle, on what it shuffles); None when the call draws nothing."""
        library = draws_from(qualname, node)
        if library is None and qualname in catalog.RANDOM_GENERATORS:
            library = "generator"  # its draws carry this label through `rng.normal(...)`
        if library is None:
            return None
        name = qualname.rsplit(".", 1)[-1]
        draw = Draw(node, library, name not in catalog.ORDER_DRAWS)
        if name == "shuffle" and args:  # shuffles in place
            args[0].labels = args[0].labels | {draw}
        return draw

    def _consume(self, labels: frozenset, how: str) -> None:
        """Random draws among ``labels`` reached a ``split``, a ``fit`` or a ``score``."""
        for label in labels:
            if isinstance(label, Draw):
                self.random_consumed.setdefault(label, set()).add(how)

    def _order_draws(self, index: Value) -> frozenset:
        """Column order taken from a set is drawn from the string hash seed: a label on the
        selected columns, so rules can tell a model's features from a heatmap's rows."""
        origins = [c.order_origin for c in (index, *(index.items or ())) if c.order_origin]
        return frozenset(Draw(origin, "hash", values=False) for origin in origins)
