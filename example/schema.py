"""pandera schemas for the example's data: what a valid row of ``data/*.parquet`` looks like.

``[tool.mlci.datasets.eval] schema = "example.schema:EvalSchema"`` points here, so these objects are
the contract the data-validation stage enforces before any model is trained or judged. They are
written from the generator's *domain* (ages are 18-80, there are five channels, a visitor record
has at least one visit) rather than from the values one sample happens to contain, so every knob
of :func:`example.generate.generate` passes and a genuinely broken row does not.

The schemas are strict: a column nobody declared is an error, because a new column in evaluation
data is either a schema change to review or a leak (the generator's optional leaky column is
declared, as optional, so the leakage tests reach the model instead of stopping here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from example.generate import (
    AGE_BANDS,
    CHANNELS,
    DEVICES,
    LEAKY_COLUMN,
    PROTECTED,
    REGIONS,
    TARGET,
    age_bands,
)

_finite = pa.Check(lambda s: np.isfinite(s), name="finite", error="must be finite")


def _age_band_matches_age(frame: pd.DataFrame) -> pd.Series:
    # The protected attribute is derived from age; if the two disagree, fairness-by-group
    # results would be computed on the wrong groups, silently.
    expected = age_bands(frame["age"].to_numpy())
    return pd.Series(frame[PROTECTED].to_numpy() == expected, index=frame.index)


def _columns() -> dict[str, pa.Column]:
    return {
        "age": pa.Column("int64", pa.Check.in_range(18, 80)),
        "income": pa.Column("float64", [pa.Check.ge(0), _finite]),
        "visits": pa.Column("int64", pa.Check.ge(1)),
        "time_on_site": pa.Column("float64", [pa.Check.ge(0), _finite]),
        "pages_viewed": pa.Column("int64", pa.Check.ge(1)),
        "previous_purchases": pa.Column("int64", pa.Check.ge(0)),
        "days_since_last_visit": pa.Column("int64", pa.Check.in_range(0, 365)),
        "email_opens": pa.Column("int64", pa.Check.ge(0)),
        "channel": pa.Column(str, pa.Check.isin(CHANNELS)),
        "device": pa.Column(str, pa.Check.isin(DEVICES)),
        "region": pa.Column(str, pa.Check.isin(REGIONS)),
        PROTECTED: pa.Column(str, pa.Check.isin(AGE_BANDS)),
        TARGET: pa.Column("int64", pa.Check.isin([0, 1])),
        LEAKY_COLUMN: pa.Column("int64", pa.Check.isin([0, 1]), required=False),
    }


_age_band_check = pa.Check(
    _age_band_matches_age,
    name="age_band_matches_age",
    error=f"'{PROTECTED}' must be the band that 'age' falls in",
)

EvalSchema = pa.DataFrameSchema(
    _columns(),
    checks=[_age_band_check],
    strict=True,
    name="EvalSchema",
    description="Reference and current (test) data of the conversion example.",
)

TrainSchema = pa.DataFrameSchema(
    _columns(),
    checks=[
        _age_band_check,
        # A model fitted on one class predicts that class forever, and ROC AUC is undefined.
        pa.Check(
            lambda frame: frame[TARGET].nunique() == 2,
            name="both_classes_present",
            error=f"'{TARGET}' must contain both 0 and 1 to train on",
        ),
    ],
    strict=True,
    name="TrainSchema",
    description="Training data of the conversion example.",
)
