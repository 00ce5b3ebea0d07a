"""Evaluation and data checks of a sparse 1,000,000 x 10,000 matrix, never made dense.

Builds a project in a temporary directory: a CSR matrix of TF-IDF-like features (density
~0.1 %, ~10 million stored values) for the evaluation data and another for the reference,
saved with ``scipy.sparse.save_npz`` with the labels beside them, one loader function, and a
LogisticRegression trained on a 50,000-row slice (building and training are not timed).
Then each phase runs in a fresh child process through the real code path, timed from the
outside (wall time) with its peak resident memory (the child's ``VmHWM``):

  * ``load``: the loader alone (the floor: Python, numpy, scipy and the two matrices);
  * ``evaluation``: ``Evaluation`` on the loader config judging roc_auc, accuracy and f1
    gates (predictions on CSR, paired bootstrap with 1,000 resamples);
  * ``data checks``: ``DatasetChecks`` volume, quality (nulls, constants, duplicate rows,
    label share) and drift of all 10,000 features against the reference.

The peers (Evidently, Deepchecks, MLflow's evaluate) take a dense pandas DataFrame: this
matrix would need rows x features x 8 bytes = 80 GB of float64 before they start, so the
comparison is our peak memory against that dense size. With ``--evidently-venv`` (a
throwaway venv holding Evidently, see bench_data_evidently.py) both sides also run drift on a
slice small enough to make dense (``--slice-rows`` x ``--slice-features``): Evidently's
DataDriftPreset on the dense frames, ours on the same slice as CSR.

Run: .venv/bin/python benchmarks/bench_sparse_eval.py [--rows 1000000] [--features 10000]
     [--evidently-venv /tmp/evvenv --slice-rows 20000 --slice-features 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

LOADER = """\
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def load(path):
    path = Path(path)
    return sp.load_npz(path), np.load(path.with_suffix(".labels.npy"))
"""


def build(root: Path, rows: int, features: int, density: float) -> None:
    """Data, reference, loader, model and config in ``root`` (not timed)."""
    import numpy as np
    import scipy.sparse as sp
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    weights = rng.normal(size=features)
    (root / "data").mkdir()
    (root / "models").mkdir()
    for name, seed in (("eval", 1), ("reference", 2)):
        gen = np.random.default_rng(seed)
        nnz = int(rows * features * density)
        indptr = np.concatenate([[0], np.cumsum(gen.multinomial(nnz, np.full(rows, 1 / rows)))])
        indices = gen.integers(0, features, nnz).astype(np.int32)
        data = gen.exponential(1.0, nnz)
        X = sp.csr_matrix((data, indices, indptr), shape=(rows, features))
        X.sum_duplicates()
        signal = X @ weights
        y = (signal + gen.normal(scale=0.5, size=rows) > 0).astype(np.int64)
        sp.save_npz(root / "data" / f"{name}.npz", X, compressed=False)
        np.save(root / "data" / f"{name}.labels.npy", y)
        if name == "eval":
            train_X, train_y = X[:50_000], y[:50_000]
    model = LogisticRegression(max_iter=300).fit(train_X, train_y)
    sio.dump(model, root / "models" / "model.skops")
    (root / "loader.py").write_text(LOADER)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [tool.mlci]
            model = "sparse"
            task = "binary_classification"
            target = "label"
            artifact = "models/model.skops"
            on_missing_baseline = "allow-first"

            [tool.mlci.datasets.eval]
            path = "data/eval.npz"
            reference = "data/reference.npz"
            loader = "loader:load"
            max_duplicate_rate = 0.01
            allow_constant = []

            [tool.mlci.evaluation]
            resamples = 1000

            [tool.mlci.gates]
            roc_auc = ">= 0.7"
            accuracy = ">= 0.6"
            f1 = ">= 0.6"
            """
        )
    )


def phase(root: str, name: str) -> None:
    """One phase, in this (child) process."""
    from pytest_mlci.config import load_config

    config = load_config(Path(root) / "pyproject.toml")
    if name == "load":
        from pytest_mlci.data.loaded import load_data

        data = load_data(config.eval_dataset, root=config.root)
        reference = load_data(config.eval_dataset, config.eval_dataset.reference, root=config.root)
        print(f"loaded {data.describe()} and {reference.describe()}")
    elif name == "evaluation":
        from pytest_mlci.evaluation.session import Evaluation

        evaluation = Evaluation(config)
        for gate in evaluation.gates():
            result = evaluation.check_gate(gate)
            print(f"{result.gate}: {result.verdict} ({result.message})")
    elif name == "slice drift":
        from pytest_mlci.data.results import overall
        from pytest_mlci.data.validate import DatasetChecks

        sliced = dataclasses.replace(
            config.eval_dataset,
            path=Path(root) / "slice" / "eval.npz",
            reference=Path(root) / "slice" / "reference.npz",
        )
        started = time.perf_counter()
        rows = DatasetChecks(sliced, root=config.root, task=config.task).run("drift")
        print(f"drift: {overall(rows)} in {time.perf_counter() - started:.2f} s (with loading)")
    elif name == "data checks":
        from pytest_mlci.data.results import failing, overall
        from pytest_mlci.data.validate import DatasetChecks

        checks = DatasetChecks(config.eval_dataset, root=config.root, task=config.task)
        for check in ("volume", "quality", "drift"):
            started = time.perf_counter()
            rows = checks.run(check)
            seconds = time.perf_counter() - started
            shown = "; ".join(row.describe() for row in failing(rows)[:3])
            print(f"{check}: {overall(rows)} in {seconds:.2f} s ({len(rows)} rows) {shown}")
        print(checks.shape())
    # The child's own high-water mark: a forked child's ru_maxrss can start at its parent's.
    status = Path("/proc/self/status").read_text()
    peak = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    print(f"peak-kib {int(peak.split()[1])}")


