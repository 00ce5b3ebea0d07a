"""The Spark keys of the configuration: engine, table, format, [tool.mlci.spark]; no Spark runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_mlci.config import SparkSettings, load_config
from pytest_mlci.errors import ConfigError

BASE = """
[tool.mlci]
model = "m"
task = "binary_classification"
target = "y"
artifact = "model.skops"
"""


def project(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(BASE + extra)
    return path


def error_of(tmp_path: Path, extra: str) -> ConfigError:
    path = project(tmp_path, extra)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    assert str(path) in str(excinfo.value)  # every mistake names its file
    return excinfo.value


def test_a_uri_stays_a_uri_and_needs_no_local_file(tmp_path):
    config = load_config(
        project(
            tmp_path,
            '[tool.mlci.datasets.eval]\nengine = "spark"\npath = "s3a://bucket/eval/"\n',
        )
    )
    dataset = config.datasets["eval"]
    assert dataset.engine == "spark"
    assert dataset.location == "s3a://bucket/eval/"
    assert not (tmp_path / "s3a:").exists()
    assert not dataset.path.exists()  # a placeholder under .mlci, never read here


def test_a_table_with_engine_spark_is_its_location(tmp_path):
    config = load_config(
        project(tmp_path, '[tool.mlci.datasets.eval]\nengine = "spark"\ntable = "db.eval"\n')
    )
    dataset = config.datasets["eval"]
    assert dataset.location == "db.eval"
    assert dataset.format == "table"


def test_a_table_without_engine_spark_is_an_error(tmp_path):
    error = error_of(tmp_path, '[tool.mlci.datasets.eval]\ntable = "db.eval"\n')
    assert error.key == "tool.mlci.datasets.eval.table"
    assert "datasets.eval.table" in str(error)
    assert "engine = 'spark'" in str(error)


def test_a_uri_without_engine_spark_is_an_error(tmp_path):
    error = error_of(tmp_path, '[tool.mlci.datasets.eval]\npath = "s3a://bucket/eval/"\n')
    assert "datasets.eval.path" in str(error)
    assert "engine = 'spark'" in str(error)


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ('engine = "spark"\npath = "e.parquet"\ntable = "db.eval"', "datasets.eval.table"),
        ('engine = "spark"\ntable = "db.eval"\nreference = "r.pq"\nreference_table = "db.r"',
         "datasets.eval.reference_table"),
        ('engine = "spark"\npath = "e.parquet"\nreference = "r.parquet"\nreference_table = "db.r"',
         "datasets.eval.reference_table"),
        ('engine = "spark"\npath = "e.parquet"\nformat = "avro"', "datasets.eval.format"),
        ('engine = "spark"\ntable = "db.eval"\nformat = "parquet"', "datasets.eval.format"),
        ('engine = "spark"\npath = "e.parquet"\nloader = "pkg.mod:load"', "datasets.eval.loader"),
        ('engine = "sparky"\npath = "e.parquet"', "datasets.eval.engine"),
    ],
)  # fmt: skip
def test_spark_dataset_mistakes_name_the_key(tmp_path, keys, named):
    error = error_of(tmp_path, f"[tool.mlci.datasets.eval]\n{keys}\n")
    assert error.key == f"tool.mlci.{named}"
    assert named in str(error)


def test_format_outside_the_list_says_what_is_allowed(tmp_path):
    error = error_of(
        tmp_path,
        '[tool.mlci.datasets.eval]\nengine = "spark"\npath = "e.parquet"\nformat = "avro"\n',
    )
    assert "datasets.eval.format" in str(error)
    assert "'avro' is not valid" in str(error)


def test_a_known_format_is_kept(tmp_path):
    config = load_config(
        project(
            tmp_path,
            '[tool.mlci.datasets.eval]\nengine = "spark"\npath = "s3a://b/e/"\nformat = "delta"\n',
        )
    )
    assert config.datasets["eval"].format == "delta"


def test_a_typo_in_the_evaluation_engine_suggests_the_word(tmp_path):
    error = error_of(tmp_path, '[tool.mlci.evaluation]\nengine = "sprak"\n')
    assert "evaluation.engine" in str(error)
    assert "did you mean 'spark'?" in str(error)


def test_evaluation_engine_spark_is_read(tmp_path):
    config = load_config(project(tmp_path, '[tool.mlci.evaluation]\nengine = "spark"\n'))
    assert config.evaluation.engine == "spark"


def test_spark_conf_numbers_and_booleans_become_strings(tmp_path, monkeypatch):
    monkeypatch.delenv("MLCI_SPARK_MASTER", raising=False)
    config = load_config(
        project(
            tmp_path,
            "[tool.mlci.spark]\n"
            'master = "spark://head:7077"\n'
            'app_name = "ci"\n'
            'conf = { "spark.executor.cores" = 4, "spark.memory.fraction" = 0.6, '
            '"spark.sql.adaptive.enabled" = true, "spark.x.off" = false, '
            '"spark.driver.memory" = "4g" }\n',
        )
    )
    assert config.spark == SparkSettings(
        master="spark://head:7077",
        conf={
            "spark.executor.cores": "4",
            "spark.memory.fraction": "0.6",
            "spark.sql.adaptive.enabled": "true",
            "spark.x.off": "false",
            "spark.driver.memory": "4g",
        },
        app_name="ci",
    )
    assert all(isinstance(v, str) for v in config.spark.conf.values())


def test_a_list_in_spark_conf_is_an_error_naming_the_key(tmp_path):
    error = error_of(tmp_path, '[tool.mlci.spark]\nconf = { "spark.jars" = ["a.jar", "b.jar"] }\n')
    assert error.key == "tool.mlci.spark.conf.spark.jars"
    assert "spark.conf.spark.jars" in str(error)
    assert "must be a string or a number, got list" in str(error)


def test_the_environment_overrides_the_master(tmp_path, monkeypatch):
    path = project(tmp_path, '[tool.mlci.spark]\nmaster = "yarn"\n')
    monkeypatch.delenv("MLCI_SPARK_MASTER", raising=False)
    assert load_config(path).spark.master == "yarn"
    monkeypatch.setenv("MLCI_SPARK_MASTER", "local[2]")
    assert load_config(path).spark.master == "local[2]"


def test_the_environment_sets_the_master_without_a_spark_table(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCI_SPARK_MASTER", "sc://connect:15002")
    assert load_config(project(tmp_path, "")).spark.master == "sc://connect:15002"


def test_configs_without_engine_keys_stay_local(tmp_path, monkeypatch):
    monkeypatch.delenv("MLCI_SPARK_MASTER", raising=False)
    config = load_config(
        project(tmp_path, '[tool.mlci.datasets.eval]\npath = "data/eval.parquet"\n')
    )
    dataset = config.datasets["eval"]
    assert dataset.engine == "local"
    assert dataset.path == tmp_path / "data" / "eval.parquet"
    assert dataset.format is None
    assert config.evaluation.engine == "local"
    assert config.spark == SparkSettings()


def test_a_missing_pyspark_says_how_to_install_it(monkeypatch):
    from pytest_mlci.spark import session

    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    monkeypatch.setattr(session, "_SESSIONS", {})
    with pytest.raises(ConfigError) as excinfo:
        session.spark_session(SparkSettings())
    assert "pip install 'pytest-mlci[spark]'" in str(excinfo.value)
    assert excinfo.value.key == "engine"
