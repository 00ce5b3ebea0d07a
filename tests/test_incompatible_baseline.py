"""Production that cannot read the candidate's data: named, absolute gates judged anyway.

A featurisation change (production fitted on other columns than the candidate's evaluation
data has) must not crash every gate. The absolute gates are judged on the candidate alone;
the baseline gates follow ``on_incompatible_baseline`` (fail by default, or inconclusive,
which fails too) with the difference said in words; production is never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlci_local.promotion import ledger_for, promote
from mlci_local.registry import Registry
from pytest_mlci.config import load_config
from pytest_mlci.errors import CheckFailed, ConfigError
from pytest_mlci.evaluation.session import INCOMPATIBLE, PRESENT, Evaluation
from pytest_mlci.gates import FAIL, INCONCLUSIVE, PASS, parse_gate
from pytest_mlci.model_io import sha256_file

REPO = Path(__file__).resolve().parents[1]


def fitted(kind: str):
    """A production model from before the featurisation change (cheap to train)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from tests.conftest import make_frame

    frame = make_frame(400, seed=5)
    y = frame["label"].to_numpy()
    if kind == "three named columns":  # the old feature set: x0..x2 only
        return LogisticRegression().fit(frame[["x0", "x1", "x2"]], y)
    if kind == "three positional columns":  # trained on an array: only a count to compare
        return LogisticRegression().fit(frame[["x0", "x1", "x2"]].to_numpy(), y)
    if kind == "pipeline needing a dropped column":  # selects 'x9', which no longer exists
        frame["x9"] = frame["x0"]
        select = ColumnTransformer([("num", "passthrough", ["x0", "x9"])])
        return make_pipeline(select, LogisticRegression()).fit(frame.drop(columns="label"), y)
    if kind == "pipeline with its own preprocessing":  # ignores the columns it dropped
        frame["legacy"] = 0.0
        select = ColumnTransformer([("num", "passthrough", ["x0", "x1", "x2"])])
        return make_pipeline(select, LogisticRegression()).fit(frame.drop(columns="label"), y)
    raise AssertionError(kind)


def in_production(project, model, *, policy: str | None = None):
    """Register ``model`` as production v1, then put the candidate back; return the config."""
    import skops.io as sio

    if policy:
        project.extra += f'on_incompatible_baseline = "{policy}"\n'
        project.write_config()
    config = load_config(project.root / "pyproject.toml")
    candidate = config.artifact.read_bytes()
    sio.dump(model, config.artifact)
    registry = Registry(config)
    version = registry.register(config.artifact, sha256_file(config.artifact), tags={})
    promote(config, registry, ledger_for(config), version.version.version, force=True,
            reason="test setup")  # fmt: skip
    config.artifact.write_bytes(candidate)
    return config


def judge(config, *gates: tuple[str, str]):
    evaluation = Evaluation(config)
    return evaluation, [evaluation.check_gate(parse_gate(m, e)) for m, e in gates]


GATES = (("roc_auc", ">= 0.7"), ("roc_auc", ">= 0.99"), ("accuracy", ">= baseline - 0.01"))


def test_absolute_gates_are_judged_and_baseline_gates_fail_naming_production(tiny_dir):
    config = in_production(tiny_dir, fitted("three named columns"))
    evaluation, (floor, too_high, vs_production) = judge(config, *GATES)
    assert (floor.verdict, too_high.verdict) == (PASS, FAIL)
    assert floor.delta is None and floor.baseline is None  # judged on the candidate alone
    assert vs_production.verdict == FAIL
    assert vs_production.message.startswith(
        "baseline incompatible, failed by on_incompatible_baseline = 'fail': production v1 "
        "expects 3 features; the evaluation data has 5: columns it was not trained on "
        "['x3', 'group']"
    )
    assert evaluation.comparable_baseline.status == INCOMPATIBLE
    assert evaluation.baseline.status == PRESENT  # production is there; it cannot read this


def test_the_inconclusive_policy_makes_baseline_gates_inconclusive_and_still_failing(tiny_dir):
    config = in_production(tiny_dir, fitted("three named columns"), policy="inconclusive")
    _, (floor, vs_production) = judge(config, GATES[0], GATES[2])
    assert floor.verdict == PASS
    assert vs_production.verdict == INCONCLUSIVE
    assert "inconclusive by on_incompatible_baseline = 'inconclusive' (fails closed)" in (
        vs_production.message
    )
    assert "production v1 expects 3 features; the evaluation data has 5" in vs_production.message


def test_a_ratchet_gate_follows_the_same_policy(tiny_dir):
    tiny_dir.extra += 'on_incompatible_baseline = "inconclusive"\n'
    tiny_dir.write_config()
    config_file = tiny_dir.root / "pyproject.toml"
    text = config_file.read_text().replace("resamples = 200", "resamples = 200\nratchet = 3")
    config_file.write_text(text)
    config = in_production(tiny_dir, fitted("three named columns"))
    _, (vs_best,) = judge(config, ("accuracy", ">= best - 0.01"))
    assert vs_best.verdict == INCONCLUSIVE
    assert "production v1 expects 3 features" in vs_best.message


