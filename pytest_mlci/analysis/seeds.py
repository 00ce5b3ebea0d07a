"""Which libraries' global random state a module seeds, and from where on.

Order matters at module level (a notebook that seeds in its last cell ran unseeded before
it), so a top-level seed covers only uses in later top-level statements. A seed reached
while analysing a function on its own, or a use inside a function, is given the benefit of
the doubt: the function may well run after the seed.
"""

from __future__ import annotations

from pytest_mlci.analysis import catalog
from pytest_mlci.analysis.flow import CallSite, Flow


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
        for order in self._orders[library]:
            if order is None or use.order is None or order <= use.order:
                return True
        return False
