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

    Training counts as a use: a Keras model's ``fit``, a PyTorch optimizer's ``step()`` or a
    Lightning ``Trainer.fit`` in a file that never seeds TensorFlow / torch initialise weights,
    drop units and shuffle batches differently every run. A ``DataLoader`` built before the
    seed is covered by it (it shuffles when iterated).

    Confidence: high when the randomness decides which rows are held out (a shuffle, a
    permutation or ``random_split`` before a split) or trains a model; medium when it is only
    printed, plotted or used to make up data for a demo (a model fitted to random targets
    has nothing to learn or to reproduce). The finding goes to the first use that matters.

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

from pytest_mlci.analysis import HIGH, MEDIUM, Analysis, CallSite, Finding, catalog
from pytest_mlci.analysis.seeds import draws_from

CODE = "MLC103"
FAMILY = "nondeterminism"
MESSAGE = "global random state used but never seeded; seed it once at start-up"

_SEED_CALL = {
    "random": "random.seed(...)",
    "numpy": "np.random.seed(...)",
    "torch": "torch.manual_seed(...)",
    "tensorflow": "tf.random.set_seed(...)",
}


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
    return draws_from(call.qualname, call.node) if call.qualname else None


def _uses(analysis: Analysis) -> list[tuple[str, ast.AST, int | None, str, bool]]:
    """Every draw from a global random state, in source order, as (library, node, order,
    confidence, is_training). High when the randomness reaches a split, a fit or an
    evaluation, or when the file trains a model of that library (training draws too);
    medium when it is only printed, plotted or timed."""
    flow = analysis.flow
    # randomness that decides which rows are held out changes every score; randomness only
    # in the data a model is fitted on is as often a demo's dummy data as a real experiment
    splits = {id(draw.node) for draw, how in flow.random_consumed.items() if "split" in how}
    uses = []
    for call in flow.calls:
        if call.order is None:
            continue  # never run from this module: its caller decides the seeding
        library = library_of(call)
        if library is None:
            continue
        if call.qualname == "torch.utils.data.DataLoader" and analysis.seeds.any("torch"):
            continue  # a loader shuffles when iterated, after the set-up that seeds
        # random_split draws and splits at once; a shuffling loader feeds the training
        high = (
            id(call.node) in splits
            or call.qualname in catalog.HOLDOUT_SPLITS
            or (call.qualname == "torch.utils.data.DataLoader" and library in flow.trains)
        )
        uses.append((library, call.node, call.order, HIGH if high else MEDIUM, False))
    for library, trainings in flow.trains.items():
        for node, order in trainings:
            if order is not None:  # training initialises weights and drops units at random
                uses.append((library, node, order, HIGH, True))
    # in the order they run: a function's body runs when the statement calling it does
    uses.sort(key=lambda use: (use[2] or 0, getattr(use[1], "lineno", 0), use[1].col_offset))
    return uses


def check(analysis: Analysis) -> Iterator[Finding]:
    seeds = analysis.seeds
    seed_picks: set[int] | None = None
    first: dict[str, tuple[ast.AST, str, bool]] = {}
    for library, node, order, confidence, training in _uses(analysis):
        if seeds.covers_order(library, order):
            continue
        if seed_picks is None:
            seed_picks = _picking_a_seed(analysis.nodes)
        if id(node) in seed_picks:
            continue
        if library in first and (first[library][1] == HIGH or confidence == MEDIUM):
            continue  # one finding per library: the first use that matters, else the first
        first[library] = (node, confidence, training)
    for library, (node, confidence, training) in first.items():
        when = "before it is seeded" if seeds.any(library) else "and the file never seeds it"
        what = ast.unparse(node.func) if isinstance(node, ast.Call) else library
        if training:
            framework = "a Keras" if library == "tensorflow" else "a PyTorch"
            message = (
                f"{framework} model is trained ({what}) from {library}'s global random state "
                f"{when} (weight initialisation, dropout, shuffling); call "
                f"{_SEED_CALL[library]} first"
            )
        else:
            message = (
                f"{what} draws from {library}'s global random state {when}; "
                f"call {_SEED_CALL[library]} first"
            )
            if confidence == MEDIUM:
                message += " (here it is only displayed: no split, fit or score uses it)"
        yield analysis.finding(CODE, message, node, confidence)
