"""Training scripts that log their model with MLflow: the logged model is the candidate.

Each test builds a small DVC project whose ``train.py`` is written the way MLflow projects
write it (``start_run`` / ``log_params`` / ``log_metric`` / ``mlflow.sklearn.log_model``), with
``[tool.mlci.training] mlflow_model = "model"`` and no line of mlci in the script.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_mlci.config import load_config
from pytest_mlci.errors import CheckFailed, ConfigError

SCRIPT = """\
import mlflow
import mlflow.sklearn
import pandas as pd
from sklearn.linear_model import LogisticRegression

{before}
frame = pd.read_csv("data/train.csv")
X, y = frame.drop(columns="y"), frame["y"]
with mlflow.start_run():
    mlflow.log_params({{"C": 0.5, "max_iter": 200}})
    model = LogisticRegression(C=0.5, max_iter=200).fit(X, y)
    mlflow.log_metric("train_accuracy", model.score(X, y))
    mlflow.sklearn.log_model(model, name="{name}")
"""

AUTOLOG = """\
import mlflow
import pandas as pd
from sklearn.linear_model import LogisticRegression

mlflow.autolog()
frame = pd.read_csv("data/train.csv")
LogisticRegression(C=0.5, max_iter=200).fit(frame.drop(columns="y"), frame["y"])
"""

CONFIG = """\
[tool.mlci]
model = "{model}"
task = "binary_classification"
target = "y"
tier = "low"
artifact = "models/model"
allow_pickle = true
{extra}
[tool.mlci.training]
mlflow_model = "model"
{training}
[tool.mlci.datasets.eval]
path = "data/test.parquet"
max_null_rate = 0.0

