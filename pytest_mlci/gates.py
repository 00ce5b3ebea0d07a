"""Gates: small comparison expressions such as ``f1 >= baseline - 0.01``.

A gate is parsed once from config (``metric = "<op> <threshold>"``) and then checked against
an :class:`Estimate` of the candidate's metric (and, for relative gates, of the paired delta to
the production baseline). Every check has three outcomes. A gate passes only when the whole
confidence interval clears the threshold and fails only when the whole interval lies beyond
it; anything in between is *inconclusive*, which never counts as a pass (fail closed). A NaN
anywhere fails.

Kept free of numpy/sklearn so that parsing (at collection time) costs nothing.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from enum import Enum

from pytest_mlci.errors import ConfigError

PASS, FAIL, INCONCLUSIVE, WAIVED = "pass", "fail", "inconclusive", "waived"

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_RHS = re.compile(
    rf"^\s*(?P<op>>=|<=|>|<)\s*(?:(?P<baseline>baseline|best)\s*(?:(?P<sign>[+-])\s*"
    rf"(?P<margin>{_NUMBER}))?|(?P<value>{_NUMBER}))\s*$"
)


class Reference(Enum):
    """What a gate's threshold is measured against."""

    ABSOLUTE = "absolute"
    BASELINE = "baseline"
    BEST = "best"  # the best of the last N production versions (the ratchet)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with an optional confidence interval (``low``, ``high``)."""

    value: float
    low: float | None = None
    high: float | None = None

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def describe(self, digits: int = 4) -> str:
        if self.has_interval:
            return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"
        return f"{self.value:.{digits}f}"


@dataclass(frozen=True)
class GateOutcome:
    """The verdict of one gate and the sentence that explains it."""

    verdict: str
    message: str


@dataclass(frozen=True)
class Gate:
    """One parsed gate.

    For an absolute gate the threshold is ``value``; for a baseline gate the condition is on
    the delta ``candidate - baseline`` compared with ``margin`` (``f1 >= baseline - 0.01``
    means ``delta >= -0.01``).
    """

    metric: str
    op: str
    reference: Reference
    value: float

    @property
    def text(self) -> str:
        if self.reference is Reference.ABSOLUTE:
            return f"{self.metric} {self.op} {_fmt(self.value)}"
        word = self.reference.value
        if self.value == 0:
            return f"{self.metric} {self.op} {word}"
        sign = "+" if self.value > 0 else "-"
        return f"{self.metric} {self.op} {word} {sign} {_fmt(abs(self.value))}"

    def check(self, candidate: Estimate, delta: Estimate | None = None) -> GateOutcome:
        """Judge the candidate (absolute gate) or the paired delta (baseline gate)."""
        if self.reference is not Reference.ABSOLUTE:
            word = self.reference.value
            if delta is None:
                return GateOutcome(FAIL, f"{self.text}: no {word} model to compare with")
            subject, name = delta, f"{self.metric} delta vs {word}"
        else:
            subject, name = candidate, self.metric
        return _judge(name, subject, self.op, self.value, self.text)


def _judge(name: str, est: Estimate, op: str, threshold: float, text: str) -> GateOutcome:
    values = [est.value] + ([est.low, est.high] if est.has_interval else [])
    if any(v is None or math.isnan(v) for v in values):
        return GateOutcome(FAIL, f"{name} is NaN; a metric that cannot be computed never passes")
    compare = _OPS[op]
    shown = f"{name} {est.describe()}"
    if not est.has_interval:
        ok = compare(est.value, threshold)
        word = "meets" if ok else "does not meet"
        return GateOutcome(PASS if ok else FAIL, f"{shown} {word} {op} {_fmt(threshold)}")
    # The side of the interval that must clear the threshold for a pass: the lower bound for
    # ">=" gates, the upper bound for "<=" gates; the other bound decides a fail.
    must_clear, may_fail = (est.low, est.high) if op in (">=", ">") else (est.high, est.low)
    if compare(must_clear, threshold):
        return GateOutcome(PASS, f"{shown}: whole interval {op} {_fmt(threshold)}")
    if not compare(may_fail, threshold):
        return GateOutcome(FAIL, f"{shown}: whole interval fails {op} {_fmt(threshold)}")
    return GateOutcome(
        INCONCLUSIVE,
        f"{shown}: interval straddles {_fmt(threshold)}; too little evidence to decide {text}",
    )


def _fmt(number: float) -> str:
    return f"{number:g}"


def parse_gate(metric: str, expression: str, *, where: str = "gates") -> Gate:
    """Parse ``">= baseline - 0.01"`` for ``metric``; :class:`ConfigError` explains a typo."""
    match = _RHS.match(expression)
    if not match or not metric.strip():
        raise ConfigError(
            f"cannot parse gate {metric} {expression!r}; write e.g. '>= 0.8' or "
            "'>= baseline - 0.01' or '<= 50'",
            key=f"{where}.{metric}",
        )
    if match["baseline"]:
        margin = float(match["margin"] or 0.0)
        value = -margin if match["sign"] == "-" else margin
        reference = Reference.BEST if match["baseline"] == "best" else Reference.BASELINE
        return Gate(metric.strip(), match["op"], reference, value)
    return Gate(metric.strip(), match["op"], Reference.ABSOLUTE, float(match["value"]))


def parse_expression(text: str) -> Gate:
    """Parse a whole expression such as ``roc_auc >= 0.8`` (used on the command line)."""
    head = re.match(r"^\s*(?P<metric>[A-Za-z_][\w.]*)\s*(?P<rest>[<>]=?.*)$", text)
    if not head:
        raise ConfigError(f"cannot parse gate {text!r}; write e.g. 'roc_auc >= 0.8'")
    return parse_gate(head["metric"], head["rest"])
