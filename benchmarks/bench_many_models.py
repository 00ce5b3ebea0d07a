"""Many models in one repository: parallel runs, change selection, a blue-green switch.

1. Parallel against one after another: the three-model repository of the tests
   (tests/multi_model_repo.py: binary, regression, multiclass) taken from commit to
   production twice from scratch, once with `mlci run --all --jobs 1` (one model after the
   other, what a shell loop over `mlci --model NAME run` does) and once with `--jobs 2` (this
   machine's cores). Wall time of each and the ratio.
2. Change selection on a wide repository: ``--models`` models (default 12) sharing one
   ``prepare`` stage, one changed training script; the time `mlci run` takes to decide which
   models run (mlci_local.affected, git and dvc.yaml reads, no training) and that exactly one
   was chosen.
3. A blue-green through the local router (its own process, models from the registry) under
   bounded synthetic load: requests answered and dropped during warm-up, switch, soak and
   promotion, and the switch's duration.

Run: ``.venv/bin/python benchmarks/bench_many_models.py [--models 12] [--skip parallel]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def mlci(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlci_local", *args], cwd=root, capture_output=True, text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "MLCI_ACTOR": "ci@example.com"},
    )  # fmt: skip


def parallel(scratch: Path) -> dict[str, float]:
    from tests.multi_model_repo import multi_model_repository

    seconds = {}
    for jobs in (1, 2):
        root = multi_model_repository(scratch / f"jobs{jobs}")
        started = time.perf_counter()
        done = mlci(root, "run", "--all", "--jobs", str(jobs), "--until", "stage")
        seconds[jobs] = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"--jobs {jobs} failed:\n{done.stdout}\n{done.stderr}")
    print(
        f"three models to staging from scratch: one after another {seconds[1]:.1f} s, "
        f"--jobs 2 {seconds[2]:.1f} s; parallel takes {seconds[2] / seconds[1]:.2f}x the time"
    )
    return {"sequential_s": seconds[1], "parallel_s": seconds[2]}


def selection(scratch: Path, count: int) -> dict[str, float]:
    from mlci_local.affected import affected_models
    from pytest_mlci.project import load_project

    root = scratch / "wide"
    names = [f"model{i:02d}" for i in range(count)]
    dvc = ["stages:", "  prepare:", "    cmd: python src/prepare.py",
           "    deps: [src/prepare.py]", "    outs: [data]"]  # fmt: skip
    config = ['[tool.mlci]\non_missing_baseline = "allow-first"\n']
    (root / "src").mkdir(parents=True)
    (root / "src" / "prepare.py").write_text("print('data')\n")
    for name in names:
        (root / "src" / name).mkdir()
        (root / "src" / name / "train.py").write_text(f"print('{name}')\n")
        dvc += [
            f"  train_{name}:",
            f"    cmd: python src/{name}/train.py",
            f"    deps: [src/{name}/train.py, data]",
            f"    outs: [models/{name}.skops]",
        ]
        config.append(
            f'[tool.mlci.models.{name}]\ntask = "regression"\ntarget = "y"\n'
            f'artifact = "models/{name}.skops"\npaths = ["src/{name}"]\n'
            f'[tool.mlci.models.{name}.datasets.eval]\npath = "data/{name}.parquet"\n'
            f'[tool.mlci.models.{name}.gates]\nr2 = ">= 0.5"\n'
        )
    (root / "dvc.yaml").write_text("\n".join(dvc) + "\n")
    (root / "pyproject.toml").write_text("\n".join(config))
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "base"],
                    ["checkout", "-qb", "change"]):  # fmt: skip
        subprocess.run(["git", *command], cwd=root, check=True, capture_output=True)
    (root / "src" / names[3] / "train.py").write_text("print('changed')\n")
    started = time.perf_counter()
    found = affected_models(load_project(root / "pyproject.toml"))
    seconds = time.perf_counter() - started
    chosen = [name for name, affected in found.items() if affected.runs]
    assert chosen == [names[3]], chosen
    print(f"change selection over {count} models: {1000 * seconds:.0f} ms, chose {chosen}")
    return {"selection_ms": 1000 * seconds}


def blue_green(scratch: Path) -> dict[str, float]:
    """The price model promoted blue-green by `mlci run` (v1 first, then a retrained v2)."""
    import json

    from tests.example_repo import git
    from tests.multi_model_repo import multi_model_repository

    root = multi_model_repository(scratch / "bluegreen")
    first = mlci(root, "--model", "price", "run")
    if first.returncode != 0:
        raise SystemExit(first.stdout + first.stderr)
    train = root / "src" / "price" / "train.py"
    train.write_text(train.read_text().replace("alpha=1.0", "alpha=2.0"))
    git(root, "commit", "-qam", "price v2")
    started = time.perf_counter()
    second = mlci(root, "--model", "price", "run")
    seconds = time.perf_counter() - started
    if second.returncode != 0:
        raise SystemExit(second.stdout + second.stderr)
    log = root / ".mlci" / "rollout" / "requests.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    statuses = [r.get("status") for r in records]
    answered = sum(1 for s in statuses if s == 200)
    ledger = [
        json.loads(line) for line in (root / ".mlci" / "ledger.jsonl").read_text().splitlines()
    ]
    times = {r["action"]: r["time"] for r in ledger if r["action"].startswith("bluegreen")}
    print(
        f"blue-green in `mlci run` ({seconds:.1f} s for the whole run): {len(records):,} "
        f"requests logged, {answered:,} answered 200, {len(records) - answered} other; "
        f"ledger {', '.join(times)}"
    )
    return {"requests": len(records), "answered": answered}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--skip", action="append", default=[],
                        choices=["parallel", "selection", "bluegreen"])  # fmt: skip
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-many-"))
    try:
        if "selection" not in args.skip:
            selection(scratch, args.models)
        if "bluegreen" not in args.skip:
            blue_green(scratch)
        if "parallel" not in args.skip:
            parallel(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