def test_a_model_fitted_on_an_array_is_compared_by_its_feature_count(tiny_dir):
    config = in_production(tiny_dir, fitted("three positional columns"))
    _, (vs_production,) = judge(config, GATES[2])
    assert vs_production.verdict == FAIL
    assert vs_production.message.endswith(
        "production v1 expects 3 features; the evaluation data has 5; "
        "absolute gates are judged on the candidate alone"
    )


def test_a_scoring_error_of_production_is_an_incompatibility_too(tiny_dir):
    config = in_production(tiny_dir, fitted("pipeline needing a dropped column"))
    _, (floor, vs_production) = judge(config, GATES[0], GATES[2])
    assert floor.verdict == PASS
    assert vs_production.verdict == FAIL
    assert (
        "production v1 expects 6 features; the evaluation data has 5: missing columns ['x9']"
        in (vs_production.message)
    )
    assert "ValueError: columns are missing: {'x9'}" in vs_production.message


def test_a_pipeline_carrying_its_own_preprocessing_is_compared(tiny_dir):
    config = in_production(tiny_dir, fitted("pipeline with its own preprocessing"))
    evaluation, (vs_production,) = judge(config, ("roc_auc", ">= baseline - 0.2"))
    assert evaluation.comparable_baseline.status == PRESENT
    assert vs_production.verdict == PASS
    assert vs_production.delta is not None


def test_two_hundred_features_against_three_hundred_are_named_and_counted():
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from pytest_mlci.evaluation.compatibility import definitely_unreadable, describe_mismatch

    old = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 200))).add_prefix("f")
    model = LogisticRegression().fit(old, np.arange(40) % 2)
    new = [f"f{i}" for i in range(1, 301)]  # f0 dropped, f200..f300 added
    said = describe_mismatch(model, new, who="production v1")
    assert said == (
        "production v1 expects 200 features; the evaluation data has 300: missing columns "
        "['f0'], columns it was not trained on ['f200', 'f201', 'f202', 'f203', 'f204', 'f205', "
        "'f206', 'f207', 'f208', 'f209', ... and 91 more]"
    )
    assert definitely_unreadable(model, new)
    assert describe_mismatch(model, list(old.columns), who="production v1") is None
    assert not definitely_unreadable(model, list(old.columns))


def test_an_unknown_policy_is_a_config_error_naming_the_key(tiny_dir):
    tiny_dir.extra += 'on_incompatible_baseline = "skip"\n'
    tiny_dir.write_config()
    choices = r"\['fail', 'inconclusive'\]"
    key = "key 'tool.mlci.on_incompatible_baseline'"
    with pytest.raises(ConfigError, match=rf"{key}: 'skip' is not valid; choose one of {choices}"):
        load_config(tiny_dir.root / "pyproject.toml")


@pytest.mark.slow  # a pytest child process: ~6-9 s
def test_pytest_shows_the_gate_table_and_names_production_and_the_counts(tiny_dir):
    tiny_dir.gates = dict([GATES[0], GATES[2]])
    tiny_dir.write_config()
    in_production(tiny_dir, fitted("three named columns"))
    (tiny_dir.root / "test_user.py").write_text("def test_uses(mlci_baseline):\n    pass\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--mlci", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--mlci-report-json=report.json"],
        cwd=tiny_dir.root, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "Traceback" not in out
    table = out[out.index("mlci gates") :]
    assert "roc_auc >= 0.7" in table and "PASS" in table
    assert "accuracy >= baseline - 0.01" in table and "FAIL" in table
    assert (
        "baseline incompatible: production v1 expects 3 features; the evaluation data has 5: "
        "columns it was not trained on ['x3', 'group']"
    ) in table
    assert "ERROR test_user.py::test_uses - Failed: production v1 expects 3 features" in out
    report = json.loads((tiny_dir.root / "report.json").read_text())
    assert report["passed"] is False
    assert report["baseline"]["incompatible"].startswith("production v1 expects 3 features")


@pytest.mark.slow  # a pytest child process: ~6-9 s
def test_the_evaluate_stage_refuses_and_leaves_production_alone(tiny_dir):
    from mlci_local.pipeline import Pipeline
    from mlci_local.workspace import exit_code_for

    tiny_dir.gates = dict([GATES[0], GATES[2]])
    tiny_dir.write_config()
    config = in_production(tiny_dir, fitted("three named columns"))
    before = Registry(config).by_alias("production")
    with pytest.raises(CheckFailed) as refused:
        Pipeline(config, echo=lambda line: None).stage_evaluate()
    message = str(refused.value)
    assert message.startswith("gates failed; nothing is registered:")
    assert "accuracy >= baseline - 0.01: FAIL: baseline incompatible" in message
    assert "production v1 expects 3 features; the evaluation data has 5" in message
    assert "roc_auc" not in message  # the absolute gate was judged, and passed
    after = Registry(config).by_alias("production")
    assert (after.version, after.digest) == (before.version, before.digest)
    assert len(Registry(config).client.search_model_versions(f"name='{config.model}'")) == 1
    assert exit_code_for(refused.value) == 1  # what `mlci run` exits with
