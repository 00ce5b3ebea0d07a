"""The Spark engine against the local engine on the same files (Spark in local mode).

One Spark session serves the whole module (starting one costs seconds); every comparison is
between ``engine = "spark"`` and the local engine reading the same parquet files, and every
gate or check that must fail is shown failing on Spark too.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

pyspark = pytest.importorskip("pyspark", reason="the [spark] extra is not installed")

SPARK = '[tool.mlci.spark]\nmaster = "local[2]"\nconf = { "spark.sql.shuffle.partitions" = 4 }\n'


@pytest.fixture(scope="module", autouse=True)
def _spark_loaded_outside_tests():
    """Import pyspark's modules before any test: pytester unloads modules a test imported,
    which would orphan the module's shared JVM session."""
    import pyspark.sql.functions
    import pyspark.sql.pandas.functions  # noqa: F401
    from pyspark.sql import SparkSession  # noqa: F401


# ------------------------------------------------------------------------------ data checks


def planted_frames():
    """A reference and a current frame with a shifted column, nulls, repeated rows, a
    constant column and an out-of-range value, so every check has something to find."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)

    def frame(rows: int, shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "income": rng.lognormal(10 + shift, 0.5, rows),
                "age": rng.integers(18, 90, rows).astype("int64"),
                "score": rng.normal(0, 1, rows),
                "plan": rng.choice(["basic", "plus", "pro"], rows, p=[0.6, 0.3, 0.1]),
                "label": (rng.random(rows) < 0.3).astype("int64"),
            }
        )

    reference = frame(30_000, 0.0)
    current = frame(24_000, 0.4)  # income drifts
    current.loc[:59, "score"] = np.nan  # 60 nulls
    current["region"] = "eu"  # constant
    reference["region"] = np.where(rng.random(len(reference)) < 0.5, "eu", "us")
    current.loc[100, "age"] = -4  # one value out of the schema's range
    current["ts"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(len(current)), unit="s")
    current = pd.concat([current, current.iloc[200:500]], ignore_index=True)  # 300 repeats
    reference["ts"] = pd.Timestamp("2025-12-01")
    return reference, current


SCHEMA = """\
import pandera.pandas as pa

Schema = pa.DataFrameSchema(
    {
        "income": pa.Column(float, pa.Check.gt(0)),
        "age": pa.Column(int, pa.Check.in_range(0, 120)),
        "score": pa.Column(float, nullable=False),
        "plan": pa.Column(str, pa.Check.isin(["basic", "plus", "pro"])),
        "label": pa.Column(int, pa.Check.isin([0, 1])),
    }
)
"""


def dataset_block(name: str, engine: str) -> str:
    return f"""
