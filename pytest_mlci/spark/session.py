"""One SparkSession per process, built from ``[tool.mlci.spark]``, and reading a dataset.

Why a clear error before anything starts: a missing pyspark or a missing Java otherwise ends in
an ImportError or a Py4J "Java gateway process exited" trace that names neither the fix nor the
config key. Why ``PYSPARK_PYTHON`` is set to this interpreter: executors in local mode start
Python workers with ``python3`` from PATH otherwise, which may lack the project's packages.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from pytest_mlci.config import SparkSettings
from pytest_mlci.errors import ConfigError, DataError

#: Settings applied unless the project's ``conf`` sets them: UTC timestamps (freshness is
#: judged in UTC), Arrow transfer for pandas UDFs, no web UI port for a CI job in local mode.
DEFAULT_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}

_SESSIONS: dict[tuple[Any, ...], Any] = {}
#: Rows of a Spark dataset brought to this process where a check needs rows here, not sums:
#: staging's smoke rows, the canary's synthetic requests, latency and memory measurements,
#: robustness, and the compatibility probe of the production model.
LOCAL_SAMPLE_ROWS = 10_000


def spark_session(settings: SparkSettings, *, key: str = "engine") -> Any:
    """The session for ``settings`` (built once per process; Spark allows one per JVM)."""
    identity = (settings.master, tuple(sorted(settings.conf.items())), settings.app_name)
    if identity in _SESSIONS:
        return _SESSIONS[identity]
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "engine = 'spark' needs pyspark, which is not installed; "
            "pip install 'pytest-mlci[spark]' (or set engine = 'local')",
            key=key,
        ) from None
    remote = settings.master.startswith("sc://")
    if not remote and not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise ConfigError(
            f"Spark (master {settings.master!r}) needs Java 17 or newer, and no 'java' is on "
            "PATH nor JAVA_HOME set; install a JRE (e.g. apt-get install openjdk-17-jre-headless)",
            key="spark.master",
        )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    _quiet()
    _export_import_path()
    builder = SparkSession.builder.appName(settings.app_name)
    builder = builder.remote(settings.master) if remote else builder.master(settings.master)
    for name, value in {**DEFAULT_CONF, **settings.conf}.items():
        builder = builder.config(name, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start or the master is unreachable
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"could not start Spark with master {settings.master!r}: {first}", key="spark.master"
        ) from exc
    if not remote:
        session.sparkContext.setLogLevel("ERROR")  # a check's output is its rows, not INFO logs
    _SESSIONS[identity] = session
    return session


def _quiet() -> None:
    """Silence pyspark's pandas-version warning here and in the Python workers it starts."""
    from pytest_mlci import PYSPARK_PANDAS_WARNING

    rule = f"ignore:{PYSPARK_PANDAS_WARNING}:FutureWarning"
    known = os.environ.get("PYTHONWARNINGS", "")
    if rule not in known:
        os.environ["PYTHONWARNINGS"] = f"{known},{rule}" if known else rule


def _export_import_path() -> None:
    """Let local Python workers import what this process imports (the project's schema and
    metric modules live under its root, which pytest put on ``sys.path``, not on PYTHONPATH).

    On a cluster the same modules must be installed on the executors or shipped with
    ``--py-files``; README's Spark section says so.
    """
    here = [p for p in sys.path if p and Path(p).is_dir()]
    known = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    extra = [p for p in here if p not in known]
    if extra:
        os.environ["PYTHONPATH"] = os.pathsep.join([*[k for k in known if k], *extra])


def storage_format(location: str, declared: str | None) -> str:
    """parquet, delta, csv, json, orc or table: as declared, else from the location."""
    if declared:
        return declared
    lowered = location.lower().rstrip("/")
    for suffix, kind in (
        (".csv", "csv"),
        (".tsv", "csv"),
        (".json", "json"),
        (".jsonl", "json"),
        (".orc", "orc"),
    ):
        if lowered.endswith(suffix):
            return kind
    if Path(location, "_delta_log").is_dir():
        return "delta"
    return "parquet"


def read(spark: Any, location: str, declared_format: str | None, *, dataset: Any, key: str) -> Any:
    """A Spark DataFrame of ``location``; a missing table or path is a :class:`DataError`
    naming the dataset key, never a JVM stack trace."""
    kind = storage_format(location, declared_format)
    try:
        if kind == "table":
            return spark.table(location)
        reader = spark.read.format(kind)
        if kind == "csv":
            header = not dataset.columns
            reader = reader.option("header", str(header).lower()).option("inferSchema", "true")
            if dataset.sep:
                reader = reader.option("sep", dataset.sep)
            elif location.lower().endswith(".tsv"):
                reader = reader.option("sep", "\t")
        frame = reader.load(location)
        if dataset.columns:
            frame = frame.toDF(*dataset.columns)
        return frame
    except Exception as exc:
        raise DataError(
            f"{location}: Spark cannot read it as {kind} ({_first_line(exc)}); check "
            f"datasets.{dataset.name}.{key}"
            + (" and 'format'" if kind != "table" else " (a table name: catalog.schema.table)")
        ) from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("JVM stacktrace", "at ", "org.apache")):
            return line[:300]
    return type(exc).__name__


def local_sample(settings: SparkSettings, dataset: Any, rows: int) -> Any:
    """The first ``rows`` rows of ``dataset`` as a pandas DataFrame, read through Spark."""
    spark = spark_session(settings, key="evaluation.engine")
    assert dataset.location is not None
    frame = read(spark, dataset.location, dataset.format, dataset=dataset, key="path")
    return frame.limit(rows).toPandas()
