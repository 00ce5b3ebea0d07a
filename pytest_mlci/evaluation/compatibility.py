"""Can the production model read the candidate's evaluation data? Said in words.

A new feature set (200 columns become 300) or another input format leaves production unable
to score the data the candidate is judged on. That is not a crash of the evaluation: the
absolute gates can still be judged on the candidate, and the baseline gates follow the
``on_incompatible_baseline`` policy. This module only compares what a fitted model says it
expects (scikit-learn's ``feature_names_in_`` / ``n_features_in_``) with the data's columns
and phrases the difference; whether a mismatch is fatal is decided here only where the model
cannot select its own columns, otherwise by trying to score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SHOWN = 10  # column names listed per kind before "... and N more"


def expected_inputs(model: Any) -> tuple[list[str] | None, int | None]:
    """The column names (if fitted on named columns) and the count the model was fitted on."""
    names = getattr(model, "feature_names_in_", None)
    count = getattr(model, "n_features_in_", None)
    named = [str(n) for n in names] if names is not None else None
    if named is not None:
        return named, len(named)
    return None, int(count) if count is not None else None


def describe_mismatch(model: Any, columns: Sequence[str] | int, *, who: str) -> str | None:
    """``"production v1 expects 200 features; the evaluation data has 300: ..."`` or None.

    None when the model declares nothing, or declares exactly these columns in this order.
    ``columns`` is a count alone for an array (numpy or sparse) without column names: then
    only the counts are compared.
    """
    names, count = expected_inputs(model)
    if count is None:
        return None
    width = columns if isinstance(columns, int) else len(columns)
    head = f"{who} expects {count} features; the evaluation data has {width}"
    if names is None or isinstance(columns, int):
        return head if count != width else None
    columns = [str(c) for c in columns]
    if names == columns:
        return None
    missing = [n for n in names if n not in set(columns)]
    extra = [c for c in columns if c not in set(names)]
    parts = []
    if missing:
        parts.append(f"missing columns {_listed(missing)}")
    if extra:
        parts.append(f"columns it was not trained on {_listed(extra)}")
    if not parts:
        parts.append("the same columns in another order")
    return f"{head}: {', '.join(parts)}"


def definitely_unreadable(model: Any, columns: Sequence[str] | int) -> bool:
    """True when the mismatch alone proves the model cannot read the data.

    A model that picks its columns by name (a scikit-learn Pipeline starting with a
    ColumnTransformer, or a ColumnTransformer) may ignore extra or dropped columns, so for it
    only an attempt to score decides. Any other model fitted on other columns cannot be fed
    these: scoring it anyway would at best raise and at worst read the wrong columns.
    """
    names, count = expected_inputs(model)
    if count is None:
        return False
    if isinstance(columns, int):  # an unnamed array: a model reads it by position only
        return count != columns
    if names is None:
        return count != len(columns)
    if _selects_columns_by_name(model):
        return False
    return set(names) != {str(c) for c in columns}


def _selects_columns_by_name(model: Any) -> bool:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline) and model.steps:
        model = model.steps[0][1]
    return isinstance(model, ColumnTransformer)


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:SHOWN])
    more = f", ... and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return f"[{shown}{more}]"
