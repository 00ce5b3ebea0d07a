"""The metrics people report: average precision, top-k accuracy and the project's own metrics.

Each is checked against sklearn (or the user's function) on the same data, gated with the
usual syntax, paired with production for baseline gates, and refused with the config key
named when it is misconfigured.
"""

from __future__ import annotations

import shutil
import sys
import textwrap

import numpy as np
import pytest

from pytest_mlci.config import load_config
from pytest_mlci.errors import CheckFailed, ConfigError
from pytest_mlci.evaluation.session import Evaluation
from pytest_mlci.gates import FAIL, PASS, parse_gate

USER_METRICS = '''
import numpy as np
from sklearn.metrics import average_precision_score


def ap(y_true, y_score):
    """The project's headline metric, written by the project."""
    return average_precision_score(y_true, y_score)


def precision_at_100(y_true, y_score):
    """Share of positives among the 100 highest-scored rows."""
    top = np.argsort(-np.asarray(y_score))[:100]
    return float(np.asarray(y_true)[top].mean())


def broken(y_true, y_score):
    raise ValueError("columns do not line up")


def undefined(y_true, y_score):
    return float("nan")


def words(y_true, y_score):
    return "high"
'''


@pytest.fixture(autouse=True)
def _fresh_metrics_module():
    """Each test's project has its own tiny_metrics.py: never reuse another test's import."""
    sys.modules.pop("tiny_metrics", None)
    yield
    sys.modules.pop("tiny_metrics", None)


def use_metrics(project, metrics: dict[str, str], gates: dict[str, str]) -> None:
    """Write tiny_metrics.py, a [tool.mlci.metrics] table and the gates into the project."""
    (project.root / "tiny_metrics.py").write_text(USER_METRICS)
    project.gates = gates
    project.write_config()
    config = project.root / "pyproject.toml"
    lines = "\n".join(f"{name} = {value}" for name, value in metrics.items())
    config.write_text(config.read_text() + f"\n[tool.mlci.metrics]\n{lines}\n")


def run(pytester, *args):
    return pytester.runpytest("--mlci", "-p", "no:cacheprovider", *args)


def scores(config) -> tuple[np.ndarray, np.ndarray]:
    """The labels and positive-class scores of the configured candidate, computed here."""
    import pandas as pd
    import skops.io as sio

    model = sio.load(config.artifact, trusted=sio.get_untrusted_types(file=config.artifact))
    frame = pd.read_parquet(config.eval_dataset.path)
    proba = model.predict_proba(frame.drop(columns=["label"]))
    return frame["label"].to_numpy(), proba[:, list(model.classes_).index(1)]


# ------------------------------------------------------------------ average precision


def test_average_precision_equals_sklearns_on_the_evaluation_data(tiny_dir):
    from sklearn.metrics import average_precision_score

    config = load_config(tiny_dir.root / "pyproject.toml")
    y, score = scores(config)
    estimate = Evaluation(config).estimate("average_precision")[0]
    assert estimate.value == pytest.approx(average_precision_score(y, score), abs=1e-12)
    assert estimate.low < estimate.value < estimate.high


def test_an_average_precision_gate_passes_and_fails_by_its_threshold(pytester, tiny_project):
    tiny_project.gates = {}
    tiny_project.write_config()
    config = pytester.path / "pyproject.toml"  # [tool.mlci.gates] is its last table
    config.write_text(config.read_text() + "average_precision = ['>= 0.7', '>= 0.99']\n")
    result = run(pytester, "-v")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*mlci::gate::average_precision >= 0.7 PASSED*",
            "*mlci::gate::average_precision >= 0.99 FAILED*",
            "FAILED: average_precision 0.8*whole interval fails >= 0.99",
        ]
    )


def test_average_precision_of_one_class_is_nan_and_fails(tiny_dir):
    import pandas as pd

    data = tiny_dir.root / "data" / "test.parquet"
    frame = pd.read_parquet(data)
    frame[frame["label"] == 0].to_parquet(data)
    result = Evaluation(load_config(tiny_dir.root / "pyproject.toml")).check_gate(
        parse_gate("average_precision", ">= 0.1")
    )
    assert result.verdict == FAIL
    assert "average_precision is NaN" in result.message


# ------------------------------------------------------------------ top-k accuracy