EVIDENTLY = """\
import sys, time
from pathlib import Path

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

root = Path(sys.argv[1])
reference = pd.read_parquet(root / "reference.parquet")
current = pd.read_parquet(root / "eval.parquet")
started = time.perf_counter()
Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
print(f"DataDriftPreset on {current.shape[0]:,} x {current.shape[1]:,} dense: "
      f"{time.perf_counter() - started:.2f} s (without loading)")
status = Path("/proc/self/status").read_text()
peak = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
print(f"peak-kib {int(peak.split()[1])}")
"""


def make_slice(root: Path, rows: int, features: int) -> None:
    """The first ``rows`` x ``features`` of both matrices: CSR for us, dense parquet for
    Evidently (the only form it takes)."""
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    (root / "slice").mkdir()
    for name in ("eval", "reference"):
        X = sp.load_npz(root / "data" / f"{name}.npz")[:rows, :features].tocsr()
        y = np.load(root / "data" / f"{name}.labels.npy")[:rows]
        sp.save_npz(root / "slice" / f"{name}.npz", X, compressed=False)
        np.save(root / "slice" / f"{name}.labels.npy", y)
        frame = pd.DataFrame(X.toarray(), columns=[f"f{i}" for i in range(features)])
        frame.to_parquet(root / "slice" / f"{name}.parquet")


def measure(root: Path, name: str, python: str = sys.executable) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MiB) of one phase in a fresh child process."""
    started = time.perf_counter()
    command = [python, __file__, "--phase", name, "--dir", str(root)]
    if name == "evidently":
        command = [python, "-c", EVIDENTLY, str(root / "slice")]
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"phase {name!r} failed:\n{output}")
    lines = output.strip().splitlines()
    peak = int(lines[-1].split()[1]) / 1024  # VmHWM of the child, MiB
    del usage
    return seconds, peak, "\n".join(lines[:-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=10_000)
    parser.add_argument("--density", type=float, default=0.001)
    parser.add_argument("--evidently-venv")
    parser.add_argument("--slice-rows", type=int, default=20_000)
    parser.add_argument("--slice-features", type=int, default=1_000)
    parser.add_argument("--phase")
    parser.add_argument("--dir")
    args = parser.parse_args()
    if args.phase:
        phase(args.dir, args.phase)
        return
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        started = time.perf_counter()
        build(root, args.rows, args.features, args.density)
        print(f"built and trained in {time.perf_counter() - started:.1f} s (not timed below)")
        dense_gb = args.rows * args.features * 8 / 1e9
        on_disk = sum(p.stat().st_size for p in (root / "data").iterdir()) / 2**20
        print(f"{args.rows:,} rows x {args.features:,} features, density {args.density:.2%}; "
              f"dense float64 would need {dense_gb:,.0f} GB per matrix; "
              f"both matrices on disk: {on_disk:,.0f} MiB")  # fmt: skip
        print(f"{'phase':<12} {'seconds':>8} {'peak RSS MiB':>13} {'vs dense size':>14}")
        results = {}
        for name in ("load", "evaluation", "data checks"):
            seconds, peak, output = measure(root, name)
            results[name] = (seconds, peak)
            ratio = dense_gb * 1e9 / (peak * 2**20)
            print(f"{name:<12} {seconds:>8.1f} {peak:>13,.0f} {f'1/{ratio:,.0f}':>14}")
            for line in output.splitlines():
                print(f"    {line[:160]}")
        if args.evidently_venv:
            make_slice(root, args.slice_rows, args.slice_features)
            dense_mib = args.slice_rows * args.slice_features * 8 / 2**20
            print(f"slice {args.slice_rows:,} x {args.slice_features:,} "
                  f"(dense: {dense_mib:,.0f} MiB per frame), drift only:")  # fmt: skip
            for name, python in (
                ("slice drift", sys.executable),
                ("evidently", str(Path(args.evidently_venv) / "bin" / "python")),
            ):
                seconds, peak, output = measure(root, name, python)
                print(f"{name:<12} {seconds:>8.1f} {peak:>13,.0f}")
                for line in output.splitlines():
                    print(f"    {line[:160]}")


if __name__ == "__main__":
    main()
