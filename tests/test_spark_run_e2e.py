"""`mlci run` end to end with the Spark engine: the bundled example, its evaluation data
checked and its gates judged on Spark (local mode), from commit to production. (A worse
candidate failing its baseline gate on Spark is tests/test_spark_engine.py's, in process;
the two-model fine-bin bug a second full run once found is pinned in
tests/test_sufficient_statistics.py.)

Slow (training through `dvc repro`, a Spark session per `mlci run`); CI runs it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.example_repo import example_repository, git, mlci

pytestmark = pytest.mark.slow
pytest.importorskip("pyspark", reason="the [spark] extra is not installed")

#: The example's own tests use pandas methods on ``mlci_data``; on Spark it is a Spark
#: DataFrame, so a team's test reads a few rows the Spark way.
SPARK_USER_TEST = """\
def test_scores_are_probabilities_on_a_sample(mlci_model, mlci_data):
    assert type(mlci_data).__name__ == "DataFrame" and hasattr(mlci_data, "mapInPandas")
    rows = mlci_data.limit(500).toPandas().drop(columns=["converted"])
    scores = mlci_model.predict_proba(rows)[:, 1]
    assert ((scores >= 0) & (scores <= 1)).all()
"""


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    root = example_repository(tmp_path_factory.mktemp("spark_example"))
    config = root / "pyproject.toml"
    text = config.read_text()
    text = text.replace(
        "[tool.mlci.datasets.eval]\n", '[tool.mlci.datasets.eval]\nengine = "spark"\n'
    )
    text = text.replace("[tool.mlci.evaluation]\n", '[tool.mlci.evaluation]\nengine = "spark"\n')
    text = text.replace(
        "[tool.mlci.robustness]",
        '[tool.mlci.spark]\nmaster = "local[2]"\n'
        'conf = { "spark.sql.shuffle.partitions" = 4 }\n\n[tool.mlci.robustness]',
    )
    config.write_text(text)
    (root / "example" / "tests" / "test_model.py").write_text(SPARK_USER_TEST)
    git(root, "commit", "-qam", "evaluate on Spark")
    return root


def test_mlci_run_takes_the_example_to_production_with_checks_and_gates_on_spark(example):
    done = mlci(example, "run")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "[2/7] data validation" in out and "[4/7] evaluation" in out
    assert "production -> v1" in out
    report = json.loads(next((example / ".mlci" / "reports").glob("evaluation-*.json")).read_text())
    assert report["data"]["engine"] == "spark" and report["data"]["rows"] == 6000
    assert report["gates"] and all(g["verdict"] in ("pass", "waived") for g in report["gates"])
    status = json.loads(mlci(example, "status", "--json").stdout)
    assert status["aliases"]["production"]["version"] == "1"
