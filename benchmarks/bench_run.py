"""Walking-skeleton timings: `mlci run` on the bundled example, and CLI start-up.

Measures, in a fresh temporary git + DVC copy of the example (full size, 60,000 rows):
  * the first `mlci run` (train, evaluate, register, stage, promote) per stage;
  * a second `mlci run` with nothing changed, per stage;
  * `mlci --help` start-up, side by side with `dvc --help` and `mlflow --help` (the CLIs of
    the tools it drives), as medians over repeated runs and as ratios.

Run: .venv/bin/python benchmarks/bench_run.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def copy_example(root: Path) -> None:
    shutil.copytree(
        REPO / "example", root / "example", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("dvc.yaml", "params.yaml", "pyproject.toml", ".gitignore"):
        shutil.copy(REPO / name, root / name)
    for command in (
        ["git", "init", "-q"],
        ["git", "-c", "user.email=b@localhost", "-c", "user.name=bench", "commit", "-q",
         "--allow-empty", "-m", "init"],
        [str(BIN / "dvc"), "init", "-q"],
        [str(BIN / "dvc"), "config", "core.analytics", "false"],
    ):  # fmt: skip
        subprocess.run(command, cwd=root, check=True, capture_output=True)


def timed_run(root: Path) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "mlci"), "run"], cwd=root, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mlci run failed:\n{done.stdout}\n{done.stderr}")
    summary = json.loads((root / ".mlci" / "reports" / "last-run.json").read_text())
    return elapsed, summary["stages"]


def startup(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        copy_example(root)
        first, first_stages = timed_run(root)
        second, second_stages = timed_run(root)
    print("mlci run on the bundled example (60,000 rows), seconds per stage")
    print(f"{'stage':<10} {'first run':>10} {'rerun':>8}  rerun verdict")
    for a, b in zip(first_stages, second_stages, strict=True):
        print(f"{a['stage']:<10} {a['seconds']:>10.2f} {b['seconds']:>8.2f}  {b['status']}")
    print(f"{'total':<10} {first:>10.2f} {second:>8.2f}  (wall, including interpreter start)")
    print()
    mlci = startup([str(BIN / "mlci"), "--help"], args.repeat)
    dvc = startup([str(BIN / "dvc"), "--help"], args.repeat)
    mlflow = startup([str(BIN / "mlflow"), "--help"], args.repeat)
    print(f"CLI start-up, median of {args.repeat}")
    print(f"{'command':<14} {'seconds':>8} {'vs mlci':>8}")
    for name, value in (("mlci --help", mlci), ("dvc --help", dvc), ("mlflow --help", mlflow)):
        print(f"{name:<14} {value:>8.3f} {value / mlci:>7.1f}x")


if __name__ == "__main__":
    main()
