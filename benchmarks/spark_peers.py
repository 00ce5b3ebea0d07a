"""Peers of the Spark engine on the same parquet directories, each in its own throwaway venv.

For issue 16: the Spark engine (local[2]) against the tools a team would otherwise reach for on
Spark. Each peer runs in a fresh child process of a venv this script creates on demand under
``--venvs`` (installation is not timed), on a ``local[2]`` SparkSession with the JVM on PATH:

  * ``pandera``: pandera.pyspark's ``DataFrameSchema`` with the columns and checks of
    ``bench_data_streamed.SCHEMA`` (15 non-null doubles, 3 non-null longs >= 0, ``cat0`` in
    a..d, ``cat1`` in r0..r19, strict), validating the current directory. pandera.pyspark does
    not raise; its verdict is read from ``df.pandera.errors``. A ten-row frame with two bad
    values is validated too (untimed) to show what an error report holds (counts or not).
  * ``whylogs``: whylogs' Spark profiling (``collect_dataset_profile_view``) of current and
    reference, then its drift scores between the two profiles (``calculate_drift_scores``).
  * ``evidently``: Evidently 0.6's ``SparkEngine`` (the last line with a Spark path),
    ``DataDriftPreset`` on current vs reference.

Each child prints one JSON line: its wall times, its verdict, and its own peak RSS and that of
the JVM it started (the child stops Spark and waits for the JVM, so the JVM's peak is counted).
The parent reads the peak of the whole child tree with ``os.wait4`` (the per-child form of
``getrusage(RUSAGE_CHILDREN)``, so pip's installs do not leak into the figure) and adds its
own wall time of the child. A peer that cannot be installed or run is recorded with the line
that says why.

Run: .venv/bin/python benchmarks/spark_peers.py --current DIR --reference DIR --out peers.json
     [--venvs /tmp/spark-bench/venvs] [--peers pandera,whylogs,evidently] [--driver-memory 4g]
     [--timeout 1800]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PEERS: dict[str, list[str]] = {
    # pyspark.pandas (which pandera.pyspark imports) fails under pandas 3.
    "pandera": ["pandas<3", "pyspark>=4", "pandera[pyspark]", "pyarrow"],
    # whylogs' Spark support needs pyspark 3 and numpy 1.
    # (its drift scores live in whylogs.viz, which imports IPython: the viz extra).
    "whylogs": ["whylogs[spark,viz]", "pyspark<4", "numpy<2", "pandas<3", "pyarrow"],
    # Evidently dropped the Spark engine after 0.6.x.
    "evidently": ["evidently[spark]==0.6.7", "pandas<3", "pyarrow"],
}

COMMON = '''
import json, os, resource, sys, time
started = time.perf_counter()
current, reference, master, memory = sys.argv[1:5]
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master(master).appName("peer")
         .config("spark.driver.memory", memory)
         .config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
session_s = time.perf_counter() - started
out = {"session_s": session_s, "versions": {}}

def finish(out):
    """Stop Spark, wait for the JVM (so its peak RSS is counted), print the JSON line."""
    jvm = getattr(spark.sparkContext._gateway, "proc", None)
    spark.stop()
    if jvm is not None:
        try:
            jvm.stdin.close()
        except Exception:
            pass
        try:
            jvm.wait(timeout=120)
        except Exception as error:
            out["jvm_wait"] = repr(error)
    out["python_peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["jvm_peak_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out["child_total_s"] = time.perf_counter() - started
    print(json.dumps(out, default=str))
'''

CHILDREN: dict[str, str] = {
    "pandera": """
import pandera
import pandera.pyspark as pa
import pyspark.sql.types as T
out["versions"] = {"pandera": pandera.__version__, "pyspark": spark.version}
columns = {f"f{i:02d}": pa.Column(T.DoubleType(), nullable=False) for i in range(15)}
columns.update({f"i{i}": pa.Column(T.LongType(), pa.Check.ge(0), nullable=False)
                for i in range(3)})
columns["cat0"] = pa.Column(T.StringType(), pa.Check.isin(list("abcd")), nullable=False)
columns["cat1"] = pa.Column(T.StringType(), pa.Check.isin([f"r{j}" for j in range(20)]),
                            nullable=False)