@pytest.fixture(scope="module")
def multiclass_assets(tmp_path_factory):
    """Five overlapping classes: top-1 is often wrong, top-3 mostly right."""
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    base = tmp_path_factory.mktemp("multiclass")
    rng = np.random.default_rng(3)

    def frame(rows: int):
        label = rng.integers(0, 5, rows)
        features = rng.normal(size=(rows, 3)) + np.stack([label * 0.6, -label * 0.3, 0 * label], 1)
        data = pd.DataFrame(features, columns=["x0", "x1", "x2"])
        data["label"] = np.array(["ant", "bee", "cat", "dog", "eel"])[label]
        return data

    train, test = frame(3000), frame(1500)
    test.to_parquet(base / "test.parquet")
    model = LogisticRegression(max_iter=500).fit(train.drop(columns=["label"]), train["label"])
    sio.dump(model, base / "model.skops")
    return base


@pytest.fixture
def multiclass(tmp_path, multiclass_assets):
    """A multiclass project directory; returns a function writing its gates."""
    tmp_path = tmp_path / "animals"
    (tmp_path / "data").mkdir(parents=True)
    (tmp_path / "models").mkdir()
    shutil.copy(multiclass_assets / "test.parquet", tmp_path / "data" / "test.parquet")
    shutil.copy(multiclass_assets / "model.skops", tmp_path / "models" / "model.skops")

    def configure(gates: str) -> object:
        (tmp_path / "pyproject.toml").write_text(
            textwrap.dedent(
                """\
                [tool.mlci]
                model = "animals"
                task = "multiclass"
                target = "label"
                artifact = "models/model.skops"
                on_missing_baseline = "allow-first"

                [tool.mlci.datasets.eval]
                path = "data/test.parquet"

                [tool.mlci.evaluation]
                resamples = 200

                [tool.mlci.gates]
                """
            )
            + gates
        )
        return load_config(tmp_path / "pyproject.toml")

    return configure


def test_top_k_accuracy_equals_sklearns_and_top_1_is_accuracy(multiclass):
    import pandas as pd
    import skops.io as sio
    from sklearn.metrics import top_k_accuracy_score

    config = multiclass('top_3_accuracy = ">= 0.9"\n')
    model = sio.load(config.artifact, trusted=sio.get_untrusted_types(file=config.artifact))
    frame = pd.read_parquet(config.eval_dataset.path)
    proba = model.predict_proba(frame.drop(columns=["label"]))
    evaluation = Evaluation(config)
    for k in (1, 2, 3):
        expected = top_k_accuracy_score(frame["label"], proba, k=k, labels=model.classes_)
        assert evaluation.estimate(f"top_{k}_accuracy")[0].value == pytest.approx(expected)
    assert evaluation.estimate("top_1_accuracy")[0].value == pytest.approx(
        evaluation.estimate("accuracy")[0].value
    )


def test_a_top_k_gate_passes_and_fails_by_its_threshold(multiclass):
    config = multiclass("top_3_accuracy = ['>= 0.8', '>= 0.95']\n")
    evaluation = Evaluation(config)
    floor, perfect = evaluation.gates()
    assert floor.text == "top_3_accuracy >= 0.8"
    assert evaluation.check_gate(floor).verdict == PASS
    failed = evaluation.check_gate(perfect)
    assert failed.verdict == FAIL
    assert "whole interval fails >= 0.95" in failed.message


def test_top_k_survives_a_resample_that_misses_a_rare_class(multiclass):
    """Without the class labels sklearn refuses a resample lacking a class; with them it
    scores it, so a rare class cannot crash the interval."""
    import pandas as pd

    config = multiclass("top_2_accuracy = '>= 0.5'\n")
    frame = pd.read_parquet(config.eval_dataset.path)
    rare = pd.concat([frame[frame["label"] != "eel"], frame[frame["label"] == "eel"].head(1)])
    rare.to_parquet(config.eval_dataset.path)
    estimate = Evaluation(config).estimate("top_2_accuracy")[0]
    assert estimate.has_interval and estimate.low < estimate.value < estimate.high


