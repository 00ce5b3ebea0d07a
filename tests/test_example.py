"""The bundled example's own pieces: generator knobs, schema, split, train, save and evaluate.

The quickstart and the end-to-end tests build on these; if a knob stopped doing what it says
(drift that does not drift, bias that does not bias), every test that injects a failure with it
would pass for the wrong reason. So each knob is checked here directly, on small samples.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from example import evaluate as evaluate_stage
from example import prepare as prepare_stage
from example import train as train_stage
from example.generate import (
    AGE_BANDS,
    BIASED_BAND,
    CATEGORICAL_COLUMNS,
    CHANNELS,
    DEVICES,
    LEAKY_COLUMN,
    NUMERIC_COLUMNS,
    PROTECTED,
    REGIONS,
    TARGET,
    generate,
)
from example.schema import EvalSchema, TrainSchema

SMALL = {**prepare_stage.DEFAULTS, "rows": 8000}


def failed_columns(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> set[str]:
    """Validate lazily and return the names of the columns that failed."""
    with pytest.raises(pa.errors.SchemaErrors) as excinfo:
        schema.validate(frame, lazy=True)
    return set(excinfo.value.failure_cases["column"].dropna().astype(str))


@pytest.fixture(scope="module")
def splits() -> dict[str, pd.DataFrame]:
    return prepare_stage.split(SMALL)


@pytest.fixture(scope="module")
def model(splits):
    return train_stage.train(splits["train"], seed=0)


# --------------------------------------------------------------------------- generator


def test_same_seed_gives_the_same_frame_and_another_seed_does_not():
    pd.testing.assert_frame_equal(generate(2000, 7), generate(2000, 7))
    assert not generate(2000, 7).equals(generate(2000, 8))


def test_columns_dtypes_and_domains():
    frame = generate(5000, 1)

    assert list(frame.columns) == [*NUMERIC_COLUMNS, *CATEGORICAL_COLUMNS, TARGET]
    for column in NUMERIC_COLUMNS:
        expected = "float64" if column in ("income", "time_on_site") else "int64"
        assert frame[column].dtype == expected, column
    assert frame[TARGET].dtype == "int64"
    assert frame["age"].between(18, 80).all()
    assert set(frame["channel"]) == set(CHANNELS)
    assert set(frame["device"]) == set(DEVICES)
    assert set(frame["region"]) == set(REGIONS)
    assert set(frame[PROTECTED]) == set(AGE_BANDS)
    assert set(frame[TARGET]) == {0, 1}
    assert not frame.isna().any().any()


def test_age_band_is_derived_from_age():
    frame = generate(3000, 2)
    bands = pd.cut(frame["age"], [17, 29, 44, 59, 80], labels=list(AGE_BANDS)).astype(str)
    assert (bands == frame[PROTECTED]).all()


def test_base_rate_is_that_of_a_marketing_funnel():
    assert 0.10 <= generate(20000, 3)[TARGET].mean() <= 0.20


def test_drift_moves_income_time_on_site_and_channel_mix():
    reference, drifted = generate(20000, 4), generate(20000, 4, drift=1.0)

    assert drifted["income"].mean() > 1.25 * reference["income"].mean()
    assert drifted["time_on_site"].mean() < 0.75 * reference["time_on_site"].mean()
    social = (drifted["channel"] == "social").mean() - (reference["channel"] == "social").mean()
    assert social > 0.10
    # Drift is a covariate shift only: columns that do not depend on it are untouched.
    pd.testing.assert_series_equal(reference["age"], drifted["age"])


def test_group_bias_lowers_the_positive_rate_of_one_band_only():
    fair, biased = generate(20000, 5), generate(20000, 5, group_bias=0.6)
    in_band = fair[PROTECTED] == BIASED_BAND

    assert biased.loc[in_band, TARGET].mean() < 0.6 * fair.loc[in_band, TARGET].mean()
    pd.testing.assert_series_equal(fair.loc[~in_band, TARGET], biased.loc[~in_band, TARGET])


def test_leakage_adds_a_noisy_copy_of_the_target_and_changes_nothing_else():
    clean, leaky = generate(5000, 6), generate(5000, 6, leakage=True)

    assert LEAKY_COLUMN not in clean.columns
    agreement = (leaky[LEAKY_COLUMN] == leaky[TARGET]).mean()
    assert 0.9 < agreement < 1.0
    pd.testing.assert_frame_equal(clean, leaky.drop(columns=[LEAKY_COLUMN]))


@pytest.mark.parametrize(
    "kwargs",
    [{"rows": 0}, {"rows": 2.5}, {"drift": -0.1}, {"group_bias": 1.5}, {"group_bias": -0.1}],
)
def test_out_of_range_knobs_are_refused(kwargs):
    arguments = {"rows": 100, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        generate(arguments.pop("rows"), arguments.pop("seed"), **arguments)


# --------------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    "knobs",
    [
        {},
        {"drift": 3.0},
        {"group_bias": 1.0},
        {"leakage": True},
        {"drift": 1.0, "group_bias": 0.5, "leakage": True},
    ],
)
def test_schemas_accept_generated_data_for_every_knob(knobs):
    frame = generate(3000, 9, **knobs)
    EvalSchema.validate(frame, lazy=True)
    TrainSchema.validate(frame, lazy=True)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("income", -1.0),
        ("income", np.inf),
        ("channel", "tv"),
        ("device", "watch"),
        ("age", 12),
        ("visits", 0),
        ("days_since_last_visit", 400),
        (TARGET, 2),
    ],
)
def test_schema_rejects_a_bad_value_and_names_its_column(column, value):
    frame = generate(200, 10)
    frame.loc[17, column] = value
    assert column in failed_columns(EvalSchema, frame)


def test_schema_rejects_missing_values():
    frame = generate(200, 11)
    frame.loc[3, "income"] = np.nan
    assert "income" in failed_columns(EvalSchema, frame)


def test_schema_rejects_an_undeclared_column():
    frame = generate(200, 12).assign(coupon_code=1)
    with pytest.raises(pa.errors.SchemaErrors, match="column 'coupon_code' not in"):
        EvalSchema.validate(frame, lazy=True)


def test_schema_rejects_an_age_band_that_contradicts_age():
    frame = generate(200, 13)
    frame.loc[0, "age"] = 25
    frame.loc[0, PROTECTED] = "60+"
    with pytest.raises(pa.errors.SchemaErrors, match="age_band"):
        EvalSchema.validate(frame, lazy=True)


def test_train_schema_needs_both_classes():
    frame = generate(200, 14).assign(**{TARGET: 0})
    EvalSchema.validate(frame, lazy=True)
    with pytest.raises(pa.errors.SchemaErrors, match="both"):
        TrainSchema.validate(frame, lazy=True)


# --------------------------------------------------------------------------- prepare


def test_split_sizes_are_deterministic_and_disjoint(splits):
    assert {name: len(frame) for name, frame in splits.items()} == {
        "train": 3200,
        "reference": 2400,
        "test": 2400,
    }
    again = prepare_stage.split(SMALL)
    for name, frame in splits.items():
        pd.testing.assert_frame_equal(frame, again[name])
    # Train and reference are one draw cut in two: no visitor is in both.
    assert splits["train"].merge(splits["reference"], how="inner").empty


def test_drift_reaches_the_test_split_only():
    drifted = prepare_stage.split({**SMALL, "drift": 1.0})
    clean = prepare_stage.split(SMALL)

    pd.testing.assert_frame_equal(drifted["reference"], clean["reference"])
    assert drifted["test"]["income"].mean() > 1.2 * drifted["reference"]["income"].mean()


def test_prepare_writes_parquet_that_passes_the_schema(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("prepare:\n  rows: 3000\n  seed: 3\n  leakage: true\n", encoding="utf-8")

    assert prepare_stage.main(["--params", str(params), "--out", str(tmp_path / "data")]) == 0

    for name in ("train", "reference", "test"):
        frame = pd.read_parquet(tmp_path / "data" / f"{name}.parquet")
        EvalSchema.validate(frame, lazy=True)
        assert LEAKY_COLUMN in frame.columns


def test_a_misspelt_param_is_an_error_not_a_silent_default(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("prepare:\n  test_fracton: 0.5\n", encoding="utf-8")
    with pytest.raises(ValueError, match="test_fracton"):
        prepare_stage.load_params(params, "prepare", prepare_stage.DEFAULTS)


# --------------------------------------------------------------------------- train and evaluate


def test_model_learns_the_signal_on_held_out_rows(model, splits):
    metrics = evaluate_stage.evaluate(model, splits["test"])

    assert metrics["roc_auc"] > 0.7
    assert metrics["roc_auc"] < 0.95  # a realistic signal, not a leak
    assert metrics["rows"] == len(splits["test"])
    assert set(metrics) == {"roc_auc", "accuracy", "f1", "precision", "recall", "log_loss", "rows"}


def test_degrade_makes_the_model_measurably_worse(model, splits):
    worse = train_stage.train(splits["train"], seed=0, degrade=0.5)

    good = evaluate_stage.evaluate(model, splits["test"])
    bad = evaluate_stage.evaluate(worse, splits["test"])
    assert bad["roc_auc"] < good["roc_auc"] - 0.1
    assert bad["f1"] < good["f1"]


def test_leaky_feature_makes_the_model_too_good_to_be_true():
    leaky = prepare_stage.split({**SMALL, "leakage": True})
    model = train_stage.train(leaky["train"], seed=0)
    assert evaluate_stage.evaluate(model, leaky["test"])["roc_auc"] > 0.95


def test_a_retrained_model_is_the_same_model_and_loads_unchanged(model, splits, tmp_path):
    from pytest_mlci.content_digest import content_digest

    first = train_stage.save(model, tmp_path / "a.skops")
    second = train_stage.save(train_stage.train(splits["train"], seed=0), tmp_path / "b.skops")
    assert content_digest(first) == content_digest(second)

    loaded = evaluate_stage.load_model(first)
    features = splits["test"].drop(columns=[TARGET])
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))


def test_train_and_evaluate_stages_write_the_model_and_metrics(tmp_path, splits):
    data, model_path = tmp_path / "data", tmp_path / "models" / "model.skops"
    prepare_stage.write(splits, data)
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  seed: 1\n  max_iter: 50\n", encoding="utf-8")

    train_args = ["--params", str(params), "--data", str(data / "train.parquet")]
    assert train_stage.main([*train_args, "--model", str(model_path)]) == 0
    out = tmp_path / "metrics" / "eval.json"
    evaluate_args = ["--model", str(model_path), "--data", str(data / "test.parquet")]
    assert evaluate_stage.main([*evaluate_args, "--out", str(out)]) == 0

    metrics = json.loads(out.read_text(encoding="utf-8"))
    assert metrics["rows"] == len(splits["test"])
    assert 0.7 < metrics["roc_auc"] < 1.0


def test_evaluating_on_one_class_fails_with_a_reason(model, splits, tmp_path):
    one_class = splits["test"][splits["test"][TARGET] == 0]
    assert math.isnan(evaluate_stage.evaluate(model, one_class)["roc_auc"])

    model_path = train_stage.save(model, tmp_path / "model.skops")
    one_class.to_parquet(tmp_path / "test.parquet")
    argv = ["--model", str(model_path), "--data", str(tmp_path / "test.parquet")]
    with pytest.raises(SystemExit, match="roc_auc undefined"):
        evaluate_stage.main([*argv, "--out", str(tmp_path / "eval.json")])


def test_dvc_run_cache_restores_are_not_reported_as_training():
    from mlci_local.training import ReproResult

    log = (
        "Stage 'prepare' didn't change, skipping\n"
        "Stage 'train' is cached - skipping run, checking out outputs\n"
        "Running stage 'evaluate':\n> python -m example.evaluate\n"
    )
    result = ReproResult(("train", "evaluate"), log)
    assert result.restored == ("train",)
    assert result.ran == ("evaluate",)
