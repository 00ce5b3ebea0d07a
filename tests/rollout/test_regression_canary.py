"""The canary judges a regression model's quality: non-inferiority of its mean error.

Residuals are built from exact normal quantiles (shuffled with a seed), so each arm's mean
absolute error is what the test says it is and no test passes or fails by the luck of a draw.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace

import numpy as np
import pytest

from mlci_local.promotion import ledger_for, promote
from mlci_local.registry import Registry
from mlci_local.rollout.controller import CanaryPolicy, policy_from_config, run_canary
from mlci_local.rollout.judge import ArmObservations, JudgeSettings, judge
from mlci_local.rollout.live import LogSource
from pytest_mlci.config import load_config
from pytest_mlci.errors import ConfigError
from pytest_mlci.gates import FAIL, INCONCLUSIVE, PASS
from pytest_mlci.model_io import sha256_file

REGRESSION = JudgeSettings(regression=True)
INTERIM = replace(REGRESSION, interim=True)


def residuals(n: int, scale: float = 1.0, seed: int = 0) -> list[float]:
    """``n`` residuals of a normal error with standard deviation ``scale``, exactly spread."""
    from scipy.stats import norm

    values = scale * norm.ppf((np.arange(n) + 0.5) / n)
    return np.random.default_rng(seed).permutation(values).tolist()


def arm(requests: int, labels: int, scale: float = 1.0, *, seed: int = 0) -> ArmObservations:
    """``requests`` served in 20 ms or so, ``labels`` of them with residuals of ``scale``."""
    rng = np.random.default_rng(seed + 100)
    latency = (20.0 * np.exp(0.4 * rng.standard_normal(requests))).tolist()
    return ArmObservations(requests, 0, latency, labelled_residual=residuals(labels, scale, seed))


def quality(judgement):
    return next(c for c in judgement.criteria if c.name == "quality")


# -- the judge --------------------------------------------------------------------------------


def test_a_candidate_20_percent_worse_in_absolute_error_fails():
    judgement = judge(arm(3000, 3000, seed=1), arm(3000, 3000, 1.2, seed=2), REGRESSION)
    found = quality(judgement)
    assert judgement.verdict == FAIL
    assert found.verdict == FAIL and found.statistic == pytest.approx(0.2, abs=1e-6)
    assert found.p_value < REGRESSION.alpha
    assert found.message.startswith(
        "significantly worse, beyond the 10% margin of production's mean absolute error: "
        "canary mean absolute error 0.9574 on 3000 labels vs control 0.7978 on 3000; excess "
        "+20.0% of the control's"
    )
    assert found.short() == "fail (absolute error +20.0%)"


def test_it_fails_already_at_an_early_step_on_a_few_hundred_labels():
    judgement = judge(arm(1500, 400, seed=1), arm(1500, 400, 1.2, seed=2), INTERIM)
    assert quality(judgement).verdict == FAIL, judgement.summary()


def test_an_equally_good_candidate_passes_before_promotion():
    judgement = judge(arm(3000, 3000, seed=1), arm(3000, 3000, seed=2), REGRESSION)
    found = quality(judgement)
    assert judgement.verdict == PASS, judgement.summary()
    assert "within the 10% margin (non-inferiority shown)" in found.message
    assert found.short() == "pass (absolute error +0.0%)"


def test_a_better_candidate_passes_and_a_slightly_worse_one_within_the_margin_passes_too():
    better = judge(arm(3000, 3000, seed=1), arm(3000, 3000, 0.9, seed=2), REGRESSION)
    assert quality(better).verdict == PASS and quality(better).statistic < 0
    within = judge(arm(20000, 20000, seed=1), arm(20000, 20000, 1.04, seed=2), REGRESSION)
    assert quality(within).verdict == PASS, within.summary()


def test_equal_models_on_too_little_evidence_are_inconclusive_before_promotion():
    judgement = judge(arm(3000, 300, seed=1), arm(3000, 300, seed=2), REGRESSION)
    assert quality(judgement).verdict == INCONCLUSIVE
    assert "not yet shown within the 10% margin" in quality(judgement).message
    # at an interim step the same evidence lets the rollout go on
    assert quality(judge(arm(3000, 300, seed=1), arm(3000, 300, seed=2), INTERIM)).verdict == PASS


def test_too_few_labels_are_inconclusive():
    judgement = judge(arm(3000, 3000, seed=1), arm(3000, 60, 1.5, seed=2), REGRESSION)
    assert judgement.verdict == INCONCLUSIVE
    assert quality(judgement).message == (
        "60 labels arrived for the canary, fewer than the 100 needed: not enough labelled "
        "traffic yet"
    )


def test_no_labels_at_all_says_quality_was_not_judged_and_holds():
    judgement = judge(arm(3000, 3000, seed=1), arm(3000, 0, seed=2), INTERIM)
    found = quality(judgement)
    assert judgement.verdict == INCONCLUSIVE  # fail closed: the step holds
    assert found.message == "quality not judged: no labels arrived for the canary (it needs 100)"
    assert found.short() == "not judged: no labels"
    source = judge(arm(3000, 3000), replace(arm(3000, 10), labelled_residual=None), INTERIM)
    assert quality(source).message == "quality not judged: no labels source for the canary"


def test_quality_switched_off_is_said_on_every_step_and_does_not_hold():
    judgement = judge(arm(3000, 0, seed=1), arm(3000, 0, seed=2), replace(INTERIM, quality=False))
    found = quality(judgement)
    assert judgement.verdict == PASS
    assert found.verdict == "not judged" and found.short() == "not judged: no labels"
    assert (
        "quality: not judged: quality not judged: no labels (judge.quality = false): "
        "judged on errors and latency only" in judgement.summary()
    )


def test_squared_error_is_configurable_and_judged_on_its_own_scale():
    settings = replace(REGRESSION, regression_error="squared")
    judgement = judge(arm(3000, 3000, seed=1), arm(3000, 3000, 1.2, seed=2), settings)
    found = quality(judgement)
    assert found.verdict == FAIL
    assert found.statistic == pytest.approx(1.2**2 - 1, rel=1e-6)
    assert "canary mean squared error" in found.message
    assert found.short() == "fail (squared error +44.0%)"


def test_the_margin_is_relative_so_the_target_units_do_not_matter():
    def scaled(observations, factor):
        return replace(
            observations, labelled_residual=[r * factor for r in observations.labelled_residual]
        )

    control, canary = arm(3000, 1000, seed=1), arm(3000, 1000, 1.08, seed=2)
    in_units = quality(judge(control, canary, REGRESSION))
    in_thousandths = quality(judge(scaled(control, 1000), scaled(canary, 1000), REGRESSION))
    assert in_units.verdict == in_thousandths.verdict
    assert in_units.statistic == pytest.approx(in_thousandths.statistic)
    assert in_units.p_value == pytest.approx(in_thousandths.p_value)


def test_a_wider_margin_lets_a_moderately_worse_candidate_through():
    control, canary = arm(20000, 20000, seed=1), arm(20000, 20000, 1.15, seed=2)
    assert quality(judge(control, canary, REGRESSION)).verdict == FAIL
    wide = replace(REGRESSION, regression_margin=0.25)
    assert quality(judge(control, canary, wide)).verdict == PASS


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda a: replace(a, labelled_residual=[*a.labelled_residual[:-1], math.nan]),
            "the canary's residuals hold NaN or infinite values",
        ),
        (
            lambda a: replace(a, labelled_residual=["x"] * 200),
            "the canary's residuals (prediction minus label) are not numbers",
        ),
        (
            lambda a: replace(a, labelled_residual=residuals(5000)),
            "the canary has 5000 labels for 3000 requests",
        ),
    ],
)
def test_unusable_residuals_are_inconclusive_never_pass(change, expected):
    judgement = judge(arm(3000, 3000, seed=1), change(arm(3000, 3000, seed=2)), REGRESSION)
    assert judgement.verdict == INCONCLUSIVE
    assert quality(judgement).message == expected


def test_a_production_without_error_leaves_a_relative_margin_undefined():
    perfect = replace(arm(3000, 0), labelled_residual=[0.0] * 3000)
    judgement = judge(perfect, arm(3000, 3000, seed=2), REGRESSION)
    assert judgement.verdict == INCONCLUSIVE
    assert "production's mean absolute error is 0 on 3000 labels" in quality(judgement).message


def test_a_classifier_is_still_judged_on_accuracy():
    control = replace(arm(3000, 0), labelled_correct=[1] * 2550 + [0] * 450)
    canary = replace(arm(3000, 0, seed=2), labelled_correct=[1] * 2550 + [0] * 450)
    judgement = judge(control, canary, JudgeSettings())
    found = quality(judgement)
    assert "canary accuracy" in found.message and "mean absolute error" not in found.message
    assert found.short() == found.verdict  # no detail: the step line reads as before


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"regression_error": "cubic"}, "judge.regression_error"),
        ({"regression_margin": 0.0}, "judge.regression_margin"),
        ({"regression_margin": 1.5}, "judge.regression_margin"),
        ({"regression_margin": math.nan}, "judge.regression_margin"),
    ],
)
def test_regression_settings_out_of_range_are_refused_naming_the_key(change, key):
    with pytest.raises(ConfigError) as raised:
        JudgeSettings(regression=True, **change)
    assert key in str(raised.value)


# -- the controller ---------------------------------------------------------------------------


class Regression:
    """Synthetic regression traffic: per batch, residuals of each arm's error scale."""

    def __init__(self, *, scales=(1.0, 1.0), size=4000, labelled=1.0):
        self.scales, self.size, self.labelled = scales, size, labelled
        self.batch = 0

    def batches(self, weight):
        for _ in range(10):
            self.batch += 1
            canary_n = max(int(self.size * weight), 1)
            yield (self._arm(self.size - canary_n, 0), self._arm(canary_n, 1))

    def _arm(self, n, which):
        labels = int(n * self.labelled)
        return arm(n, labels, self.scales[which], seed=self.batch * 2 + which)


