"""The Spark engine (local[2]) against the local engine, on the same files, in one run.

Part ``data``: every declared check of a 20,000,000-row x 20-column parquet directory and a
5,000,000-row reference (``bench_data_streamed.write_directory``: three shifted columns), by
the streamed local engine and by the Spark engine, each in a fresh child process (wall time,
peak RSS of the child and its JVM). The rows of the two engines are compared verdict by
verdict. Peers (pandera's pyspark validation, whylogs' Spark profile) are measured by
``benchmarks/spark_peers.py`` on the same directory; pass its JSON with ``--peers``.

Part ``eval``: gates of a 10,000,000-row evaluation set (the tests' tiny-project shape) with
production registered: ``roc_auc >= baseline - 0.01``, ``f1 >= baseline - 0.02``,
``accuracy >= 0.6``, 500 resamples. The local engine (one process, DeLong / Tango / the
multinomial cell bootstrap) against the Spark engine (both models scored on the executors,
500-resample Poisson bootstrap in the same pass). Verdicts and intervals compared.

Run: .venv/bin/python benchmarks/bench_spark.py [--data DIR] [--part data|eval|all]
     [--eval-rows 10000000] [--peers /tmp/spark-bench/peers.json] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPARK_CONF = {"spark.driver.memory": "4g", "spark.sql.shuffle.partitions": "8"}


def data_child(engine: str, current: Path, reference: Path) -> dict:
    """Every check of the dataset on one engine; seconds per check and the rows."""
    from pytest_mlci.config import DatasetConfig, SparkSettings
    from pytest_mlci.data.validate import DatasetChecks, checks_for

    sys.path.insert(0, str(HERE))
    dataset = DatasetConfig(
        name="bench",
        path=current,
        reference=reference,
        schema="bench_data_streamed:SCHEMA",
        expected_rows=20_000_000,
        max_duplicate_rate=0.01,
        stream="always",
        engine=engine,
        location=str(current),
        reference_location=str(reference),
        spark=SparkSettings(master="local[2]", conf=SPARK_CONF),
    )
    checks = DatasetChecks(dataset, root=HERE)
    started = time.perf_counter()
    if engine == "spark":
        checks.spark.frame()  # the session: reported apart from the checks
    session = time.perf_counter() - started
    seconds, rows = {}, []
    for check in checks_for(dataset):
        began = time.perf_counter()
        found = checks.run(check)
        seconds[check] = time.perf_counter() - began
        rows += [[r.check, r.column, r.test, r.verdict, r.statistic] for r in found]
    return {"session": session, "seconds": seconds, "rows": rows,
            "total": time.perf_counter() - started}  # fmt: skip


def eval_child(root: Path) -> dict:
    """The gates of the project at ``root`` on the engine its config names."""
    from pytest_mlci.config import load_config
    from pytest_mlci.evaluation.session import Evaluation

    config = load_config(root / "pyproject.toml")
    evaluation = Evaluation(config)
    started = time.perf_counter()
    results = {}
    for gate in evaluation.gates():
        result = evaluation.check_gate(gate)
        results[gate.text] = {
            "verdict": result.verdict,
            "candidate": [result.candidate.value, result.candidate.low, result.candidate.high],
            "delta": [result.delta.value, result.delta.low, result.delta.high]
            if result.delta
            else None,
        }
    return {"seconds": time.perf_counter() - started, "gates": results}


def run_child(*args: str) -> tuple[dict, float, float]:
    """(result, wall seconds, peak RSS MiB of the child and its descendants)."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args],
                          capture_output=True, text=True, check=False)  # fmt: skip
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr[-4000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return json.loads(done.stdout.strip().splitlines()[-1]), wall, peak


def part_data(data: Path, peers: Path | None) -> dict:
    current, reference = data / "current", data / "reference"
    if not current.exists():
        sys.path.insert(0, str(HERE))
        from bench_data_streamed import write_directory

        write_directory(current, 20_000_000, 500_000, 2, shifted=True)
        write_directory(reference, 5_000_000, 500_000, 1, shifted=False)
    local, local_wall, _ = run_child("--data-child", "local", str(current), str(reference))
    spark, spark_wall, _ = run_child("--data-child", "spark", str(current), str(reference))
    verdicts = {tuple(r[:3]): r[3] for r in local["rows"]}
    differing = [[*r[:4], verdicts.get(tuple(r[:3]))] for r in spark["rows"]
                 if verdicts.get(tuple(r[:3])) != r[3]]  # fmt: skip
    result = {"local": {**local, "wall": local_wall}, "spark": {**spark, "wall": spark_wall},
              "differing_verdicts": differing}  # fmt: skip
    if peers and peers.exists():
        result["peers"] = json.loads(peers.read_text()).get("peers", {})
    print("data checks, 20,000,000 x 20 current + 5,000,000 reference rows")
    for name in ("local", "spark"):
        part = result[name]
        checks = ", ".join(f"{c} {s:.1f} s" for c, s in part["seconds"].items())
        print(f"  {name:<6} wall {part['wall']:.1f} s (session {part['session']:.1f} s): {checks}")
    print(f"  spark / local wall: {spark_wall / local_wall:.2f}x; rows whose verdicts differ: "
          f"{len(differing)} of {len(spark['rows'])}")  # fmt: skip
    for name, peer in result.get("peers", {}).items():
        wall = peer.get("wall_s")
        if wall:
            print(f"  peer {name}: wall {wall:.1f} s ({wall / spark_wall:.2f}x the Spark engine)")
    return result


def build_eval_project(root: Path, rows: int) -> None:
    """The tiny project's shape with ``rows`` evaluation rows and production registered."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import skops.io as sio

    sys.path.insert(0, str(HERE.parent / "tests"))
    sys.path.insert(0, str(HERE.parent))
    from conftest import TINY_SCHEMA, make_frame, train_model

    from pytest_mlci.config import load_config

    if root.exists():
        shutil.rmtree(root)
    (root / "data").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "tiny_schema.py").write_text(TINY_SCHEMA)
    writer = None
    for part, start in enumerate(range(0, rows, 1_000_000)):
        frame = make_frame(min(1_000_000, rows - start), seed=100 + part)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(root / "data" / "test.parquet", table.schema)
        writer.write_table(table, row_group_size=128 * 1024)
    assert writer is not None
    writer.close()
    train = make_frame(20_000, seed=1)
    sio.dump(train_model(train), root / "models" / "model.skops")
    sio.dump(train_model(train, noise=0.3), root / "production.skops")
    (root / "pyproject.toml").write_text(
        '[tool.mlci]\nmodel = "bench"\ntask = "binary_classification"\ntarget = "label"\n'
        'artifact = "models/model.skops"\n\n[tool.mlci.datasets.eval]\n'
        'path = "data/test.parquet"\n\n[tool.mlci.evaluation]\nresamples = 500\n\n'
        '[tool.mlci.gates]\nroc_auc = ">= baseline - 0.01"\nf1 = ">= baseline - 0.02"\n'
        'accuracy = ">= 0.6"\n'
    )
    config = load_config(root / "pyproject.toml")
    sys.path.insert(0, str(HERE.parent / "tests"))
    from test_artifact_integrity import register

    kept = config.artifact.read_bytes()
    register(config, root / "production.skops", production=True)
    config.artifact.write_bytes(kept)


def part_eval(base: Path, rows: int) -> dict:
    local_root, spark_root = base / "eval-local", base / "eval-spark"
    build_eval_project(local_root, rows)
    shutil.copytree(local_root, spark_root)
    text = (spark_root / "pyproject.toml").read_text()
    conf = ", ".join(f'"{k}" = "{v}"' for k, v in SPARK_CONF.items())
    text = text.replace("resamples = 500", 'resamples = 500\nengine = "spark"')
    (spark_root / "pyproject.toml").write_text(
        text + f'\n[tool.mlci.spark]\nmaster = "local[2]"\nconf = {{ {conf} }}\n'
    )
    local, local_wall, local_peak = run_child("--eval-child", str(local_root))
    spark, spark_wall, spark_peak = run_child("--eval-child", str(spark_root))
    same = {g: local["gates"][g]["verdict"] == spark["gates"][g]["verdict"] for g in local["gates"]}
    print(f"evaluation, {rows:,} rows, 500 resamples, production registered")
    for gate in local["gates"]:
        a, b = local["gates"][gate], spark["gates"][gate]
        print(f"  {gate:<28} local {a['verdict']:<5} {fmt(a['delta'] or a['candidate'])}  "
              f"spark {b['verdict']:<5} {fmt(b['delta'] or b['candidate'])}")  # fmt: skip
    print(f"  wall: local {local_wall:.1f} s, spark {spark_wall:.1f} s "
          f"({spark_wall / local_wall:.2f}x); same verdicts: {all(same.values())}")  # fmt: skip
    return {"local": {**local, "wall": local_wall, "peak_mib": local_peak},
            "spark": {**spark, "wall": spark_wall, "peak_mib": spark_peak},
            "same_verdicts": same}  # fmt: skip


def fmt(values: list[float]) -> str:
    return f"{values[0]:+.5f} [{values[1]:+.5f}, {values[2]:+.5f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("/tmp/spark-bench/data"))
    parser.add_argument("--part", choices=("data", "eval", "all"), default="all")
    parser.add_argument("--eval-rows", type=int, default=10_000_000)
    parser.add_argument("--peers", type=Path, default=Path("/tmp/spark-bench/peers.json"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--data-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--eval-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.data_child:
        engine, current, reference = args.data_child
        print(json.dumps(data_child(engine, Path(current), Path(reference))))
        return
    if args.eval_child:
        print(json.dumps(eval_child(args.eval_child)))
        return
    result = {}
    if args.part in ("data", "all"):
        result["data"] = part_data(args.data, args.peers)
    if args.part in ("eval", "all"):
        result["eval"] = part_eval(args.data.parent, args.eval_rows)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