[tool.mlci.datasets.{name}]
engine = "{engine}"
path = "data/current.parquet"
reference = "data/reference.parquet"
schema = "checks_schema:Schema"
max_null_rate = 0.001
max_duplicate_rate = 0.005
timestamp = "ts"
max_age_hours = 24
"""


@pytest.fixture(scope="module")
def data_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_data")
    (root / "data").mkdir()
    reference, current = planted_frames()
    reference.to_parquet(root / "data" / "reference.parquet")
    current.to_parquet(root / "data" / "current.parquet", row_group_size=4096)
    (root / "checks_schema.py").write_text(SCHEMA)
    (root / "pyproject.toml").write_text(
        '[tool.mlci]\nmodel = "m"\ntask = "binary_classification"\ntarget = "label"\n'
        'artifact = "model.skops"\n\n'
        + SPARK
        + dataset_block("here", "local")
        + dataset_block("spark", "spark")
    )
    return root


@pytest.fixture(scope="module")
def outcomes(data_project):
    """Every check of the same files, by both engines (a fixed 'now' for freshness)."""
    import sys

    from pytest_mlci.config import load_config
    from pytest_mlci.data.validate import DatasetChecks

    sys.path.insert(0, str(data_project))
    try:
        config = load_config(data_project / "pyproject.toml")
        found = {}
        for name in ("here", "spark"):
            checks = DatasetChecks(config.datasets[name], root=data_project, task=config.task)
            rows = []
            for check in ("schema", "volume", "quality", "drift"):
                rows += checks.run(check)
            rows += checks.freshness(now=1767225600.0 + 40 * 3600)  # 2026-01-02 16:00 UTC
            found[name] = rows
        return found
    finally:
        sys.path.remove(str(data_project))


def keyed(rows):
    return {(r.check, r.column, r.test): r for r in rows}


def test_spark_and_local_engines_reach_the_same_verdict_on_every_row(outcomes):
    local, spark = keyed(outcomes["here"]), keyed(outcomes["spark"])
    assert set(local) == set(spark)
    differing = {key: (local[key].verdict, spark[key].verdict)
                 for key in local if local[key].verdict != spark[key].verdict}  # fmt: skip
    assert differing == {}
    failing = {key for key, row in spark.items() if row.verdict == "fail"}
    # what was planted is found: drift of income, nulls in score, the constant region, the
    # repeated rows above 0.5 %, the out-of-range age, and the stale newest row
    assert ("drift", "income", "psi") in failing
    assert ("quality", "score", "null rate") in failing
    assert ("quality", "region", "constant") in failing
    assert ("quality", "<frame>", "duplicate rows") in failing
    assert ("schema", "age", "in_range(0, 120)") in failing
    assert ("freshness", "ts", "age hours") in failing
    assert ("drift", "score", "psi") not in failing


def test_counts_are_exact_and_drift_numbers_within_the_sketch_bounds(outcomes):
    local, spark = keyed(outcomes["here"]), keyed(outcomes["spark"])
    for key in [k for k in local if k[0] in ("quality", "volume", "schema", "freshness")]:
        assert spark[key].statistic == pytest.approx(local[key].statistic, rel=1e-9), key
    assert spark[("quality", "<frame>", "duplicate rows")].statistic == pytest.approx(300 / 24_300)
    assert spark[("schema", "age", "in_range(0, 120)")].statistic == 1
    for key in [k for k in local if k[0] == "drift" and k[2] == "psi"]:
        assert spark[key].statistic == pytest.approx(local[key].statistic, abs=0.01), key
    for key in [k for k in local if k[0] == "drift" and k[2] == "ks"]:
        bound = float(spark[key].detail.rsplit("within ", 1)[1].split()[0])
        # both engines sketch the reference (a strided sample here, a seeded one on Spark)
        assert abs(spark[key].statistic - local[key].statistic) <= 2 * bound + 0.005, key
    for key in [k for k in local if k[0] == "drift" and k[2] == "chi2"]:
        assert spark[key].statistic == pytest.approx(local[key].statistic, rel=1e-9), key


def test_a_spark_schema_failure_says_how_many_rows_failed(outcomes):
    row = keyed(outcomes["spark"])[("schema", "score", "not_nullable")]
    assert row.verdict == "fail"
    assert "in 60 rows" in row.detail


def test_mlci_validate_data_runs_on_spark_and_exits_1_naming_the_failures(data_project):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "mlci_local", "validate-data", "spark"],
        cwd=data_project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stderr
    assert "income" in result.stdout and "region" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_missing_table_is_a_clear_error_naming_the_key(data_project, tmp_path):
    from pytest_mlci.config import load_config
    from pytest_mlci.data.validate import validate_dataset

    text = (data_project / "pyproject.toml").read_text()
    text = text.replace('engine = "spark"\npath = "data/current.parquet"',
                        'engine = "spark"\ntable = "no_such_db.no_such_table"')  # fmt: skip
    (tmp_path / "pyproject.toml").write_text(text)
    config = load_config(tmp_path / "pyproject.toml")
    outcome = validate_dataset(config.datasets["spark"], root=tmp_path, checks=("volume",))
    assert outcome.error is not None
    assert "no_such_db.no_such_table" in outcome.error
    assert "datasets.spark.path" in outcome.error or "table name" in outcome.error


# ------------------------------------------------------------------------------ evaluation


def spark_project(tiny_dir, *, gates: dict, engine: str = "spark"):
    tiny_dir.gates = gates
    tiny_dir.extra = 'on_missing_baseline = "allow-first"\n'
    tiny_dir.write_config()
    text = (tiny_dir.root / "pyproject.toml").read_text()
    text = text.replace("resamples = 200", f'resamples = 300\nengine = "{engine}"')
    (tiny_dir.root / "pyproject.toml").write_text(text + "\n" + SPARK)


def register_production(config, source: Path):
    """Register and promote ``source``; the candidate artifact stays what it was."""
    from tests.test_artifact_integrity import register

    kept = config.artifact.read_bytes()
    register(config, source, production=True)
    config.artifact.write_bytes(kept)


GATES = {
    "roc_auc": ">= baseline - 0.01",
    "f1": ">= baseline - 0.02",
    "accuracy": ">= 0.6",
    "log_loss": "<= baseline",
    "brier_score": "<= baseline + 0.01",
}


def judged(config):
    from pytest_mlci.evaluation.session import Evaluation

    evaluation = Evaluation(config)
    return {r.gate: r for r in (evaluation.check_gate(g) for g in evaluation.gates())}


def test_gate_verdicts_on_spark_equal_the_local_engines_with_production_worse(
    tiny_dir, tiny_assets
):
    from pytest_mlci.config import load_config

    spark_project(tiny_dir, gates=GATES)
    spark_config = load_config(tiny_dir.root / "pyproject.toml")
    register_production(spark_config, tiny_assets / "bad.skops")
    local_config = dataclasses.replace(
        spark_config, evaluation=dataclasses.replace(spark_config.evaluation, engine="local")
    )
    spark, local = judged(spark_config), judged(local_config)
    assert {g: r.verdict for g, r in spark.items()} == {g: r.verdict for g, r in local.items()}
    assert all(r.verdict == "pass" for r in spark.values())
    for gate, result in spark.items():
        assert result.candidate.value == pytest.approx(local[gate].candidate.value, abs=2e-4)
        width = local[gate].delta.high - local[gate].delta.low
        # Monte-Carlo error of a 300-resample percentile: well inside half the width
        assert result.delta.low == pytest.approx(local[gate].delta.low, abs=0.5 * width)
        assert result.delta.high == pytest.approx(local[gate].delta.high, abs=0.5 * width)


def test_a_worse_candidate_fails_its_baseline_gates_on_spark(tiny_dir, tiny_assets):
    from pytest_mlci.config import load_config

    spark_project(tiny_dir, gates={"roc_auc": ">= baseline - 0.01", "accuracy": ">= 0.9"})
    config = load_config(tiny_dir.root / "pyproject.toml")
    register_production(config, tiny_assets / "good.skops")
    shutil.copy(tiny_assets / "bad.skops", config.artifact)
    results = judged(config)
    assert results["roc_auc >= baseline - 0.01"].verdict == "fail"
    assert results["roc_auc >= baseline - 0.01"].delta.high < 0
    assert results["accuracy >= 0.9"].verdict == "fail"


def test_a_gate_the_spark_engine_cannot_compute_fails_and_says_why(tiny_dir):
    from pytest_mlci.config import load_config
    from pytest_mlci.errors import CheckFailed
    from pytest_mlci.evaluation.session import Evaluation

    spark_project(tiny_dir, gates={"top_2_accuracy": ">= 0.5"})
    text = (tiny_dir.root / "pyproject.toml").read_text()
    text = text.replace('task = "binary_classification"', 'task = "multiclass"')
    (tiny_dir.root / "pyproject.toml").write_text(text)
    evaluation = Evaluation(load_config(tiny_dir.root / "pyproject.toml"))
    with pytest.raises(CheckFailed, match="engine = 'local'"):
        evaluation.estimate("top_2_accuracy")


def test_pytest_mlci_on_spark_gates_and_hands_user_tests_a_spark_dataframe(pytester, tiny_project):
    spark_project(tiny_project, gates={"roc_auc": ">= 0.7", "f1": ">= 0.99"})
    pytester.makepyfile(
        test_user="""
        def test_the_data_is_a_spark_dataframe(mlci_data):
            assert type(mlci_data).__name__ == "DataFrame"
            assert hasattr(mlci_data, "mapInPandas")
            assert mlci_data.count() == 2000
        """
    )
    result = pytester.runpytest(
        "--mlci", "-p", "no:cacheprovider", "--mlci-report-json=report.json", "test_user.py"
    )
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*FAILED: f1 0.7* whole interval fails >= 0.99*"])
    report = json.loads((pytester.path / "report.json").read_text())
    verdicts = {g["gate"]: g["verdict"] for g in report["gates"]}
    assert verdicts == {"roc_auc >= 0.7": "pass", "f1 >= 0.99": "fail"}


# ------------------------------------------------------------------------ shapes from the wild


def variant(data_project: Path, name: str, current: str) -> Path:
    """A copy of the data project whose Spark dataset reads ``current`` (a config line)."""
    text = (data_project / "pyproject.toml").read_text()
    text = text.replace('engine = "spark"\npath = "data/current.parquet"',
                        f'engine = "spark"\n{current}')  # fmt: skip
    root = data_project / name
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(text)
    shutil.copy(data_project / "checks_schema.py", root / "checks_schema.py")
    shutil.copy(data_project / "data" / "reference.parquet", root / "data" / "reference.parquet")
    return root


def checked(root: Path, *checks: str) -> dict:
    import sys

    from pytest_mlci.config import load_config
    from pytest_mlci.data.validate import DatasetChecks

    config = load_config(root / "pyproject.toml")
    runner = DatasetChecks(config.datasets["spark"], root=root, task=config.task)
    sys.path.insert(0, str(root))
    try:
        return keyed([row for check in checks for row in runner.run(check)])
    finally:
        sys.path.remove(str(root))


def test_a_hive_partitioned_folder_written_by_spark_gets_the_same_verdicts(data_project, outcomes):
    """A lakehouse table's usual layout: a folder of part files split by a column
    (``plan=basic/part-....parquet``, with ``_SUCCESS`` and ``.crc`` files), written by Spark
    itself. The partition column comes back last; the verdicts must not move."""
    from pytest_mlci.spark.session import spark_session

    root = variant(data_project, "partitioned", 'path = "data/current_by_plan"')
    folder = root / "data" / "current_by_plan"
    spark = spark_session(load_spark_settings(data_project))
    current = spark.read.parquet(str(data_project / "data" / "current.parquet"))
    current.write.mode("overwrite").partitionBy("plan").parquet(str(folder))
    assert (folder / "_SUCCESS").exists() and (folder / "plan=basic").is_dir()
    rows, expected = checked(root, "schema", "quality", "drift"), keyed(outcomes["spark"])
    assert {key: row.verdict for key, row in rows.items()} == {
        key: expected[key].verdict for key in rows
    }
    assert ("drift", "plan", "chi2") in rows
    assert rows[("quality", "<frame>", "duplicate rows")].statistic == pytest.approx(300 / 24_300)


def test_a_catalog_table_name_is_read_through_the_session(data_project, outcomes):
    """``table = "..."`` resolves through Spark's catalog (a temporary view stands in for a
    metastore table here: the same ``spark.table`` call reads both)."""
    from pytest_mlci.spark.session import spark_session

    root = variant(data_project, "table", 'table = "mlci_current_view"')
    spark = spark_session(load_spark_settings(data_project))
    current = spark.read.parquet(str(data_project / "data" / "current.parquet"))
    current.createOrReplaceTempView("mlci_current_view")
    rows, expected = checked(root, "volume", "quality", "drift"), keyed(outcomes["spark"])
    for key, row in rows.items():
        assert row.verdict == expected[key].verdict, key
        assert row.statistic == pytest.approx(expected[key].statistic, abs=0.01), key


def load_spark_settings(root: Path):
    from pytest_mlci.config import load_config

    return load_config(root / "pyproject.toml").datasets["spark"].spark


# ---------------------------------------------------------------------- failures on executors

FAILING_MODELS = """\
import os
import threading


