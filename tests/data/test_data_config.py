"""Dataset keys of issue 4: defaults, per-column thresholds, and mistakes that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlci.config import load_config
from pytest_mlci.errors import ConfigError

BASE = """
[tool.mlci]
model = "m"
task = "binary_classification"
target = "y"
artifact = "model.skops"

[tool.mlci.datasets.eval]
path = "data/current.parquet"
"""


def load(tmp_path: Path, extra: str):
    path = tmp_path / "pyproject.toml"
    path.write_text(BASE + extra)
    return load_config(path).datasets["eval"]


def test_defaults_are_strict_and_declare_nothing(tmp_path):
    dataset = load(tmp_path, "")
    assert dataset.declared == {"path"}
    assert dataset.volume_tolerance == 0.2
    assert dataset.allowed_null_rate("x") == 0.0
    assert dataset.psi_threshold("x") == 0.2
    assert dataset.distance_threshold("x") == 0.25
    assert dataset.stream == "auto"


def test_every_issue_4_key_is_read(tmp_path):
    dataset = load(
        tmp_path,
        """
reference = "data/reference.parquet"
expected_rows = 1000
volume_tolerance = 0.1
timestamp = "ts"
max_age_hours = 36
max_null_rate = 0.01
null_rates = { income = 0.2 }
max_duplicate_rate = 0.001
allow_constant = ["country"]
min_label_share = 0.05
drift_columns = ["a", "b"]
drift_ignore = ["id"]
drift_psi = 0.25
drift_distance = 0.3
drift_alpha = 0.001
drift_min_rows = 500
drift_thresholds = { a = 0.5, b = { distance = 0.4 } }
max_unseen_share = 0.02
stream = "always"
""",
    )
    assert dataset.expected_rows == 1000 and dataset.volume_tolerance == 0.1
    assert dataset.timestamp == "ts" and dataset.max_age_hours == 36.0
    assert dataset.allowed_null_rate("income") == 0.2
    assert dataset.allowed_null_rate("other") == 0.01
    assert dataset.allow_constant == ("country",)
    assert dataset.psi_threshold("a") == 0.5 and dataset.distance_threshold("a") == 0.3
    assert dataset.psi_threshold("b") == 0.25 and dataset.distance_threshold("b") == 0.4
    assert dataset.drift_min_rows == 500 and dataset.stream == "always"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("volume_tolerance = 1.5", r"datasets.eval.volume_tolerance.*at most 1.0.*e\.g\."),
        ("expected_rows = 0", r"datasets.eval.expected_rows.*at least 1"),
        ("drift_psi = 0", r"datasets.eval.drift_psi.*above 0"),
        ('timestamp = "ts"', r"datasets.eval.max_age_hours.*required with 'timestamp'"),
        ("null_rates = { a = 2 }", r"datasets.eval.null_rates.a.*between 0 and 1"),
        ("drift_thresholds = { a = { pis = 1 } }", r"drift_thresholds.a.*unknown key 'pis'"),
        ("drift_thresholds = { a = -1 }", r"drift_thresholds.a.*positive number"),
        ('stream = "sometimes"', r"datasets.eval.stream.*choose one of"),
        ("max_null_rat = 0.1", r"datasets.eval.max_null_rat.*did you mean 'max_null_rate'"),
        ('drift_psi = "high"', r"datasets.eval.drift_psi.*must be a number"),
    ],
)
def test_a_mistake_names_file_key_and_fix(tmp_path, extra, expected):
    with pytest.raises(ConfigError, match=expected) as excinfo:
        load(tmp_path, extra)
    assert "pyproject.toml" in str(excinfo.value)
