"""Models in the flavours people train: each loaded by its own library, judged by the same gates.

Every flavour is a real small model of that library, trained here on the tiny project's data:
scikit-learn through skops and pickle, native XGBoost and LightGBM files, MLflow model
directories (skops scikit-learn, XGBoost, a LightGBM Booster, a cloudpickled estimator, a
``python_function`` model) and a user's ``predict`` function. Each must pass a gate it meets
and fail one it does not, and the report must say how its labels were obtained.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from pytest_mlci.config import load_config
from pytest_mlci.errors import ConfigError, DataError
from pytest_mlci.evaluation.session import Evaluation
from pytest_mlci.gates import FAIL, PASS, parse_gate

FEATURES = ["x0", "x1", "x2", "x3"]


def write_config(root: Path, artifact: str, extra: str = "") -> None:
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [tool.mlci]
            model = "flavoured"
            task = "binary_classification"
            target = "label"
            artifact = "{artifact}"
            on_missing_baseline = "allow-first"
            {extra}
            [tool.mlci.datasets.eval]
            path = "data/test.parquet"
            features = {json.dumps(FEATURES)}

            [tool.mlci.evaluation]
            resamples = 200

            [tool.mlci.gates]
            roc_auc = ">= 0.7"
            """
        )
    )


@pytest.fixture(scope="module")
def training():
    """The tiny project's training rows: X (a DataFrame of the four numbers) and y."""
    from tests.conftest import make_frame

    frame = make_frame(3000, seed=1)
    return frame[FEATURES], frame["label"].to_numpy()