class OnExecutors:
    \"\"\"A fitted model that scores on the driver but fails inside a Spark task, as a model
    does whose library or GPU is missing on the executors, or whose worker is killed.\"\"\"

    def __init__(self, model, how):
        self.model, self.how = model, how
        self.classes_ = model.classes_
        if how == "lock":
            self.lock = threading.Lock()  # cannot be pickled

    def _fail_on_executor(self):
        from pyspark import TaskContext

        if TaskContext.get() is None:
            return
        if self.how == "raise":
            raise RuntimeError("libcuda.so.1: cannot open shared object file")
        if self.how == "die":
            os._exit(137)  # what the kernel's OOM killer leaves behind

    def predict_proba(self, X):
        self._fail_on_executor()
        return self.model.predict_proba(X)

    def predict(self, X):
        self._fail_on_executor()
        return self.model.predict(X)
"""


def failing_evaluation(tiny_dir, tiny_assets, how: str):
    """An evaluation on Spark whose candidate fails on executors in the way ``how`` names."""
    import sys

    import skops.io as sio

    from pytest_mlci.config import load_config
    from pytest_mlci.evaluation.session import Evaluation

    spark_project(tiny_dir, gates={"roc_auc": ">= 0.5"})
    (tiny_dir.root / "failing_models.py").write_text(FAILING_MODELS)
    sys.path.insert(0, str(tiny_dir.root))
    import failing_models

    config = load_config(tiny_dir.root / "pyproject.toml")
    evaluation = Evaluation(config)
    fitted = sio.load(tiny_assets / "good.skops", trusted=sio.get_untrusted_types(
        file=tiny_assets / "good.skops"))  # fmt: skip
    evaluation._cache["model"] = failing_models.OnExecutors(fitted, how)
    return evaluation


@pytest.fixture
def restore_path():
    import sys

    before = list(sys.path)
    yield
    sys.path[:] = before
    sys.modules.pop("failing_models", None)


def test_a_model_that_raises_on_the_executors_fails_naming_the_exception(
    tiny_dir, tiny_assets, restore_path
):
    from pytest_mlci.errors import CheckFailed

    evaluation = failing_evaluation(tiny_dir, tiny_assets, "raise")
    with pytest.raises(CheckFailed) as caught:
        evaluation.estimate("roc_auc")
    message = str(caught.value)
    assert message.startswith("scoring ")
    assert "failed on a Spark executor: RuntimeError: libcuda.so.1" in message
    assert "JVM" not in message and "at org.apache" not in message


def test_a_python_worker_killed_mid_job_is_an_engine_error_not_a_verdict(
    tiny_dir, tiny_assets, restore_path
):
    from pytest_mlci.errors import CheckFailed, EngineError

    evaluation = failing_evaluation(tiny_dir, tiny_assets, "die")
    with pytest.raises(EngineError) as caught:
        evaluation.estimate("roc_auc")
    assert not isinstance(caught.value, CheckFailed)
    message = str(caught.value)
    assert "Spark failed while scoring" in message
    assert "Python worker exited unexpectedly" in message
    assert "not a verdict" in message and "at org.apache" not in message
    # the session survives a dead worker: the next job on it runs
    assert evaluation.spark_frame.count() == 2000


def test_a_model_that_cannot_be_pickled_says_the_spark_engine_ships_models_pickled(
    tiny_dir, tiny_assets, restore_path
):
    from pytest_mlci.errors import CheckFailed

    evaluation = failing_evaluation(tiny_dir, tiny_assets, "lock")
    with pytest.raises(CheckFailed, match="ships models pickled"):
        evaluation.estimate("roc_auc")
