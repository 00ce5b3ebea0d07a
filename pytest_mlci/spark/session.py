"""One SparkSession per process, built from ``[tool.mlci.spark]``, and reading a dataset.

Why a clear error before anything starts: a missing pyspark or a missing Java otherwise ends in
an ImportError or a Py4J "Java gateway process exited" trace that names neither the fix nor the
config key. Why ``PYSPARK_PYTHON`` is this interpreter while the session starts: executors
in local mode start Python workers with ``python3`` from PATH otherwise, which may lack our
packages.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_mlci.config import SparkSettings
from pytest_mlci.errors import CheckFailed, ConfigError, DataError, EngineError, MlciError

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
    builder = SparkSession.builder.appName(settings.app_name)
    builder = builder.remote(settings.master) if remote else builder.master(settings.master)
    for name, value in {**DEFAULT_CONF, **settings.conf}.items():
        builder = builder.config(name, value)
    try:
        with _worker_environment():  # read while the JVM and SparkContext start, here
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


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """The environment Spark's Python workers get, set only while the session starts.

    ``PYSPARK_PYTHON`` (unless set already) is this interpreter: SparkContext reads it when it
    starts, and in local mode workers otherwise run ``python3`` from PATH, which may lack the
    project's packages. ``PYTHONWARNINGS`` silences pyspark's pandas-version warning in the
    workers (the JVM launched here passes its environment on). Both are restored afterwards
    so this process's other children are not changed.
    """
    from pytest_mlci import PYSPARK_PANDAS_WARNING
    from pytest_mlci.environment import environment

    rule = f"ignore:{PYSPARK_PANDAS_WARNING}:FutureWarning"
    known = os.environ.get("PYTHONWARNINGS")
    warnings = f"{known},{rule}" if known else rule
    python = os.environ.get("PYSPARK_PYTHON") or sys.executable
    with environment(PYTHONWARNINGS=warnings, PYSPARK_PYTHON=python):
        yield


def import_paths() -> list[str]:
    """This process's import path, for executors on this machine (see :func:`on_worker`).

    Why: the project's own modules (a schema, a model's helper classes) are importable here
    because pytest or the config loader put the project root on ``sys.path``; a Python worker
    started by Spark has only its own. On a cluster these folders do not exist and are
    skipped: install the project's modules on the executors or ship them with ``--py-files``.
    """
    return [p for p in sys.path if p and Path(p).is_dir()]


def on_worker(paths: list[str], payload: bytes) -> Any:
    """On an executor: extend ``sys.path`` with the driver's folders that exist here, then
    unpickle ``payload`` (which may name the project's modules)."""
    import pickle

    for folder in paths:
        if folder not in sys.path and Path(folder).is_dir():
            sys.path.append(folder)
    return pickle.loads(payload)


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


@contextlib.contextmanager
def job_failures(what: str) -> Iterator[None]:
    """Spark jobs run inside this say what failed in one line, not a JVM stack trace.

    Why two kinds: an exception raised by Python code on an executor (the model's predict, the
    schema, a loader's helper) is the project's to fix, the same ``CheckFailed`` the local
    engine raises when a model cannot predict (exit 1); anything else (a Python worker that
    died, an executor lost, a job out of memory, a cluster gone) is the engine failing, an
    :class:`~pytest_mlci.errors.EngineError` (exit 3: retry or fix the cluster, not the model).
    Exceptions that are not Spark's keep their traceback (they are our bugs).
    """
    try:
        yield
    except MlciError:
        raise
    except Exception as exc:
        translated = describe_job_failure(exc, what)
        if translated is None:
            raise
        raise translated from None


def describe_job_failure(exc: BaseException, what: str) -> MlciError | None:
    """The user-facing error for a failed Spark job, or None when ``exc`` is not Spark's."""
    module = type(exc).__module__ or ""
    if not module.startswith(("pyspark", "py4j")):
        return None
    text = str(exc)
    raised = _python_exception_line(text)
    if raised is not None:
        return CheckFailed(f"{what} failed on a Spark executor: {raised}")
    return EngineError(
        f"Spark failed while {what}: {_job_cause(text) or _first_line(exc)}. This is the "
        "engine, not a verdict: see the executors' logs, give them more memory "
        "(spark.executor.memory in [tool.mlci.spark] conf) or run again"
    )


def _python_exception_line(text: str) -> str | None:
    """``ValueError: ...``: the last line of the Python traceback in a Spark error, if any."""
    head = text.split("JVM stacktrace:", 1)[0]
    if "Traceback (most recent call last)" not in head:
        return None
    tail = head.rsplit("Traceback (most recent call last)", 1)[1]
    for line in reversed(tail.splitlines()):
        if line.strip() and not line.startswith((" ", "\t")):
            return line.strip()[:500]
    return None


def _job_cause(text: str) -> str | None:
    """Why the stage failed, from Spark's "most recent failure: Lost task ...: <cause>"."""
    marker = "most recent failure:"
    if marker not in text:
        return None
    cause = text.split(marker, 1)[1].strip().splitlines()[0]
    # "Lost task 0.0 in stage 3.0 (TID 7) (host executor driver): <exception>: <message>"
    if "): " in cause:
        cause = cause.split("): ", 1)[1]
    return cause.strip()[:500] or None


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
    with job_failures(f"reading the first {rows} rows of {dataset.location}"):
        return frame.limit(rows).toPandas()