@pytest.fixture
def canary_project(tiny_dir, tiny_assets):
    """Production v1 and a candidate v2 with passing evaluation and staging records."""
    config = load_config(tiny_dir.root / "pyproject.toml")
    registry, ledger = Registry(config), ledger_for(config)
    versions = []
    for source in ("good.skops", "bad.skops"):
        shutil.copy(tiny_assets / source, config.artifact)
        digest = sha256_file(config.artifact)
        versions.append(registry.register(config.artifact, digest, tags={}).version.version)
        for action in ("evaluation", "staging"):
            ledger.append(action, {"model": config.model, "digest": digest, "passed": True})
    promote(config, registry, ledger, versions[0])
    return config, registry, ledger, versions[1]


POLICY = CanaryPolicy(steps=(0.25, 0.5, 1.0), max_batches_per_step=10, judge=REGRESSION)


def test_the_controller_rolls_back_a_candidate_20_percent_worse(canary_project):
    config, registry, ledger, version = canary_project
    source = Regression(scales=(1.0, 1.2))
    outcome = run_canary(config, registry, ledger, version, source, policy=POLICY)
    assert outcome.verdict == "fail"
    assert registry.by_alias("production").version != version
    step = outcome.steps[-1]
    assert step.weight == 0.25
    assert step.line().startswith(
        "step  25%: FAIL         errors pass, latency pass, quality fail (absolute error +20.0%); "
    )
    record = ledger.find("canary", version=version)[-1]
    assert record.data["passed"] is False
    assert "quality: fail: significantly worse, beyond the 10% margin" in record.data["summary"]


