"""MLC103: stdlib ``random``, numpy, torch or TensorFlow randomness is used but never seeded.

What it does
    Flags the first draw from a library's global random state (``random.shuffle``,
    ``np.random.rand``, ``torch.randn``, ``torch.utils.data.random_split``,
    ``DataLoader(shuffle=True)``, ``torch.nn.init.*_``, ``tf.random.uniform`` ...) in a file
    that does not seed that library before it. Seeding counts per library: ``random.seed``
    covers ``random``, ``np.random.seed`` numpy, ``torch.manual_seed`` torch,
    ``tf.random.set_seed`` TensorFlow; ``keras.utils.set_random_seed``,
    ``transformers.set_seed``, ``seed_everything`` and any helper whose name says ``seed``
    (defined in this file or imported) cover all of them. One finding per library per file,
    at the first unseeded use, because one seed fixes them all. Only code that runs from the
    module itself counts (top-level statements and the functions they call, including under
    ``if __name__ == "__main__":``): functions nobody in the file calls are seeded, or not,
    by their caller. Drawing a seed (``seed = random.randint(0, 2**32)``) is not flagged.

Why is this bad?
    Shuffles, splits, augmentations, weight initialisation and dropout differ between runs,
    so results cannot be reproduced and a metric gate becomes a coin toss near its threshold.

Example
    import random
    random.shuffle(rows)

Use instead
    import random
    random.seed(42)
    random.shuffle(rows)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from pytest_mlci.analysis import Analysis, CallSite, Finding, catalog

CODE = "MLC103"
FAMILY = "nondeterminism"
MESSAGE = "global random state used but never seeded; seed it once at start-up"

_SEED_CALL = {
    "random": "random.seed(...)",
    "numpy": "np.random.seed(...)",
    "torch": "torch.manual_seed(...)",
    "tensorflow": "tf.random.set_seed(...)",
}


_DETERMINISTIC_INITS = frozenset({"ones_", "zeros_", "constant_", "eye_", "dirac_"})


def _picking_a_seed(nodes: list[ast.AST]) -> set[int]:
    """Calls inside ``seed = random.randint(...)``: drawing a seed to log and then set."""
    found: set[int] = set()
    for node in nodes:
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [ast.unparse(t).lower() for t in targets]
            if any("seed" in name for name in names) and node.value is not None:
                found.update(id(n) for n in ast.walk(node.value) if isinstance(n, ast.Call))
    return found


def library_of(call: CallSite) -> str | None:
    """The library whose global random state ``call`` draws from, if it draws."""
    name = call.qualname or ""
    head, _, last = name.rpartition(".")
    if head == "random" and last in catalog.STDLIB_RANDOM_DRAWS:
        return "random"
    if head == "numpy.random" and last not in catalog.NUMPY_RANDOM_NOT_DRAWS and last.islower():
        return "numpy"
    if name in catalog.TORCH_RANDOM_DRAWS or (
        head == "torch.nn.init" and last.endswith("_") and last not in _DETERMINISTIC_INITS
    ):
        return "torch"
    if name == "torch.utils.data.DataLoader":
        keywords = {k.arg: k.value for k in call.node.keywords}
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


def check(analysis: Analysis) -> Iterator[Finding]:
    seeds = analysis.seeds
    reported: set[str] = set()
    seed_picks: set[int] | None = None
    for call in analysis.flow.calls:
        if call.order is None:
            continue  # never run from this module: its caller decides the seeding
        library = library_of(call)
        if library is None or library in reported or seeds.covers(library, call):
            continue
        if seed_picks is None:
            seed_picks = _picking_a_seed(analysis.nodes)
        if id(call.node) in seed_picks:
            continue
        reported.add(library)
        when = "before it is seeded" if seeds.any(library) else "and the file never seeds it"
        yield analysis.finding(
            CODE,
            f"{call.qualname} draws from {library}'s global random state {when}; "
            f"call {_SEED_CALL[library]} first",
            call.node,
        )
