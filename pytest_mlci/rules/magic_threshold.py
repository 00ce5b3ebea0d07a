"""MLC901 (opt-in): a decision threshold is a magic number in the code.

What it does
    Flags comparisons of predicted probabilities or scores against a literal between 0 and 1:
    ``model.predict_proba(X)[:, 1] > 0.37``, ``np.where(proba >= 0.5, 1, 0)``,
    ``torch.sigmoid(logits) > 0.5``, or any value whose name says ``proba``/``prob``/
    ``score``/``logit``/``confidence``. Only reported when selected
    (``select = ["MLC901"]`` or ``"MLC9"``), because a literal 0.5 is often fine in
    exploratory code.

Why is this bad?
    The threshold decides what the model does in production as much as the weights do.
    Buried in code it is not versioned with the model, not tuned on validation data, and
    not visible in the model card or in a review of the training parameters.

Example
    approved = model.predict_proba(X)[:, 1] > 0.37

Use instead
    threshold = params["decision_threshold"]  # chosen on validation data, stored with the model
    approved = model.predict_proba(X)[:, 1] > threshold
"""

from __future__ import annotations

from collections.abc import Iterator

from pytest_mlci.analysis import Analysis, Finding

CODE = "MLC901"
FAMILY = "opt-in"
MESSAGE = "decision threshold hard-coded; load it from parameters stored with the model"


def check(analysis: Analysis) -> Iterator[Finding]:
    seen = set()
    for constant in analysis.flow.thresholds:
        if id(constant) in seen:
            continue
        seen.add(id(constant))
        yield analysis.finding(
            CODE,
            f"decision threshold {constant.value} is hard-coded; load it from parameters "
            "stored with the model",
            constant,
        )