def test_the_controller_promotes_an_equally_good_candidate(canary_project):
    config, registry, ledger, version = canary_project
    outcome = run_canary(config, registry, ledger, version, Regression(), policy=POLICY)
    assert outcome.verdict == "pass", [s.summary for s in outcome.steps]
    assert outcome.promoted and registry.by_alias("production").version == version
    assert "quality pass (absolute error" in outcome.steps[-1].line()


def test_the_controller_holds_when_no_labels_arrive(canary_project):
    config, registry, ledger, version = canary_project
    source = Regression(labelled=0.0)
    outcome = run_canary(config, registry, ledger, version, source, policy=POLICY)
    assert outcome.verdict == "inconclusive" and not outcome.promoted
    assert registry.by_alias("production").version != version
    assert "quality not judged: no labels" in outcome.steps[-1].line()


def test_the_controller_holds_on_too_few_labels(canary_project):
    config, registry, ledger, version = canary_project
    source = Regression(size=200, labelled=0.02)  # a few labels per batch, never 100
    policy = replace(POLICY, judge=replace(REGRESSION, min_requests=10))
    outcome = run_canary(config, registry, ledger, version, source, policy=policy)
    assert outcome.verdict == "inconclusive" and not outcome.promoted
    assert "fewer than the 100 needed" in outcome.steps[-1].summary


# -- where the residuals come from --------------------------------------------------------------