schema = pa.DataFrameSchema(columns, strict=True)

began = time.perf_counter()
frame = spark.read.parquet(current)
checked = schema.validate(frame)
errors = dict(checked.pandera.errors)
out["read_validate_s"] = time.perf_counter() - began
out["verdict"] = "pass" if not errors else "fail"
out["errors"] = errors
out["spark_schema"] = frame.schema.simpleString()

# Untimed probe: what does an error report hold? Two rows break i0 >= 0, one breaks cat0.
rows = [tuple([0.0] * 15 + [-1 if k < 2 else 1, 1, 1, "z" if k == 0 else "a", "r1"])
        for k in range(10)]
probe = spark.createDataFrame(rows, frame.schema)
out["probe_errors"] = dict(schema.validate(probe).pandera.errors)
finish(out)
""",
    "whylogs": """
import whylogs
from whylogs.api.pyspark.experimental import collect_dataset_profile_view
out["versions"] = {"whylogs": whylogs.__version__, "pyspark": spark.version}
began = time.perf_counter()
current_view = collect_dataset_profile_view(input_df=spark.read.parquet(current))
out["profile_current_s"] = time.perf_counter() - began
began = time.perf_counter()
reference_view = collect_dataset_profile_view(input_df=spark.read.parquet(reference))
out["profile_reference_s"] = time.perf_counter() - began
out["profiled_rows"] = {
    "current": current_view.get_column("f00").get_metric("counts").n.value,
    "reference": reference_view.get_column("f00").get_metric("counts").n.value,
}
began = time.perf_counter()
try:
    from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores
    scores = calculate_drift_scores(target_view=current_view, reference_view=reference_view,
                                    with_thresholds=True)
    out["drift_s"] = time.perf_counter() - began
    out["drift"] = {c: {k: s.get(k) for k in ("algorithm", "pvalue", "statistic",
                                             "drift_category")} if s else None
                    for c, s in scores.items()}
    out["drifted"] = sorted(c for c, s in scores.items()
                            if s and s.get("drift_category") == "DRIFT")
    out["possible_drift"] = sorted(c for c, s in scores.items()
                                   if s and s.get("drift_category") == "POSSIBLE_DRIFT")
except Exception as error:
    out["drift_error"] = f"{type(error).__name__}: {error}"
out["total_s"] = sum(out.get(k, 0) for k in ("profile_current_s", "profile_reference_s",
                                             "drift_s"))
finish(out)
""",
    "evidently": """
import evidently
from evidently import ColumnMapping
from evidently.metric_preset import DataDriftPreset
from evidently.report import Report
from evidently.spark.engine import SparkEngine
out["versions"] = {"evidently": evidently.__version__, "pyspark": spark.version}
began = time.perf_counter()
cur, ref = spark.read.parquet(current), spark.read.parquet(reference)
mapping = ColumnMapping(
    numerical_features=[f"f{i:02d}" for i in range(15)] + [f"i{i}" for i in range(3)],
    categorical_features=["cat0", "cat1"])
report = Report(metrics=[DataDriftPreset()])
report.run(reference_data=ref, current_data=cur, column_mapping=mapping, engine=SparkEngine)
result = report.as_dict()
out["drift_s"] = time.perf_counter() - began
by_column = {}
for metric in result["metrics"]:
    table = metric["result"].get("drift_by_columns")
    if table:
        by_column = {c: {"test": v.get("stattest_name"), "score": v.get("drift_score"),
                         "drifted": v.get("drift_detected")} for c, v in table.items()}
    if "dataset_drift" in metric["result"]:
        out["dataset_drift"] = metric["result"]["dataset_drift"]
        out["number_of_drifted_columns"] = metric["result"].get("number_of_drifted_columns")
out["drift"] = by_column
out["drifted"] = sorted(c for c, v in by_column.items() if v["drifted"])
finish(out)
""",
}


def error_line(text: str) -> str:
    """The line that says why (the last line naming an error, else the last line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if "is ignored: it is neither" not in line]
    named = [line for line in lines if "error" in line.lower() or "exception" in line.lower()]
    return (named or lines or ["(no output)"])[-1][:500]


