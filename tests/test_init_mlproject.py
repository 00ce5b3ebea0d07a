"""`mlci init` in an MLflow project without DVC: the stage and params come from MLproject."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlci_local.cli import cli
from mlci_local.mlproject import read_mlproject
from pytest_mlci.config import load_config

MLPROJECT = """\
name: churn

python_env: python_env.yaml

entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      max_iter: {type: float, default: 200}
      data: {type: path, default: data/train.csv}
      unused: {type: string, default: x}
    command: >-
      python train.py --alpha {alpha}
      --max-iter {max_iter} --data {data}
  validate:
    command: python validate.py
"""

TRAIN = """\
import mlflow
with mlflow.start_run():
    mlflow.sklearn.log_model(object(), name="classifier")
"""


def init(*args: str):
    return CliRunner().invoke(cli, ["init", *args], catch_exceptions=False)


def project(root: Path, mlproject: str = MLPROJECT, train: str = TRAIN) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data/train.csv").write_text("a,y\n1,0\n")
    (root / "MLproject").write_text(mlproject)
    (root / "train.py").write_text(train)
    return root


def test_the_main_entry_point_becomes_a_templated_dvc_stage(tmp_path):
    stage = read_mlproject(project(tmp_path))

    assert stage is not None
    assert stage.command == (
        "python train.py --alpha ${train.alpha} --max-iter ${train.max_iter} --data ${train.data}"
    )
    assert stage.params == {"alpha": 0.5, "max_iter": 200, "data": "data/train.csv"}
    assert stage.deps == ("train.py", "data/train.csv")
    assert (stage.model_name, stage.model_name_found) == ("classifier", True)
    dvc = yaml.safe_load(stage.dvc_yaml())
    assert dvc["stages"]["train"] == {
        "cmd": stage.command,
        "deps": ["train.py", "data/train.csv"],
        "params": ["train.alpha", "train.max_iter", "train.data"],
    }
    assert yaml.safe_load(stage.params_yaml()) == {"train": dict(stage.params)}


def test_dvc_accepts_the_written_stage(tmp_path):
    schema = pytest.importorskip("dvc.schema")
    from voluptuous import Schema

    stage = read_mlproject(project(tmp_path))
    assert stage is not None
    Schema(schema.MULTI_STAGE_SCHEMA)(yaml.safe_load(stage.dvc_yaml()))


def test_init_writes_stage_params_and_the_mlflow_training_config(tmp_path):
    root = project(tmp_path / "churn")
    script = (root / "train.py").read_bytes()

    result = init(str(root), "--target", "y")

    assert result.exit_code == 0, result.output
    assert "wrote dvc.yaml" in result.output and "wrote params.yaml" in result.output
    assert "dvc.yaml stage 'train' runs MLproject entry point 'main'" in result.output
    assert "training.mlflow_model = 'classifier'" in result.output
    assert (root / "train.py").read_bytes() == script
    config = load_config(root / "mlci.toml")
    assert config.training.mlflow_model == "classifier"
    assert config.artifact == root / "models/model"
    assert config.allow_pickle is True
    assert "/models/model/" in (root / ".gitignore").read_text().splitlines()
    # not a git repository: DVC cannot be initialised yet, and the output says what to run
    assert "1. `git init && dvc init`" in result.output


def test_autolog_names_its_model_model(tmp_path):
    root = project(tmp_path, train="import mlflow\nmlflow.autolog()\n")
    stage = read_mlproject(root)
    assert stage is not None and (stage.model_name, stage.model_name_found) == ("model", True)


def test_a_script_with_no_literal_model_name_says_model_is_a_guess(tmp_path):
    root = project(tmp_path / "p", train="import mlflow\nname = 'm'\nmlflow.log_model(x, name)\n")
    result = init(str(root))
    assert "training.mlflow_model = 'model': the model the script logs (no log_model name" in (
        result.output
    )


def test_a_parameter_without_a_default_is_refused_naming_it(tmp_path):
    text = MLPROJECT.replace("alpha: {type: float, default: 0.5}", "alpha: float")
    root = project(tmp_path / "p", mlproject=text)

    result = init(str(root))

    assert result.exit_code == 2
    assert (
        "error: MLproject: key 'entry_points.main.parameters.alpha': has no default, and "
        "dvc.yaml needs a value to run the command; add 'default:' to it in MLproject"
    ) in result.output
    assert not (root / "dvc.yaml").exists() and not (root / "mlci.toml").exists()


def test_a_placeholder_that_is_no_parameter_is_refused(tmp_path):
    text = MLPROJECT.replace("--data {data}", "--data {dataset}")
    result = init(str(project(tmp_path / "p", mlproject=text)))
    assert result.exit_code == 2
    assert "entry_points.main.command': uses {dataset}, which is not among its parameters" in (
        result.output
    )


def test_several_entry_points_without_main_ask_which_one(tmp_path):
    text = "entry_points:\n  fit: {command: python a.py}\n  score: {command: python b.py}\n"
    result = init(str(project(tmp_path / "p", mlproject=text)))
    assert result.exit_code == 2
    assert "has no 'main' entry point and several others (fit, score)" in result.output


def test_a_project_with_its_own_dvc_yaml_keeps_it_and_ignores_mlproject(tmp_path):
    root = project(tmp_path / "p")
    (root / "dvc.yaml").write_text("stages:\n  fit:\n    cmd: python train.py\n")
    result = init(str(root))
    assert result.exit_code == 0, result.output
    assert "kept dvc.yaml (yours)" in result.output
    assert not (root / "params.yaml").exists()