def test_the_live_source_turns_regression_labels_into_residuals(tmp_path):
    source = LogSource(tmp_path, step_seconds=60, poll_seconds=0, sleep=lambda s: None)
    with open(tmp_path / "requests.jsonl", "w") as handle:
        for request_id, arm_name, predicted in (
            ("a", "production", 2.5),
            ("b", "candidate", 4.0),
            ("c", "candidate", 1.0),
        ):
            record = {"request_id": request_id, "arm": arm_name, "error": None}
            record.update(latency_ms=3.0, predictions=[predicted])
            handle.write(json.dumps(record) + "\n")
    with open(tmp_path / "feedback.jsonl", "w") as handle:
        for request_id, label in (("a", 3.0), ("b", 3), ("c", "n/a")):
            handle.write(json.dumps({"request_id": request_id, "label": label}) + "\n")
    control, canary = source.poll()
    assert list(control.labelled_residual) == [-0.5]
    assert list(canary.labelled_residual) == [1.0]  # a label that is no number says nothing


class Constant:
    """A regression model that predicts one value for every row."""

    def __init__(self, value):
        self.value = value

    def predict(self, frame):
        return np.full(len(frame), self.value)


def test_a_replayed_log_gives_the_regression_judge_residuals():
    from mlci_local.rollout.replay import ReplaySource

    records = [{"request_id": f"r{i}", "features": {"x": 1.0}, "label": 2.0} for i in range(4)]
    records.append({"request_id": "r9", "features": {"x": 1.0}, "label": "n/a"})
    source = ReplaySource(records, Constant(1.5), Constant(2.5), task="regression")
    ((control, canary),) = list(source.batches(1.0))  # all traffic to the candidate
    assert control.requests == 0 and list(control.labelled_residual) == []
    assert list(canary.labelled_residual) == [0.5] * 4
    assert canary.labelled_correct is None


REGRESSION_CONFIG = """\
[tool.mlci]
model = "houses"
task = "{task}"
target = "y"
artifact = "models/model.skops"

[tool.mlci.datasets.eval]
path = "data/test.parquet"

[tool.mlci.canary]
judge = {judge}
"""


def regression_project(root, judge_table="{}", task="regression"):
    import pandas as pd

    (root / "data").mkdir(exist_ok=True)
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.5, 2.5, 3.5]}).to_parquet(
        root / "data" / "test.parquet"
    )
    text = REGRESSION_CONFIG.replace("{task}", task).replace("{judge}", judge_table)
    (root / "pyproject.toml").write_text(text)
    return root / "pyproject.toml"


def test_a_regression_project_gets_a_regression_judge_with_its_settings(tmp_path):
    path = regression_project(tmp_path, '{ regression_error = "squared", regression_margin = 0.2 }')
    settings = policy_from_config(load_config(path)).judge
    assert (settings.regression, settings.regression_error, settings.regression_margin) == (
        True,
        "squared",
        0.2,
    )
    default = policy_from_config(load_config(regression_project(tmp_path))).judge
    assert (default.regression_error, default.regression_margin) == ("absolute", 0.1)


@pytest.mark.parametrize(
    ("task", "table", "key", "says"),
    [
        (
            "regression",
            '{ regression_error = "cubic" }',
            "canary.judge.regression_error",
            "'cubic' is not valid; use \"absolute\"",
        ),
        (
            "regression",
            "{ regression_margin = 0 }",
            "canary.judge.regression_margin",
            "must be above 0.0 and at most 1.0",
        ),
        (
            "regression",
            "{ regression_margin = 2 }",
            "canary.judge.regression_margin",
            "e.g. regression_margin = 0.1",
        ),
        (
            "regression",
            "{ quality_margin = 0.02 }",
            "canary.judge.quality_margin",
            "use regression_margin = 0.1 (10 %) instead",
        ),
        (
            "binary_classification",
            "{ regression_margin = 0.1 }",
            "canary.judge.regression_margin",
            "applies to task = 'regression' only",
        ),
        (
            "multiclass",
            '{ regression_error = "squared" }',
            "canary.judge.regression_error",
            "applies to task = 'regression' only",
        ),
    ],
)
def test_quality_keys_that_do_not_fit_are_refused_naming_the_key(tmp_path, task, table, key, says):
    with pytest.raises(ConfigError) as raised:
        load_config(regression_project(tmp_path, table, task))
    message = str(raised.value)
    assert key in message and says in message, message


def test_the_in_run_traffic_sends_regression_labels(tmp_path):
    from mlci_local.rollout.traffic import sample_rows

    rows, labels = sample_rows(load_config(regression_project(tmp_path)))
    assert rows == [{"x": 1.0}, {"x": 2.0}, {"x": 3.0}]
    assert labels == [1.5, 2.5, 3.5]