def spark_progress(text: str) -> str:
    """Where Spark's console progress bar stood last: stage number and tasks done / total."""
    bars = re.findall(r"\[Stage (\d+):[=> ]*\((\d+) \+ (\d+)\) / (\d+)\]", text)
    if not bars:
        return "no Spark stage started"
    stage, done, running, total = bars[-1]
    return f"stage {stage}: {done} of {total} tasks done, {running} running"


def ensure_venv(folder: Path, requirements: list[str]) -> dict:
    """Create the venv and install ``requirements`` unless a marker says it was done."""
    marker = folder / ".mlci-installed"
    wanted = json.dumps(requirements)
    if marker.exists() and marker.read_text() == wanted:
        return {"installed": "reused"}
    began = time.perf_counter()
    if not (folder / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
    done = subprocess.run(
        [str(folder / "bin" / "pip"), "install", "--disable-pip-version-check", *requirements],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    (folder / "pip-install.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        return {"install_error": error_line(done.stderr or done.stdout)}
    marker.write_text(wanted)
    return {"installed": f"{time.perf_counter() - began:.0f} s (not timed in the figures)"}


def run_peer(name: str, folder: Path, args: argparse.Namespace, timeout: float) -> dict:
    """Run one peer's child; wall time and peak RSS of its process tree via ``wait4``."""
    script = folder / "peer_child.py"
    script.write_text(COMMON + CHILDREN[name])
    python = str(folder / "bin" / "python")
    env = dict(os.environ, PYSPARK_PYTHON=python, PYSPARK_DRIVER_PYTHON=python)
    env["PANDERA_VALIDATION_DEPTH"] = "SCHEMA_AND_DATA"
    env.pop("SPARK_HOME", None)  # each venv's own pyspark
    env.pop("VIRTUAL_ENV", None)
    argv = [python, str(script), str(args.current), str(args.reference), args.master,
            args.driver_memory]  # fmt: skip
    stdout, stderr = folder / "peer_child.out", folder / "peer_child.err"
    with stdout.open("w") as out_file, stderr.open("w") as err_file:
        began = time.perf_counter()
        child = subprocess.Popen(
            argv, stdout=out_file, stderr=err_file, env=env, cwd=folder, start_new_session=True
        )
        timer = threading.Timer(timeout, os.killpg, (child.pid, signal.SIGKILL))
        timer.start()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - began
        timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
    record = {"wall_s": wall, "tree_peak_mib": usage.ru_maxrss / 1024}
    if child.returncode == -signal.SIGKILL and wall >= timeout:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # the JVM too
        record["run_error"] = f"did not finish within the {timeout:.0f} s timeout (killed)"
        record["progress_at_kill"] = spark_progress(stderr.read_text())
        return record
    lines = stdout.read_text().strip().splitlines()
    if child.returncode != 0 or not lines:
        record["run_error"] = error_line(stderr.read_text())
        record["returncode"] = child.returncode
        return record
    record.update(json.loads(lines[-1]))
    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--current", type=Path, required=True)
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--venvs", type=Path, default=Path("/tmp/spark-bench/venvs"))
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per peer")
    parser.add_argument(
        "--peer-timeout", action="append", default=[], metavar="NAME=SECONDS",
        help="a different timeout for one peer (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    args.current, args.reference = args.current.resolve(), args.reference.resolve()
    timeouts = {n: float(t) for n, t in (item.split("=") for item in args.peer_timeout)}

    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    report: dict = {
        "current": str(args.current),
        "reference": str(args.reference),
        "master": args.master,
        "driver_memory": args.driver_memory,
        "timeout_s": {name: timeouts.get(name, args.timeout) for name in args.peers.split(",")},
        "java": java.stderr.splitlines()[0] if java.stderr else "not found",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "peers": {},
    }
    for name in args.peers.split(","):
        folder = args.venvs / name
        folder.parent.mkdir(parents=True, exist_ok=True)
        record = {"requirements": PEERS[name], **ensure_venv(folder, PEERS[name])}
        if "install_error" not in record:
            print(f"{name}: running", file=sys.stderr, flush=True)
            record.update(run_peer(name, folder, args, timeouts.get(name, args.timeout)))
        report["peers"][name] = record
        print(f"{name}: {json.dumps(record, default=str)[:400]}", file=sys.stderr, flush=True)
        args.out.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
