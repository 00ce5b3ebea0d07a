"""MLC104: GPU nondeterminism switched on in code that otherwise seeds for reproducibility.

What it does
    Flags ``torch.backends.cudnn.benchmark = True``, ``torch.backends.cudnn.deterministic =
    False`` and ``torch.use_deterministic_algorithms(False)`` in a file that seeds torch
    (``torch.manual_seed``, ``seed_everything``, a ``set_seed`` helper ...). A file that never
    seeds is not asking for reproducibility and is left alone here (see MLC103).

Why is this bad?
    cuDNN benchmark mode picks convolution algorithms by timing them, and several of those
    are nondeterministic; the seeds then give a false sense of reproducibility: two runs with
    the same seed still produce different weights and metrics.

Example
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True

Use instead
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from pytest_mlci.analysis import Analysis, Finding

CODE = "MLC104"
FAMILY = "nondeterminism"
MESSAGE = "nondeterministic GPU algorithms enabled in seeded code; disable benchmark mode"

_BAD_WRITES = {
    "torch.backends.cudnn.benchmark": True,
    "torch.backends.cudnn.deterministic": False,
}


def check(analysis: Analysis) -> Iterator[Finding]:
    if not analysis.seeds.any("torch"):
        return
    flow = analysis.flow
    for qualname, node, value in flow.attribute_writes:
        if qualname in _BAD_WRITES and value.const is _BAD_WRITES[qualname]:
            setting = qualname.removeprefix("torch.backends.")
            yield analysis.finding(
                CODE,
                f"{setting} = {value.const} makes seeded torch runs differ; set it to "
                f"{not value.const}",
                node,
            )
    for call in flow.calls:
        if call.qualname == "torch.use_deterministic_algorithms":
            first = call.node.args[0] if call.node.args else None
            if isinstance(first, ast.Constant) and first.value is False:
                yield analysis.finding(
                    CODE,
                    "use_deterministic_algorithms(False) in seeded code; pass True",
                    call.node,
                )