def test_top_k_is_refused_for_binary_and_a_typo_lists_the_known_metrics(tiny_dir, multiclass):
    tiny_dir.set_gate("top_3_accuracy", ">= 0.9")
    with pytest.raises(ConfigError, match="unknown metric 'top_3_accuracy' for task binary"):
        Evaluation(load_config(tiny_dir.root / "pyproject.toml")).gates()
    config = multiclass("top3_accuracy = '>= 0.9'\n")
    with pytest.raises(ConfigError, match=r"is written top_<k>_accuracy, e\.g\. top_3_accuracy"):
        Evaluation(config).gates()
    config = multiclass("zzz = '>= 0.9'\n")
    with pytest.raises(ConfigError, match=r"known: accuracy, .*top_<k>_accuracy \(e.g. top_3_"):
        Evaluation(config).gates()
    config = multiclass("top_0_accuracy = '>= 0.9'\n")
    with pytest.raises(ConfigError, match="k must be at least 1"):
        Evaluation(config).gates()


# ------------------------------------------------------------------ user metrics


def test_a_user_metric_equals_the_users_function_on_the_scores(tiny_dir):
    from sklearn.metrics import average_precision_score

    use_metrics(tiny_dir, {"my_ap": '"tiny_metrics:ap"'}, {"my_ap": ">= 0.7"})
    config = load_config(tiny_dir.root / "pyproject.toml")
    y, score = scores(config)
    evaluation = Evaluation(config)
    assert evaluation.estimate("my_ap")[0].value == pytest.approx(
        average_precision_score(y, score), abs=1e-12
    )
    assert (
        evaluation.estimate("my_ap")[0].value == evaluation.estimate("average_precision")[0].value
    )


def test_user_metric_gates_pass_and_fail_in_pytest(pytester, tiny_project):
    use_metrics(
        tiny_project,
        {"my_ap": '"tiny_metrics:ap"', "p_at_100": '"tiny_metrics:precision_at_100"'},
        {"my_ap": ">= 0.99", "p_at_100": ">= 0.9"},
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*mlci::gate::my_ap >= 0.99 FAILED*",
            "*mlci::gate::p_at_100 >= 0.9 PASSED*",
            "FAILED: my_ap 0.8*whole interval fails >= 0.99",
        ]
    )


def test_a_baseline_gate_on_a_user_metric_is_paired_with_production(tiny_dir, tiny_assets):
    from mlci_local.promotion import ledger_for, promote
    from mlci_local.registry import Registry
    from pytest_mlci.model_io import sha256_file

    use_metrics(tiny_dir, {"my_ap": '"tiny_metrics:ap"'}, {"my_ap": ">= baseline - 0.01"})
    config = load_config(tiny_dir.root / "pyproject.toml")
    shutil.copy(tiny_assets / "bad.skops", config.artifact)  # production: the noisy model
    registry = Registry(config)
    version = registry.register(config.artifact, sha256_file(config.artifact), tags={})
    promote(config, registry, ledger_for(config), version.version.version, force=True,
            reason="test setup")  # fmt: skip
    gate = parse_gate("my_ap", ">= baseline - 0.01")

    shutil.copy(tiny_assets / "good.skops", config.artifact)
    better = Evaluation(config).check_gate(gate)
    assert better.verdict == PASS
    assert better.delta.has_interval and better.delta.low < better.delta.value < better.delta.high
    assert better.delta.value == pytest.approx(better.candidate.value - better.baseline)
    assert "my_ap delta vs baseline" in better.message

    # The other way round: production is the good model now, the noisy one is refused.
    version = registry.register(config.artifact, sha256_file(config.artifact), tags={})
    promote(config, registry, ledger_for(config), version.version.version, force=True,
            reason="test setup")  # fmt: skip
    shutil.copy(tiny_assets / "bad.skops", config.artifact)
    worse = Evaluation(config).check_gate(gate)
    assert worse.verdict == FAIL
    assert worse.delta.high < -0.01
    assert "whole interval fails" in worse.message


def test_a_user_metric_that_returns_nan_fails_closed(tiny_dir):
    use_metrics(tiny_dir, {"undefined": '"tiny_metrics:undefined"'}, {"undefined": ">= 0"})
    evaluation = Evaluation(load_config(tiny_dir.root / "pyproject.toml"))
    result = evaluation.check_gate(evaluation.gates()[0])
    assert result.verdict == FAIL
    assert "undefined is NaN; a metric that cannot be computed never passes" in result.message


