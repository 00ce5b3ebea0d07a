"""Static ML checks as pre-commit runs them, side by side with dslinter.

Times ONE process over the 50 scripts of ``benchmarks/static_corpus/`` (about 8,000 lines),
wall clock including interpreter start-up, the way pre-commit calls a hook:

  * ``check-ml-code <50 files>`` (this project), median of ``--repeat`` runs after a warm-up;
  * ``pylint --load-plugins=dslinter <50 files>`` restricted to dslinter's own checkers with
    the ``--disable=all --enable=...`` list its README gives, median of ``--dslinter-repeat``
    runs after a first (cold) run that is reported on its own. dslinter calls mypy for type
    inference and writes scratch files and ``.mypy_cache`` into the working directory, so it
    runs in a temporary directory, which is kept for the warm runs.

For reference it also times the analysis alone (``check_paths`` in this process) and a bare
interpreter start (``python -c pass``).

dslinter does not install on Python 3.11; put it in a throwaway Python 3.10 virtualenv:

    /root/.pyenv/versions/3.10.13/bin/python -m venv /tmp/dslinter-venv
    /tmp/dslinter-venv/bin/pip install dslinter

Run: .venv/bin/python benchmarks/bench_static.py [--repeat 9] [--dslinter-repeat 3]
     [--dslinter-pylint PATH]   (or DSLINTER_PYLINT=PATH; default /tmp/dslinter-venv/bin/pylint)
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "benchmarks" / "static_corpus"
BIN = Path(sys.executable).parent
DEFAULT_PYLINT = "/tmp/dslinter-venv/bin/pylint"

# dslinter's README, "To only use the checkers implemented in this plugin".
DSLINTER_ENABLE = (
    "import,unnecessary-iteration-pandas,unnecessary-iteration-tensorflow,"
    "nan-numpy,chain-indexing-pandas,datatype-pandas,"
    "column-selection-pandas,merge-parameter-pandas,inplace-pandas,"
    "dataframe-conversion-pandas,scaler-missing-scikitlearn,hyperparameters-scikitlearn,"
    "hyperparameters-tensorflow,hyperparameters-pytorch,memory-release-tensorflow,"
    "deterministic-pytorch,randomness-control-numpy,randomness-control-scikitlearn,"
    "randomness-control-tensorflow,randomness-control-pytorch,"
    "randomness-control-dataloader-pytorch,"
    "missing-mask-tensorflow,missing-mask-pytorch,tensor-array-tensorflow,"
    "forward-pytorch,gradient-clear-pytorch,pipeline-not-used-scikitlearn,"
    "dependent-threshold-scikitlearn,dependent-threshold-tensorflow,dependent-threshold-pytorch"
)
MLCI_FINDING = re.compile(r"^.+?:\d+:\d+: MLC\d{3} ", re.M)
PYLINT_FINDING = re.compile(r"^.+?:\d+:\d+: (?P<id>[CRWEF]\d{4}) (?P<symbol>\S+)", re.M)
# pylint's exit status is a bit mask; 1 (fatal) and 32 (usage error) mean it did not lint.
PYLINT_BROKEN = 1 | 32


@dataclass
class Timing:
    tool: str
    seconds: float | None  # wall clock, the figure the targets are about
    files: int
    findings: int | None
    note: str = ""
    runs: tuple[float, ...] = ()
    cpu: float | None = None  # user + system of the process: less sensitive to a busy machine


@dataclass
class Run:
    wall: float
    cpu: float
    done: subprocess.CompletedProcess[str]


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, done)


def bench_mlci(files: list[Path], repeat: int) -> Timing:
    command = [str(BIN / "check-ml-code"), *(str(f.relative_to(REPO)) for f in files)]
    timed(command, REPO)  # warm-up: byte-code caches, page cache
    runs = [timed(command, REPO) for _ in range(repeat)]
    done = runs[-1].done
    if done.returncode not in (0, 1):
        raise SystemExit(f"check-ml-code failed ({done.returncode}):\n{done.stderr}")
    return Timing(
        "check-ml-code (1 process)",
        statistics.median(r.wall for r in runs),
        len(files),
        len(MLCI_FINDING.findall(done.stdout)),
        f"median of {repeat}",
        tuple(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
    )


def bench_in_process(files: list[Path], repeat: int) -> Timing:
    from pytest_mlci.rules import check_paths  # imported here: the process timing stays fair

    runs, cpus, findings = [], [], []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        findings = check_paths(files)
        runs.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return Timing(
        "  of which analysis (check_paths, in process)",
        statistics.median(runs),
        len(files),
        len(findings),
        f"median of {repeat}",
        tuple(runs),
        statistics.median(cpus),
    )


def bench_startup(repeat: int) -> Timing:
    runs = [timed([sys.executable, "-c", "pass"], REPO) for _ in range(repeat)]
    return Timing(
        "  reference: python -c pass",
        statistics.median(r.wall for r in runs),
        0,
        None,
        f"median of {repeat}",
        tuple(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
    )


def dslinter_command(pylint: str, files: list[Path]) -> list[str]:
    return [
        pylint,
        "--load-plugins=dslinter",
        "--disable=all",
        f"--enable={DSLINTER_ENABLE}",
        "--reports=n",
        "--score=n",
        "--msg-template={path}:{line}:{column}: {msg_id} {symbol}",
        *(str(f) for f in files),
    ]


def dslinter_versions(pylint: str) -> str | None:
    """``dslinter X, pylint Y, mypy Z`` from the interpreter next to ``pylint``, or None."""
    python = Path(pylint).with_name("python")
    if not python.exists():
        return None
    probe = (
        'import importlib.metadata as m, platform; print(f\'dslinter {m.version("dslinter")}, '
        'pylint {m.version("pylint")}, mypy {m.version("mypy")}, '
        "Python {platform.python_version()}')"
    )
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def bench_dslinter(pylint: str, files: list[Path], repeat: int) -> tuple[list[Timing], str]:
    """Warm median and the cold first run; ``([], reason)`` when dslinter cannot run."""
    if not Path(pylint).is_file():
        return [], f"no pylint at {pylint} (see the module docstring to install dslinter)"
    versions = dslinter_versions(pylint)
    if versions is None:
        return [], f"dslinter is not importable by the Python next to {pylint}"
    command = dslinter_command(pylint, files)
    with tempfile.TemporaryDirectory(prefix="bench-dslinter-") as scratch:
        env = {**os.environ, "PYLINTHOME": str(Path(scratch) / "pylint-home")}
        cold = timed(command, Path(scratch), env)
        if cold.done.returncode & PYLINT_BROKEN or "Traceback" in cold.done.stderr:
            last = (cold.done.stderr.strip().splitlines() or ["no output"])[-1]
            return [], f"pylint exit {cold.done.returncode}: {last}"
        found = PYLINT_FINDING.findall(cold.done.stdout)
        runs = [timed(command, Path(scratch), env) for _ in range(repeat)]
    symbols: dict[str, int] = {}
    for _, symbol in found:
        symbols[symbol] = symbols.get(symbol, 0) + 1
    breakdown = ", ".join(f"{s} {n}" for s, n in sorted(symbols.items(), key=lambda i: -i[1]))
    warm = runs or [cold]
    rows = [
        Timing(
            "pylint --load-plugins=dslinter (1 process)",
            statistics.median(r.wall for r in warm),
            len(files),
            len(found),
            f"median of {repeat}, warm mypy cache" if runs else "single cold run",
            tuple(r.wall for r in warm),
            statistics.median(r.cpu for r in warm),
        ),
        Timing(
            "  same, first run (cold mypy cache)",
            cold.wall,
            len(files),
            len(found),
            "1 run",
            (cold.wall,),
            cold.cpu,
        ),
    ]
    return rows, f"{versions}; findings by message: {breakdown or 'none'}"


def table(rows: list[Timing], mlci: float) -> str:
    lines = [
        "| tool | seconds (wall) | CPU seconds | files | findings | vs check-ml-code | runs |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        ratio = f"{row.seconds / mlci:.1f}×" if row.seconds is not None else ""
        seconds = f"{row.seconds:.3f}" if row.seconds is not None else "—"
        cpu = f"{row.cpu:.3f}" if row.cpu is not None else ""
        findings = "" if row.findings is None else str(row.findings)
        files = str(row.files) if row.files else ""
        lines.append(
            f"| {row.tool} | {seconds} | {cpu} | {files} | {findings} | {ratio} | {row.note} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="timed runs of check-ml-code")
    parser.add_argument("--dslinter-repeat", type=int, default=3, help="warm dslinter runs")
    parser.add_argument(
        "--dslinter-pylint",
        default=os.environ.get("DSLINTER_PYLINT", DEFAULT_PYLINT),
        help="pylint of a virtualenv with dslinter (env DSLINTER_PYLINT)",
    )
    args = parser.parse_args(argv)

    files = sorted(CORPUS.glob("*.py"))
    if not files:
        raise SystemExit(f"no corpus in {CORPUS}; run benchmarks/make_static_corpus.py")
    lines = sum(len(f.read_text(encoding="utf-8").splitlines()) for f in files)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"corpus: {len(files)} files, {lines} lines; Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load}"
    )

    mlci = bench_mlci(files, args.repeat)
    rows = [mlci, bench_in_process(files, args.repeat), bench_startup(args.repeat)]
    dslinter, detail = bench_dslinter(args.dslinter_pylint, files, args.dslinter_repeat)
    rows += dslinter
    print()
    print(table(rows, mlci.seconds or 1.0))
    print()
    spread = f"{min(mlci.runs):.3f}–{max(mlci.runs):.3f} s"
    verdict = "met" if (mlci.seconds or 0) <= 0.3 else "MISSED"
    print(
        f"check-ml-code: {mlci.seconds:.3f} s wall (runs {spread}), {mlci.cpu:.3f} s CPU; "
        f"target ≤ 0.3 s wall: {verdict}"
    )
    if dslinter:
        ratio = (dslinter[0].seconds or 0) / (mlci.seconds or 1.0)
        cpu_ratio = (dslinter[0].cpu or 0) / (mlci.cpu or 1.0)
        verdict = "met" if ratio >= 50 else "MISSED"
        print(
            f"dslinter / check-ml-code: {ratio:.1f}× wall, {cpu_ratio:.1f}× CPU (warm); "
            f"target ≥ 50× wall: {verdict}"
        )
        print(detail)
    else:
        print(f"dslinter skipped: {detail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
