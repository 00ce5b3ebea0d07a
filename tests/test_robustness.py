"""Robustness: generated schema-valid rows, minimal failing rows, non-causal columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from pytest_mlci.errors import CheckFailed
from pytest_mlci.evaluation.robustness import check_invariance, check_valid_outputs, row_strategy

SCHEMA = pa.DataFrameSchema(
    {
        "amount": pa.Column(float, pa.Check.in_range(0, 10_000)),
        "count": pa.Column(int, pa.Check.ge(0)),
        "kind": pa.Column(str, pa.Check.isin(["a", "b"])),
        "label": pa.Column(int, pa.Check.isin([0, 1])),
    },
    checks=pa.Check(lambda df: df["count"] <= 1000, name="count_bounded"),
    strict=True,
)


class Model:
    """A stand-in model whose behaviour each test chooses."""

    classes_ = np.array([0, 1])

    def __init__(self, score=None):
        self.score = score or (lambda row: 0.3)

    def predict_proba(self, frame):
        p = np.array([self.score(row) for _, row in frame.iterrows()], dtype=float)
        return np.column_stack([1 - p, p])

    def predict(self, frame):
        return (self.predict_proba(frame)[:, 1] >= 0.5).astype(int)


def strategy():
    return row_strategy(SCHEMA, exclude=("label",))


def test_generated_rows_are_schema_valid_and_the_target_is_left_out():
    from hypothesis import given, settings

    seen = []

    @settings(max_examples=40, derandomize=True, deadline=None, database=None)
    @given(strategy())
    def collect(row):
        SCHEMA.remove_columns(["label"]).validate(row)
        seen.append(row)

    collect()
    assert seen and all(list(row.columns) == ["amount", "count", "kind"] for row in seen)
    assert all(row["count"].iloc[0] <= 1000 for row in seen)  # frame-wide check respected


def test_a_well_behaved_model_passes():
    assert check_valid_outputs(Model(), strategy(), 50, "binary_classification") > 0


@pytest.mark.slow  # hypothesis shrinks the failing row: ~30 s
def test_a_crash_on_a_valid_row_fails_with_the_minimal_row():
    def score(row):
        if row["amount"] > 5000:
            raise ValueError("amount out of training range")
        return 0.3

    with pytest.raises(CheckFailed) as excinfo:
        check_valid_outputs(Model(score), strategy(), 100, "binary_classification")
    message = str(excinfo.value)
    assert "the model raised ValueError: amount out of training range" in message
    shrunk = float(message.split("'amount': ")[1].split(",")[0])
    assert 5000 < shrunk <= 5001  # hypothesis shrank it to the boundary


@pytest.mark.slow  # hypothesis shrinks the failing row: ~30 s
def test_nan_or_out_of_range_outputs_fail():
    with pytest.raises(CheckFailed, match="returned NaN"):
        check_valid_outputs(Model(lambda r: float("nan")), strategy(), 20, "binary_classification")
    with pytest.raises(CheckFailed, match="not probabilities"):
        check_valid_outputs(Model(lambda r: 1.5), strategy(), 20, "binary_classification")


def test_a_non_causal_column_that_moves_scores_fails_and_one_that_does_not_passes():
    frame = pd.DataFrame({"amount": [1.0, 2.0, 3.0], "count": [1, 2, 3], "kind": ["a", "b", "a"]})
    steady = Model(lambda row: 0.2 + 0.01 * row["count"])
    assert check_invariance(steady, frame, "kind", ["a", "b"], tolerance=0.05) == 0.0
    swayed = Model(lambda row: 0.9 if row["kind"] == "b" else 0.1)
    with pytest.raises(CheckFailed, match=r"changing 'kind' from '[ab]' to '[ab]' moved the score"):
        check_invariance(swayed, frame, "kind", ["a", "b"], tolerance=0.05)
