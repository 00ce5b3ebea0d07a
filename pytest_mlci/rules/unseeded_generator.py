"""MLC102: a random generator or a DataFrame sample is created without a seed.

What it does
    Flags ``np.random.default_rng()``, ``np.random.RandomState()`` and ``random.Random()``
    called without a seed (or with ``None``), and pandas ``DataFrame.sample`` /
    ``Series.sample`` without ``random_state`` unless numpy's global generator is seeded
    first (pandas falls back to it). Fresh generators are not covered by global seeding:
    ``default_rng()`` draws its seed from the operating system every time.

    High confidence when what they draw reaches a split, a fit or a score; medium when it is
    only displayed.

Why is this bad?
    The rows sampled, the noise added and the order of shuffled data change on every run,
    so datasets, models and metrics cannot be reproduced or compared between runs.

Example
    rng = np.random.default_rng()
    sample = df.sample(frac=0.1)

Use instead
    rng = np.random.default_rng(42)
    sample = df.sample(frac=0.1, random_state=42)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from pytest_mlci.analysis import HIGH, MEDIUM, Analysis, Finding

CODE = "MLC102"
FAMILY = "nondeterminism"
MESSAGE = "random generator or sample without a seed; pass a seed / random_state"

GENERATORS = {
    "numpy.random.default_rng": "seed",
    "numpy.random.RandomState": "seed",
    "random.Random": "x",
}


def _unseeded(call: ast.Call, keyword: str) -> bool:
    given = (
        call.args[0]
        if call.args
        else next((k.value for k in call.keywords if k.arg == keyword), None)
    )
    if any(k.arg is None for k in call.keywords) or any(
        isinstance(a, ast.Starred) for a in call.args
    ):
        return False
    return given is None or (isinstance(given, ast.Constant) and given.value is None)


def check(analysis: Analysis) -> Iterator[Finding]:
    consumed = {id(draw.node) for draw in analysis.flow.random_consumed}  # split, fit or score

    def confidence(node: ast.AST) -> str:
        """High when what it draws reaches a split, a fit or a score; medium when only shown."""
        return HIGH if id(node) in consumed else MEDIUM

    for call in analysis.flow.calls:
        if call.qualname in GENERATORS:
            if _unseeded(call.node, GENERATORS[call.qualname]):
                name = call.qualname.replace("numpy.", "np.")
                yield analysis.finding(
                    CODE,
                    f"{name}() without a seed draws a new seed every run; pass one",
                    call.node,
                    confidence(call.node),
                )
        elif call.method == "sample" and call.receiver is not None:
            keywords = {k.arg for k in call.node.keywords}
            pandas = "pandas" in call.receiver.flags or "frac" in keywords
            if not pandas or "random_state" in keywords or None in keywords:
                continue
            if len(call.node.args) >= 5:  # random_state given positionally
                continue
            if analysis.seeds.covers("numpy", call):
                continue
            yield analysis.finding(
                CODE,
                ".sample() without random_state picks different rows every run; "
                "pass random_state=<int>",
                call.node,
                confidence(call.node),
            )
