"""Configuration: every mistake names the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlci.config import find_config_file, load_config
from pytest_mlci.errors import ConfigError

MINIMAL = """
[tool.mlci]
model = "m"
task = "regression"
target = "y"
artifact = "model.skops"
"""


def write(tmp_path: Path, text: str, name: str = "pyproject.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_fill_in_the_embedded_registry(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.tier == "medium"
    assert config.on_missing_baseline == "fail"
    assert config.registry_uri == f"sqlite:///{tmp_path.resolve()}/.mlci/mlflow.db"
    assert config.artifact == tmp_path / "model.skops"


def test_mlci_toml_uses_top_level_keys_and_wins_over_pyproject(tmp_path):
    write(tmp_path, MINIMAL)
    write(tmp_path, MINIMAL.replace("[tool.mlci]\n", "").replace('"m"', '"other"'), "mlci.toml")
    assert find_config_file(tmp_path).name == "mlci.toml"
    assert load_config(start=tmp_path).model == "other"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("model =", "modle ="),
         "key 'tool.mlci.modle': unknown key in [tool.mlci]; did you mean 'model'?"),
        (('task = "regression"', 'task = "regresion"'),
         "'regresion' is not valid; did you mean 'regression'?"),
        (('model = "m"', "model = 3"), "key 'tool.mlci.model': must be a string, got int 3"),
        (('artifact = "model.skops"\n', ""), "key 'tool.mlci.artifact': is required"),
    ],
)  # fmt: skip
def test_mistakes_name_file_key_and_fix(tmp_path, change, message):
    path = write(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    assert str(path) in str(excinfo.value)
    assert message in str(excinfo.value)


def test_nested_tables_are_checked_too(tmp_path):
    path = write(tmp_path, MINIMAL + '[tool.mlci.datasets.eval]\npth = "x.parquet"\n')
    with pytest.raises(ConfigError, match=r"datasets.eval.pth.*did you mean 'path'"):
        load_config(path)


def test_a_metric_may_carry_several_gates(tmp_path):
    text = MINIMAL + '[tool.mlci.gates]\nrmse = ["<= 3", "<= baseline + 0.1"]\nr2 = ">= 0.5"\n'
    config = load_config(write(tmp_path, text))
    assert [g.text for g in config.gates] == ["rmse <= 3", "rmse <= baseline + 0.1", "r2 >= 0.5"]


def test_an_empty_gate_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"gates\.rmse.*comparison string"):
        load_config(write(tmp_path, MINIMAL + '[tool.mlci.gates]\nrmse = ""\n'))


def test_broken_toml_is_reported_with_the_file(tmp_path):
    path = write(tmp_path, MINIMAL + "oops = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_no_config_anywhere_says_how_to_add_one(tmp_path):
    with pytest.raises(ConfigError, match=r"add a \[tool.mlci\] table"):
        load_config(start=tmp_path)


def test_the_registry_can_come_from_the_environment(tmp_path, monkeypatch):
    path = write(tmp_path, MINIMAL + 'registry = "sqlite:///local.db"\n')
    assert load_config(path).registry == "sqlite:///local.db"
    monkeypatch.setenv("MLCI_REGISTRY", "http://mlflow.internal:5000")
    assert load_config(path).registry_uri == "http://mlflow.internal:5000"