def test_a_user_metric_that_raises_names_the_key_and_the_function(pytester, tiny_project):
    use_metrics(tiny_project, {"aligned": '"tiny_metrics:broken"'}, {"aligned": ">= 0.5"})
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=2)  # the gate and the evaluation status
    result.stdout.fnmatch_lines(
        [
            "user metric [[]tool.mlci.metrics[]] aligned = 'tiny_metrics:broken' raised "
            "ValueError: columns do not line up",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_user_metric_that_returns_no_number_is_refused(tiny_dir):
    use_metrics(tiny_dir, {"words": '"tiny_metrics:words"'}, {"words": ">= 0.5"})
    evaluation = Evaluation(load_config(tiny_dir.root / "pyproject.toml"))
    with pytest.raises(CheckFailed, match="tiny_metrics:words' returned 'high'; it must return"):
        evaluation.check_gate(evaluation.gates()[0])


def test_a_user_metric_that_cannot_be_imported_exits_2_naming_the_key(pytester, tiny_project):
    use_metrics(tiny_project, {"my_ap": '"tiny_metrics:average_prec"'}, {"my_ap": ">= 0.7"})
    result = run(pytester)
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        ["*key 'metrics.my_ap': module 'tiny_metrics' has no 'average_prec'*"]
    )
    use_metrics(tiny_project, {"my_ap": '"tiny_metricz:ap"'}, {"my_ap": ">= 0.7"})
    result = run(pytester)
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*key 'metrics.my_ap': cannot import 'tiny_metricz'*"])


def test_an_unknown_gate_metric_lists_user_metrics_among_the_known(tiny_dir):
    use_metrics(tiny_dir, {"p_at_100": '"tiny_metrics:precision_at_100"'}, {"zzz": ">= 0.5"})
    with pytest.raises(ConfigError, match=r"unknown metric 'zzz'.*known: .*average_precision.*"
                       r"p_at_100"):  # fmt: skip
        Evaluation(load_config(tiny_dir.root / "pyproject.toml")).gates()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('roc_auc = "tiny_metrics:ap"', "key 'tool.mlci.metrics.roc_auc': 'roc_auc' is a built-in"),
        ('my_ap = "tiny_metrics.ap"', "key 'tool.mlci.metrics.my_ap': must name a function as"),
        ("my_ap = 3", "key 'tool.mlci.metrics.my_ap': must name a function as 'module:function'"),
        (
            'my_ap = { function = "tiny_metrics:ap", greater = true }',
            "key 'tool.mlci.metrics.my_ap.greater': unknown key",
        ),
    ],
)
def test_a_metrics_table_mistake_exits_2_naming_the_key(tiny_dir, monkeypatch, entry, message):
    from click.testing import CliRunner

    from mlci_local.cli import cli

    config = tiny_dir.root / "pyproject.toml"
    config.write_text(config.read_text() + f"\n[tool.mlci.metrics]\n{entry}\n")
    monkeypatch.chdir(tiny_dir.root)
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_lower_is_better_user_metric_is_declared_in_the_table_form(tiny_dir):
    use_metrics(
        tiny_dir,
        {"misses": '{ function = "tiny_metrics:ap", greater_is_better = false }'},
        {"misses": "<= 1"},
    )
    config = load_config(tiny_dir.root / "pyproject.toml")
    assert config.metrics["misses"].greater_is_better is False
    assert Evaluation(config).metric("misses").greater_is_better is False


def test_editing_a_user_metric_invalidates_its_cached_estimate(tiny_dir):
    use_metrics(tiny_dir, {"p_at_100": '"tiny_metrics:precision_at_100"'}, {"p_at_100": ">= 0.5"})
    config = load_config(tiny_dir.root / "pyproject.toml")
    first = Evaluation(config).estimate("p_at_100")[0]
    assert Evaluation(config).estimate("p_at_100")[0] == first  # read back from the cache
    module = tiny_dir.root / "tiny_metrics.py"
    module.write_text(module.read_text().replace("[:100]", "[-100:]"))  # the 100 lowest now
    sys.modules.pop("tiny_metrics", None)  # a new pytest process imports the edited file
    assert Evaluation(config).estimate("p_at_100")[0].value < first.value


def test_a_baselines_class_columns_are_put_in_the_candidates_order():
    from pytest_mlci.evaluation.scoring import align_columns as _align_columns

    proba = np.array([[0.7, 0.3], [0.2, 0.8]])  # a production model that knew 'cat', 'ant'
    aligned = _align_columns(proba, ["cat", "ant"], np.array(["ant", "bee", "cat"]))
    assert aligned.tolist() == [[0.3, 0.0, 0.7], [0.8, 0.0, 0.2]]