[tool.mlci.gates]
roc_auc = ">= 0.7"
"""


def _frame(rows: int, seed: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    return pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2], "y": y})


def mlflow_project(
    root: Path,
    script: str | None = None,
    *,
    before: str = "",
    name: str = "model",
    training: str = "",
    extra: str = "",
    model: str = "churn",
    outs: str = "",
) -> Path:
    """A DVC project in ``root`` whose train stage is ``python train.py`` and has no outs."""
    (root / "data").mkdir(parents=True)
    _frame(400, 0).to_csv(root / "data" / "train.csv", index=False)
    _frame(300, 1).to_parquet(root / "data" / "test.parquet")
    (root / "train.py").write_text(script or SCRIPT.format(before=before, name=name))
    (root / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: python train.py\n    deps: [train.py, data/train.csv]\n" + outs
    )
    (root / "pyproject.toml").write_text(CONFIG.format(model=model, training=training, extra=extra))
    (root / ".gitignore").write_text("/models\n/.mlci\n")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    subprocess.run(
        [sys.executable, "-m", "dvc", "config", "core.analytics", "false"], cwd=root, check=True
    )
    for args in (
        ("config", "user.email", "dev@example.com"),
        ("config", "user.name", "Dev"),
        ("add", "-A"),
        ("commit", "-q", "-m", "project"),
    ):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


def client_for(root: Path):
    from mlflow.tracking import MlflowClient

    uri = load_config(root / "pyproject.toml").registry_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def train(root: Path):
    from mlci_local.mlflow_training import reproduce_in_run

    with contextlib.chdir(root):  # as `mlci run` does: DVC resolves stages from the cwd
        return reproduce_in_run(load_config(root / "pyproject.toml"))


# --------------------------------------------------------------------------- configuration


def test_an_unknown_training_key_is_named_with_the_closest_one(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        CONFIG.format(model="m", training="mlflow_modle = 'x'", extra="")
    )
    with pytest.raises(ConfigError, match=r"tool\.mlci\.training\.mlflow_modle.*mlflow_model"):
        load_config(tmp_path / "pyproject.toml")


def test_a_model_file_name_for_a_materialised_mlflow_directory_is_refused(tmp_path):
    text = CONFIG.format(model="m", training="", extra="").replace(
        'artifact = "models/model"', 'artifact = "models/model.skops"'
    )
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "pyproject.toml")
    assert "tool.mlci.artifact" in str(caught.value)
    assert "artifact = 'models/model'" in str(caught.value)


@pytest.mark.parametrize("value", ["''", "'a/b'"])
def test_an_empty_or_path_like_model_name_is_refused(tmp_path, value):
    text = CONFIG.format(model="m", training="", extra="").replace(
        'mlflow_model = "model"', f"mlflow_model = {value}"
    )
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"tool\.mlci\.training\.mlflow_model"):
        load_config(tmp_path / "pyproject.toml")


def test_the_training_table_is_optional(tmp_path):
    text = CONFIG.format(model="m", training="", extra="").replace('mlflow_model = "model"', "")
    (tmp_path / "pyproject.toml").write_text(text)
    assert load_config(tmp_path / "pyproject.toml").training.mlflow_model is None


def test_the_candidate_as_a_stage_out_is_refused_before_anything_runs(tmp_path):
    root = mlflow_project(tmp_path / "p", outs="    outs: [models/model]\n")
    with pytest.raises(ConfigError, match=r"models/model is an out of dvc\.yaml stage"):
        train(root)
    assert not (root / ".mlci" / "mlflow.db").exists() or not client_for(root).search_runs(
        [e.experiment_id for e in client_for(root).search_experiments()]
    )


# --------------------------------------------------------------------------- the shapes


@pytest.mark.slow  # trains and logs a model (~10 s)
def test_the_logged_model_becomes_the_candidate_and_the_run_is_linked(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    root = mlflow_project(tmp_path / "p")

    result, link = train(root)

    assert result.ran == ("train",)
    assert (root / "models" / "model" / "MLmodel").is_file()
    assert not [p for p in (root / "models").iterdir() if p.name != "model"]  # no temp left
    assert link.model_id and link.model_id.startswith("m-")
    assert link.params == {"C": "0.5", "max_iter": "200"}
    assert 0.5 < link.metrics["train_accuracy"] <= 1
    assert link.experiment == "churn"  # no set_experiment: an experiment named after the model
    run = client_for(root).get_run(link.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["C"] == "0.5"
    assert "MLFLOW_RUN_ID" not in os.environ  # the environment is restored
    record = json.loads((root / ".mlci" / "training" / "mlflow-candidate.json").read_text())
    assert record["run_id"] == link.run_id and record["model_id"] == link.model_id
    assert f"MLflow run {link.run_id}" in link.describe("models/model")

    from mlci_local.mlflow_training import training_tags

    tags = training_tags(link)
    assert tags["mlci.training.run_id"] == link.run_id
    assert tags["mlci.training.model_id"] == link.model_id
    assert tags["mlci.training.param.C"] == "0.5"
    assert float(tags["mlci.training.metric.train_accuracy"]) == link.metrics["train_accuracy"]


@pytest.mark.slow  # trains and logs a model (~10 s)
def test_a_script_choosing_its_experiment_by_name_joins_the_run_there(tmp_path):
    root = mlflow_project(tmp_path / "p", before='mlflow.set_experiment("churn-training")')

    _, link = train(root)

    assert link.experiment == "churn-training"
    client = client_for(root)
    run = client.get_run(link.run_id)
    assert run.info.experiment_id == client.get_experiment_by_name("churn-training").experiment_id
    assert run.info.status == "FINISHED"
    assert (root / "models" / "model" / "MLmodel").is_file()


def test_an_experiment_mlci_cannot_read_from_the_script_fails_naming_the_key(tmp_path):
    before = 'import os\nmlflow.set_experiment(os.environ.get("EXP", "elsewhere"))'
    root = mlflow_project(tmp_path / "p", before=before)

    with pytest.raises(CheckFailed) as caught:
        train(root)

    message = str(caught.value)
    assert "[tool.mlci.training] experiment = " in message
    assert "refused to join" in message
    run_id = message.split("MLflow run ")[1].split()[0]
    assert client_for(root).get_run(run_id).info.status == "FAILED"  # never left RUNNING
    assert not (root / "models" / "model").exists()


@pytest.mark.slow  # trains and logs a model (~10 s)
def test_the_configured_experiment_wins_over_the_scripts_guess(tmp_path):
    before = 'import os\nmlflow.set_experiment(os.environ.get("EXP", "elsewhere"))'
    root = mlflow_project(tmp_path / "p", before=before, training='experiment = "elsewhere"')

    _, link = train(root)

    assert link.experiment == "elsewhere"
    assert (root / "models" / "model" / "MLmodel").is_file()


def test_two_experiment_names_in_the_scripts_ask_which_one(tmp_path):
    root = mlflow_project(tmp_path / "p", before='mlflow.set_experiment("a")')
    (root / "evaluate.py").write_text('import mlflow\nmlflow.set_experiment(experiment_name="b")\n')
    with (root / "dvc.yaml").open("a") as handle:
        handle.write("  evaluate:\n    cmd: python evaluate.py\n")
    with pytest.raises(ConfigError, match=r"several MLflow experiments \('a'.*'b'"):
        train(root)


@pytest.mark.slow  # trains with autolog (~10 s)
def test_an_autologged_model_is_the_candidate(tmp_path):
    root = mlflow_project(tmp_path / "p", AUTOLOG)

    _, link = train(root)

    assert (root / "models" / "model" / "MLmodel").is_file()
    assert link.params.get("C") == "0.5"
    assert client_for(root).get_run(link.run_id).info.status == "FINISHED"


@pytest.mark.slow  # trains and logs a model (~10 s)
def test_a_script_logging_no_model_of_that_name_fails_naming_run_names_and_key(tmp_path):
    root = mlflow_project(tmp_path / "p", name="classifier")

    with pytest.raises(CheckFailed) as caught:
        train(root)

    message = str(caught.value)
    run_id = message.split("MLflow run ")[1].split(",")[0]
    assert "no model named 'model' was logged (it logged: 'classifier')" in message
    assert "[tool.mlci.training] mlflow_model = 'model'" in message
    assert client_for(root).get_run(run_id).info.status == "FINISHED"
    assert not (root / "models" / "model").exists()


def test_a_failing_script_leaves_its_run_failed_and_no_candidate(tmp_path):
    root = mlflow_project(tmp_path / "p", before='raise SystemExit("no data today")')

    with pytest.raises(CheckFailed, match="no data today"):
        train(root)

    client = client_for(root)
    runs = client.search_runs([client.get_experiment_by_name("churn").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert not (root / "models" / "model").exists()


# --------------------------------------------------------------------------- up to date


@pytest.mark.slow  # trains three times
def test_an_up_to_date_stage_keeps_the_materialised_candidate_until_it_is_touched(tmp_path):
    from pytest_mlci.model_io import artifact_digest

    root = mlflow_project(tmp_path / "p")
    _, first = train(root)
    digest = artifact_digest(root / "models" / "model")

    result, kept = train(root)

    assert result.up_to_date and kept.kept
    assert kept.run_id == first.run_id and kept.params == first.params
    assert artifact_digest(root / "models" / "model") == digest
    assert "training did not run: kept models/model" in kept.describe("models/model")
    client = client_for(root)
    experiment = client.get_experiment_by_name("churn").experiment_id
    assert [r.info.run_id for r in client.search_runs([experiment])] == [first.run_id]

    # Files changed at `artifact`: not what the linked run logged, so trained again.
    (root / "models" / "model" / "MLmodel").write_text("edited\n")
    result, again = train(root)
    assert result.ran == ("train",) and again.forced and not again.kept
    assert again.run_id != first.run_id
    assert "mlci ran it again inside the run" in again.describe("models/model")
    assert (root / "models" / "model" / "MLmodel").read_text() != "edited\n"
    assert client.get_run(again.run_id).info.status == "FINISHED"

    # A changed input: DVC runs the stage itself (not forced) and a new model replaces it.
    _frame(400, 7).to_csv(root / "data" / "train.csv", index=False)
    result, second = train(root)
    assert result.ran == ("train",) and not second.forced and second.run_id != again.run_id


@pytest.mark.slow  # trains twice through `dvc repro`
def test_a_fresh_runner_with_an_up_to_date_lock_trains_again_inside_a_linked_run(tmp_path):
    root = mlflow_project(tmp_path / "p")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    # Trained outside mlci, dvc.lock up to date: what a CI runner finds in a fresh clone.
    subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "-q"], cwd=root, check=True, env=env,
        capture_output=True,
    )  # fmt: skip
    lock = (root / "dvc.lock").read_text()

    result, link = train(root)

    assert result.ran == ("train",) and link.forced
    assert (root / "models" / "model" / "MLmodel").is_file()
    assert link.params == {"C": "0.5", "max_iter": "200"}
    assert (root / "dvc.lock").read_text() == lock


def test_the_training_stage_is_the_one_whose_script_logs_the_model(tmp_path):
    from mlci_local.mlflow_training import _training_stage

    root = mlflow_project(tmp_path / "p")
    (root / "fit.py").write_text("import mlflow\nmlflow.autolog()\n")
    (root / "dvc.yaml").write_text(
        "stages:\n  prepare:\n    cmd: python -c 'pass'\n  fit:\n    cmd: python fit.py\n"
    )
    config = load_config(root / "pyproject.toml")
    assert _training_stage(config) == "fit"

    (root / "dvc.yaml").write_text(
        "stages:\n  fit:\n    cmd: python fit.py\n  refit:\n    cmd: python train.py\n"
    )
    with pytest.raises(ConfigError) as caught:
        _training_stage(config)
    assert "stages fit, refit all log models" in str(caught.value)
    assert "tool.mlci.training.stage" in str(caught.value)


def test_a_configured_training_stage_must_exist(tmp_path):
    root = mlflow_project(tmp_path / "p", training='stage = "fit"')
    with pytest.raises(ConfigError, match=r"tool\.mlci\.training\.stage.*'fit' is not a stage"):
        train(root)


# --------------------------------------------------------------------------- mlci run


def mlci(root: Path, *args: str) -> subprocess.CompletedProcess:
    from tests.example_repo import mlci as run_mlci

    return run_mlci(root, *args)


@pytest.mark.slow  # trains through `mlci run` (~10 s)
def test_mlci_run_with_a_script_logging_no_model_exits_1_with_the_reason(tmp_path):
    root = mlflow_project(tmp_path / "p", name="classifier")

    done = mlci(root, "run", "--until", "train")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "training" in done.stdout and "FAILED" in done.stdout
    assert "no model named 'model' was logged (it logged: 'classifier')" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow  # trains, evaluates, registers, stages and promotes
def test_mlci_run_takes_the_logged_model_to_production_with_its_run_linked(tmp_path):
    root = mlflow_project(tmp_path / "p", before='mlflow.set_experiment("churn-training")')

    done = mlci(root, "run")

    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "trained: dvc repro ran train" in out
    assert "(experiment 'churn-training'): model 'model' (m-" in out
    client = client_for(root)
    version = client.get_model_version_by_alias("churn", "production")
    tags = version.tags
    run = client.get_run(tags["mlci.training.run_id"])
    assert run.info.status == "FINISHED"
    assert run.info.experiment_id == client.get_experiment_by_name("churn-training").experiment_id
    assert tags["mlci.training.param.C"] == "0.5"
    assert tags["mlci.training.param.max_iter"] == "200"
    assert float(tags["mlci.training.metric.train_accuracy"]) == pytest.approx(
        run.data.metrics["train_accuracy"]
    )
    assert tags["mlci.training.model_id"].startswith("m-")

    from mlci_local.model_card import build_model_card
    from mlci_local.registry import Registry

    config = load_config(root / "pyproject.toml")
    card = build_model_card(config, Registry(config), version.version).markdown
    assert f"| `mlflow.run_id` | {run.info.run_id} |" in card
    assert "| `mlflow.param.C` | 0.5 |" in card
    assert "| `mlflow.metric.train_accuracy` |" in card

    again = mlci(root, "run")
    assert again.returncode == 0, again.stdout + again.stderr
    kept = "training did not run: kept models/model, materialised from MLflow run"
    assert kept in again.stdout

    # A CI runner from a fresh clone: dvc.lock says up to date, no model materialised here.
    shutil.rmtree(root / "models")
    shutil.rmtree(root / ".mlci" / "training")
    fresh = mlci(root, "run")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "mlci ran it again inside the run" in fresh.stdout
    assert "nothing new to register" in fresh.stdout
    assert [v.version for v in client.search_model_versions("name='churn'")] == [version.version]


def test_a_run_artifact_model_is_described_and_tagged_without_a_logged_model_id():
    # MLflow 2-style `runs:/<id>/model` folders have no LoggedModel id.
    from mlci_local.mlflow_training import TrainingLink, training_tags

    link = TrainingLink("r1", "7", "exp", "model", None, {"p": "1"}, {"m": 0.25})
    assert link.describe("models/model") == (
        "MLflow run r1 (experiment 'exp'): model 'model' materialised at models/model; "
        "1 param(s), 1 metric(s) linked"
    )
    assert "mlci.training.model_id" not in training_tags(link)
    assert training_tags(link)["mlci.training.metric.m"] == "0.25"


@pytest.mark.slow  # trains against the team's `mlflow server`
def test_against_the_team_server_the_model_is_downloaded_through_it(tmp_path, team_stack):
    import uuid

    model = f"churn-{uuid.uuid4().hex[:8]}"
    root = mlflow_project(tmp_path / "p", model=model, extra=f'registry = "{team_stack.mlflow}"')

    _, link = train(root)

    assert (root / "models" / "model" / "MLmodel").is_file()
    assert link.experiment == model and link.params["C"] == "0.5"
    assert client_for(root).get_run(link.run_id).info.status == "FINISHED"
    assert not (root / ".mlci" / "mlflow-artifacts").exists()  # the server keeps the files


RUN_ARTIFACT = """\
import os
import tempfile

