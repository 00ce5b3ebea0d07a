"""Gate items (``mlci::gate::<expression>``) and the evaluation status item.

Every gate shares the session's :class:`~pytest_mlci.evaluation.session.Evaluation`, so the
model is loaded and scored once. The status item fails when no gate was configured or a gate
crashed, so an evaluation that fell over can never look like a pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_mlci.errors import CheckFailed, MlciError
from pytest_mlci.gates import FAIL, INCONCLUSIVE, WAIVED, Gate
from pytest_mlci.items.base import MlciCollector, MlciItem


def _state(node: pytest.Item | pytest.Collector) -> Any:
    from pytest_mlci.session import STATE_KEY

    return node.config.stash[STATE_KEY]


class GateCollector(MlciCollector):
    """Parses every configured gate; an unknown metric fails collection with a suggestion."""

    def collect(self) -> Iterator[GateItem]:
        for gate in _state(self).evaluation.gates():
            yield GateItem.from_parent(self, name=gate.text, gate=gate)


class GateItem(MlciItem):
    """Checks one gate; inconclusive fails (fail closed), a waived gate is a visible skip."""

    markers = ("mlci_gate",)

    def __init__(self, *, gate: Gate, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate

    def runtest(self) -> None:
        state = _state(self)
        state.checked.add(self.nodeid)
        try:
            result = state.evaluation.check_gate(self.gate)
        except Exception as exc:
            state.crashed.append(self.nodeid)
            state.crash_reasons[self.nodeid] = crash_reason(exc)
            raise
        if result.verdict == WAIVED:
            pytest.skip(f"waived: {result.message}")
        if result.verdict == INCONCLUSIVE:
            raise CheckFailed(f"INCONCLUSIVE (counts as a failure): {result.message}")
        if result.verdict == FAIL:
            raise CheckFailed(f"FAILED: {result.message}")


class EvaluationStatusItem(MlciItem):
    """``mlci::evaluation``: fails when no gate exists or any selected gate crashed.

    Under pytest-xdist the gates may run in other workers, so a selected gate that did not
    run in this process is judged here too (without recording it). Its estimates come from
    the shared evaluation cache, so this repeats no computation of a cacheable metric.
    """

    markers = ("mlci_gate",)

    def runtest(self) -> None:
        state = _state(self)
        if not state.config.gates:
            raise CheckFailed(
                f"{state.config.source.name}: no gates in [tool.mlci.gates]; an evaluation "
                "without gates cannot pass (add e.g. roc_auc = '>= 0.8')"
            )
        crashed = list(state.crashed)
        reasons = dict(state.crash_reasons)
        for nodeid, gate in state.selected_gates:
            if nodeid in state.checked:
                continue
            try:
                state.evaluation.check_gate(gate, record=False)
            except Exception as exc:
                crashed.append(nodeid)
                reasons.setdefault(nodeid, crash_reason(exc))
        if crashed:
            order = {nodeid: index for index, (nodeid, _) in enumerate(state.selected_gates)}
            crashed.sort(key=lambda nodeid: order.get(nodeid, len(order)))
            lines = [f"  {nodeid}: {reasons.get(nodeid, 'crashed')}" for nodeid in crashed]
            raise CheckFailed("the evaluation crashed; no verdict:\n" + "\n".join(lines))


def crash_reason(exc: BaseException) -> str:
    """Why an item crashed, in one line: our own errors say it themselves; anything else is
    named by its type (the item's own report keeps the traceback of a bug)."""
    from pytest_mlci.redact import redact_text

    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if not isinstance(exc, MlciError):
        first = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return redact_text(first)