def _pyfunc_model_class():
    import mlflow.pyfunc

    class Scores(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            import skops.io as sio

            self.model = sio.load(context.artifacts["estimator"])

        def predict(self, context, model_input, params=None):
            return self.model.predict_proba(model_input)[:, 1]

    return Scores


def build(kind: str, root: Path, X, y) -> tuple[str, str]:
    """Write a model of ``kind`` under ``root/models``; return (artifact, extra config)."""
    from sklearn.linear_model import LogisticRegression

    models = root / "models"
    models.mkdir(exist_ok=True)
    logistic = LogisticRegression(max_iter=500).fit(X, y)
    if kind == "skops":
        import skops.io as sio

        sio.dump(logistic, models / "model.skops")
        return "models/model.skops", ""
    if kind == "pickle":
        import joblib

        joblib.dump(logistic, models / "model.joblib")
        return "models/model.joblib", "allow_pickle = true"
    if kind in ("xgboost-ubj", "xgboost-json"):
        import xgboost

        model = xgboost.XGBClassifier(n_estimators=30, max_depth=3).fit(X, y)
        name = "model.ubj" if kind == "xgboost-ubj" else "model.json"
        model.save_model(models / name)
        return f"models/{name}", ""
    if kind == "lightgbm":
        import lightgbm

        model = lightgbm.LGBMClassifier(n_estimators=30, verbose=-1).fit(X, y)
        model.booster_.save_model(models / "model.txt")
        return "models/model.txt", ""
    if kind.startswith("mlflow-"):
        return build_mlflow(kind.removeprefix("mlflow-"), models / "mlflow", X, y, logistic)
    if kind == "custom":
        import skops.io as sio

        sio.dump(logistic, models / "model.skops")
        (root / "scoring.py").write_text(
            "def predict(model, X):\n    return model.predict_proba(X)[:, 1]\n"
        )
        return "models/model.skops", 'predict = "scoring:predict"'
    raise AssertionError(kind)


def build_mlflow(kind: str, folder: Path, X, y, logistic) -> tuple[str, str]:
    artifact = "models/mlflow"
    if kind == "sklearn":
        import mlflow.sklearn

        mlflow.sklearn.save_model(logistic, str(folder))
        return artifact, ""
    if kind == "sklearn-cloudpickle":
        import mlflow.sklearn

        mlflow.sklearn.save_model(logistic, str(folder), serialization_format="cloudpickle")
        return artifact, "allow_pickle = true"
    if kind == "xgboost":
        import mlflow.xgboost
        import xgboost

        model = xgboost.XGBClassifier(n_estimators=30, max_depth=3).fit(X, y)
        mlflow.xgboost.save_model(model, str(folder))
        return artifact, ""
    if kind == "lightgbm-booster":
        import lightgbm
        import mlflow.lightgbm

        booster = lightgbm.train(
            {"objective": "binary", "verbose": -1}, lightgbm.Dataset(X, y), num_boost_round=30
        )
        mlflow.lightgbm.save_model(booster, str(folder))
        return artifact, ""
    if kind == "pyfunc":
        import mlflow.pyfunc
        import skops.io as sio

        estimator = folder.parent / "estimator.skops"
        sio.dump(logistic, estimator)
        mlflow.pyfunc.save_model(
            str(folder),
            python_model=_pyfunc_model_class()(),
            artifacts={"estimator": str(estimator)},
        )
        estimator.unlink()
        return artifact, "allow_pickle = true"
    raise AssertionError(kind)


FLAVOURS = [
    "skops",
    "pickle",
    "xgboost-ubj",
    "xgboost-json",
    "lightgbm",
    "mlflow-sklearn",
    "mlflow-sklearn-cloudpickle",
    "mlflow-xgboost",
    "mlflow-lightgbm-booster",
    "mlflow-pyfunc",
    "custom",
]


@pytest.mark.parametrize("kind", FLAVOURS)
def test_each_flavour_is_judged_by_the_same_gates(kind, tiny_dir, training):
    X, y = training
    artifact, extra = build(kind, tiny_dir.root, X, y)
    write_config(tiny_dir.root, artifact, extra)
    evaluation = Evaluation(load_config(tiny_dir.root / "pyproject.toml"))

    met = evaluation.check_gate(parse_gate("roc_auc", ">= 0.7"))
    missed = evaluation.check_gate(parse_gate("roc_auc", ">= 0.99"))
    assert (met.verdict, missed.verdict) == (PASS, FAIL), met.message
    assert 0.7 < met.candidate.value < 0.99
    how = evaluation.scoring["candidate"]
    if kind in ("mlflow-pyfunc", "custom"):  # one call: the probabilities, labels at 0.5
        assert how == "labels from the model's scores (argmax / 0.5 threshold)"
    else:
        assert how.startswith("labels derived from predict_proba (argmax agreed with predict")


def test_pytest_mlci_reports_the_scoring(pytester, tiny_assets, training):
    from tests.conftest import build_tiny_project

    X, y = training
    project = build_tiny_project(pytester.path, tiny_assets)
    artifact, extra = build("lightgbm", project.root, X, y)
    write_config(project.root, artifact, extra)
    result = pytester.runpytest("--mlci", "--mlci-report-json=report.json", "-p", "no:randomly")
    result.assert_outcomes(passed=2)  # the gate and the evaluation status item
    result.stdout.fnmatch_lines(
        ["candidate labels: labels derived from predict_proba (argmax agreed with predict on *"]
    )
    report = json.loads((project.root / "report.json").read_text())
    assert report["scoring"]["candidate"].startswith("labels derived from predict_proba")


def test_a_tuned_threshold_is_scored_with_the_models_own_predict(tiny_dir, training):
    """A FixedThresholdClassifier decides at 0.8, not at the argmax: deriving its labels from
    predict_proba would judge another model than the one that ships."""
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import FixedThresholdClassifier

    X, y = training
    model = FixedThresholdClassifier(LogisticRegression(max_iter=500), threshold=0.8).fit(X, y)
    (tiny_dir.root / "models").mkdir(exist_ok=True)
    sio.dump(model, tiny_dir.root / "models" / "model.skops")
    write_config(tiny_dir.root, "models/model.skops")
    evaluation = Evaluation(load_config(tiny_dir.root / "pyproject.toml"))

    predictions = evaluation.candidate_predictions
    assert predictions.how.startswith("predict called separately: it disagreed with the argmax")
    expected = (model.predict(evaluation.features) == 1).astype(np.int64)
    assert np.array_equal(predictions.y_pred, expected)


def test_a_plain_classifier_is_scored_once(tiny_dir, training, monkeypatch):
    """predict_proba runs over every row once; predict only over the checked sample."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from pytest_mlci.evaluation.scoring import CHECK_ROWS

    X, y = training
    (tiny_dir.root / "models").mkdir(exist_ok=True)
    sio.dump(LogisticRegression(max_iter=500).fit(X, y), tiny_dir.root / "models" / "model.skops")
    write_config(tiny_dir.root, "models/model.skops")
    evaluation = Evaluation(load_config(tiny_dir.root / "pyproject.toml"))
    model = evaluation.model
    rows_seen: dict[str, int] = {"predict": 0, "predict_proba": 0}
    for name in rows_seen:
        original = getattr(model, name)

        def counting(X, _name=name, _original=original):
            rows_seen[_name] += len(X)
            return _original(X)

        monkeypatch.setattr(model, name, counting)
    evaluation.candidate_predictions  # noqa: B018 - scoring is the point
    assert rows_seen == {"predict": CHECK_ROWS, "predict_proba": 2000}


def test_a_pyfunc_model_that_returns_labels_is_judged_on_labels(tiny_dir, training):
    import mlflow.pyfunc
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    class Labels(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            self.model = sio.load(context.artifacts["estimator"])

        def predict(self, context, model_input, params=None):
            return self.model.predict(model_input)

    X, y = training
    models = tiny_dir.root / "models"
    models.mkdir(exist_ok=True)
    sio.dump(LogisticRegression(max_iter=500).fit(X, y), models / "estimator.skops")
    mlflow.pyfunc.save_model(
        str(models / "mlflow"),
        python_model=Labels(),
        artifacts={"estimator": str(models / "estimator.skops")},
    )
    write_config(tiny_dir.root, "models/mlflow", "allow_pickle = true")
    evaluation = Evaluation(load_config(tiny_dir.root / "pyproject.toml"))
    accuracy = evaluation.check_gate(parse_gate("accuracy", ">= 0.6"))
    assert accuracy.verdict == PASS
    assert evaluation.scoring["candidate"] == "predict (labels only)"


# ------------------------------------------------------------------ refusals


def test_an_mlflow_model_that_unpickles_is_refused_without_allow_pickle(tiny_dir, training):
    X, y = training
    artifact, _ = build("mlflow-sklearn-cloudpickle", tiny_dir.root, X, y)
    write_config(tiny_dir.root, artifact)
    evaluation = Evaluation(load_config(tiny_dir.root / "pyproject.toml"))
    with pytest.raises(DataError) as refused:
        evaluation.model  # noqa: B018
    message = str(refused.value)
    assert "models/mlflow" in message and "model.pkl" in message
    assert "runs code; set allow_pickle = true" in message


def test_a_pickle_is_refused_without_allow_pickle(tiny_dir, training):
    X, y = training
    artifact, _ = build("pickle", tiny_dir.root, X, y)
    write_config(tiny_dir.root, artifact)
    with pytest.raises(DataError, match="pickle files run code when loaded"):
        Evaluation(load_config(tiny_dir.root / "pyproject.toml")).model  # noqa: B018


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("model.bin", b"\x00\x01", "cannot tell which kind of model 'model.bin' is"),
        ("model.ubj", b"not an xgboost model", "not a readable xgboost model"),
        ("model.txt", b"tree\nversion=v4\ngarbage", "not a readable lightgbm model"),
    ],
)
def test_an_unreadable_model_file_is_named(tiny_dir, name, content, expected):
    (tiny_dir.root / "models" / name).write_bytes(content)
    write_config(tiny_dir.root, f"models/{name}")
    with pytest.raises(DataError) as refused:
        Evaluation(load_config(tiny_dir.root / "pyproject.toml")).model  # noqa: B018
    assert expected in str(refused.value)
    assert f"models/{name}" in str(refused.value)


def test_a_folder_without_mlmodel_is_named(tiny_dir):
    (tiny_dir.root / "models" / "folder").mkdir()
    (tiny_dir.root / "models" / "folder" / "weights.bin").write_bytes(b"\x00")
    write_config(tiny_dir.root, "models/folder")
    with pytest.raises(DataError, match="a model directory without an MLmodel file"):
        Evaluation(load_config(tiny_dir.root / "pyproject.toml")).model  # noqa: B018


@pytest.mark.parametrize(
    ("extra", "key", "expected"),
    [
        ('flavour = "custom"', "predict", "is required with flavour = 'custom'"),
        ('flavour = "xgboost"\npredict = "m:f"', "flavour", "set flavour = 'custom'"),
        ('flavour = "onnx"', "flavour", "onnx"),
    ],
)
def test_flavour_keys_are_validated(tiny_dir, extra, key, expected):
    write_config(tiny_dir.root, "models/model.skops", extra)
    with pytest.raises(ConfigError) as refused:
        load_config(tiny_dir.root / "pyproject.toml")
    assert key in str(refused.value) and expected in str(refused.value)


# ------------------------------------------------------------------ registered directories


def test_a_registered_mlflow_directory_is_checked_file_by_file(tiny_dir, training):
    """Every file of the folder is in the manifest and checked on each use: an edited or an
    added file is refused, naming it."""
    from mlci_local.registry import Registry
    from pytest_mlci.artifact_check import load_verified, local_store
    from pytest_mlci.flavours import ModelPolicy
    from pytest_mlci.model_io import artifact_digest

    X, y = training
    artifact, extra = build("mlflow-xgboost", tiny_dir.root, X, y)
    write_config(tiny_dir.root, artifact, extra)
    config = load_config(tiny_dir.root / "pyproject.toml")
    registry = Registry(config)
    version = registry.register(config.artifact, artifact_digest(config.artifact), tags={}).version
    assert version.tags["mlci.artifact_file"] == "mlflow/"
    assert set(json.loads(version.tags["mlci.manifest"])) >= {"MLmodel", "model.ubj"}

    def use():
        return load_verified(
            version,
            tiny_dir.root / "cache",
            registry_uri=config.registry_uri,
            policy=ModelPolicy.from_config(config),
        )

    assert use().predict_proba(X).shape == (len(X), 2)
    store = local_store(version, config.state_dir)
    (store / "requirements.txt").write_text("xgboost==0.1\n")
    with pytest.raises(DataError, match=r"requirements.txt: sha256 .* does not match"):
        use()
    (store / "requirements.txt").unlink()
    shutil.copy(tiny_dir.root / "models" / "mlflow" / "requirements.txt", store)
    use()  # restored
    (store / "extra.py").write_text("import os\n")
    with pytest.raises(DataError, match=r"file\(s\) not in the registered manifest: extra.py"):
        use()


def test_saving_the_same_mlflow_model_again_registers_nothing(tiny_dir, training):
    """MLflow writes a new uuid and time into MLmodel on every save: not a new model."""
    from mlci_local.registry import Registry
    from pytest_mlci.model_io import artifact_digest

    X, y = training
    artifact, extra = build("mlflow-sklearn", tiny_dir.root, X, y)
    write_config(tiny_dir.root, artifact, extra)
    config = load_config(tiny_dir.root / "pyproject.toml")
    registry = Registry(config)
    first = registry.register(config.artifact, artifact_digest(config.artifact), tags={})
    shutil.rmtree(config.artifact)
    build("mlflow-sklearn", tiny_dir.root, X, y)  # the same fit, saved again
    again = registry.register(config.artifact, artifact_digest(config.artifact), tags={})
    assert (first.created, again.created) == (True, False)
    assert again.version.version == first.version.version


@pytest.mark.parametrize("kind", FLAVOURS)
def test_each_flavour_is_registered_staged_and_served_from_its_checked_files(
    kind, tiny_dir, training
):
    """What staging and `mlci serve` load is the registered version, checked file by file:
    each flavour predicts there as it did in evaluation."""
    import numpy as np

    from mlci_local.registry import Registry
    from mlci_local.rollout.router import Loaded, predict_output
    from mlci_local.staging import probe
    from pytest_mlci.artifact_check import load_verified
    from pytest_mlci.flavours import ModelPolicy
    from pytest_mlci.model_io import artifact_digest

    X, y = training
    artifact, extra = build(kind, tiny_dir.root, X, y)
    write_config(tiny_dir.root, artifact, extra)
    config = load_config(tiny_dir.root / "pyproject.toml")
    version = (
        Registry(config)
        .register(config.artifact, artifact_digest(config.artifact), tags={})
        .version
    )

    staged = probe(config, version.version)
    assert (staged.version, staged.rows, staged.errors) == (version.version, 200, 0)
    assert staged.digest == artifact_digest(config.artifact)

    served = Loaded(
        version.version,
        load_verified(
            version,
            tiny_dir.root / "cache",
            registry_uri=config.registry_uri,
            policy=ModelPolicy.from_config(config),
        ),
    )
    rows = X.head(50)
    answers, _ = predict_output(served.model, served.inputs(rows), config.task)
    assert len(answers) == 50
    # the same probabilities as the working-tree model the evaluation judged
    expected = Evaluation(config).model.predict_proba(rows)[:, 1]
    assert np.allclose(answers, expected)