import mlflow
import mlflow.sklearn
import pandas as pd
from sklearn.linear_model import LogisticRegression

frame = pd.read_csv("data/train.csv")
with mlflow.start_run():
    model = LogisticRegression().fit(frame.drop(columns="y"), frame["y"])
    with tempfile.TemporaryDirectory() as folder:
        mlflow.sklearn.save_model(model, os.path.join(folder, "model"))
        mlflow.log_artifacts(os.path.join(folder, "model"), artifact_path="model")
"""


@pytest.mark.slow  # trains and logs a model (~10 s)
def test_a_model_folder_among_the_run_artifacts_mlflow_2_style_is_the_candidate(tmp_path):
    root = mlflow_project(tmp_path / "p", RUN_ARTIFACT)

    _, link = train(root)

    assert link.model_id is None
    assert (root / "models" / "model" / "MLmodel").is_file()
    assert client_for(root).get_run(link.run_id).info.status == "FINISHED"


@pytest.mark.slow  # trains and logs a model (~10 s)
def test_a_model_logged_in_a_nested_run_is_found_with_both_runs_params(tmp_path):
    nested = SCRIPT.format(before="", name="model").replace(
        '    mlflow.sklearn.log_model(model, name="model")\n',
        "    with mlflow.start_run(nested=True):\n"
        '        mlflow.log_param("fold", 1)\n'
        '        mlflow.sklearn.log_model(model, name="model")\n',
    )
    assert "nested=True" in nested
    root = mlflow_project(tmp_path / "p", nested)

    _, link = train(root)

    assert (root / "models" / "model" / "MLmodel").is_file()
    assert link.params == {"C": "0.5", "max_iter": "200", "fold": "1"}
    assert client_for(root).get_logged_model(link.model_id).source_run_id != link.run_id
