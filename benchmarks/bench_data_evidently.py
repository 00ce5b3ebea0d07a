"""pytest-mlci's data validation and drift against Evidently's DataDriftPreset, side by side.

Both run on the same 1,000,000-row x 20-column reference and current frames (made by
``bench_data.make_frame``, written once to parquet in a temporary directory), each in a fresh
child process that reads the parquet files, then times only the computation:

  * Evidently: ``Report([DataDriftPreset()]).run(current, reference)``, in a throwaway venv;
  * pytest-mlci: volume, quality and drift (the full validation ``bench_data`` times), in the
    project venv.

Each child reports its wall time and its peak resident memory (``ru_maxrss``, which includes
the two frames it loaded; the RSS right after loading is printed too, so the increment can be
read off). pytest-mlci runs before and after Evidently and the faster of its two runs counts
(either side may be slowed by other work on the machine; Evidently runs once, it is slow).

Evidently is not a dependency of this project. Create its throwaway venv once (Evidently 0.7
does not import under pandas 3, hence the pin):

    python3 -m venv /tmp/evvenv
    /tmp/evvenv/bin/pip install evidently "pandas<3" pyarrow

Run: .venv/bin/python benchmarks/bench_data_evidently.py [--rows 1000000] [--venv /tmp/evvenv]
Without the venv the script says so and exits 0 without measuring anything.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(folder: Path):
    import pandas as pd

    return pd.read_parquet(folder / "reference.parquet"), pd.read_parquet(
        folder / "current.parquet"
    )


def child_evidently(folder: Path) -> dict:
    """Evidently's DataDriftPreset on the two frames (0.7+ API, or the older one)."""
    reference, current = load(folder)
    loaded = peak_rss_mib()
    try:  # evidently >= 0.7
        from evidently import Report
        from evidently.presets import DataDriftPreset

        started = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
        seconds = time.perf_counter() - started
        found = snapshot.dict()
    except ImportError:  # evidently < 0.7
        from evidently.metric_preset import DataDriftPreset
        from evidently.report import Report

        report = Report(metrics=[DataDriftPreset()])
        started = time.perf_counter()
        report.run(reference_data=reference, current_data=current)
        seconds = time.perf_counter() - started
        found = report.as_dict()
    import evidently

    return {
        "version": getattr(evidently, "__version__", "?"),
        "seconds": seconds,
        "loaded_mib": loaded,
        "peak_mib": peak_rss_mib(),
        "drifted": drifted_columns(found),
    }


def drifted_columns(found: object) -> list[str]:
    """Column names Evidently marked as drifted, from either API's result dict."""
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            config = node.get("config")
            if isinstance(config, dict) and str(config.get("type", "")).endswith("ValueDrift"):
                # evidently >= 0.7: a value per column; p-value methods drift below the
                # threshold, distance methods at or above it
                value, limit = node.get("value"), config.get("threshold")
                if isinstance(value, (int, float)) and isinstance(limit, (int, float)):
                    p_value = "p_value" in str(config.get("method", ""))
                    if (value < limit) if p_value else (value >= limit):
                        names.add(str(config.get("column")))
            for key, value in node.items():
                # evidently < 0.7: {"drift_by_columns": {name: {"drift_detected": ...}}}
                if isinstance(value, dict) and value.get("drift_detected") is True:
                    names.add(str(value.get("column_name", key)))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(found)
    return sorted(names)


def child_ours(folder: Path) -> dict:
    """pytest-mlci's volume, quality and drift on the two frames, as bench_data times them."""
    sys.path.insert(0, str(HERE))
    from bench_data import validate_all

    from pytest_mlci.config import DatasetConfig
    from pytest_mlci.data.drift import column_verdicts

    reference, current = load(folder)
    loaded = peak_rss_mib()
    dataset = DatasetConfig(name="bench", path=Path("current"), reference=Path("reference"))
    validate_all(reference.head(5000), current.head(5000), dataset)  # warm imports
    started = time.perf_counter()
    rows = validate_all(reference, current, dataset)
    seconds = time.perf_counter() - started
    verdicts = column_verdicts([r for r in rows if r.check == "drift"])
    return {
        "seconds": seconds,
        "loaded_mib": loaded,
        "peak_mib": peak_rss_mib(),
        "drifted": sorted(c for c, v in verdicts.items() if v == "fail"),
    }


def run_child(python: str, which: str, folder: Path) -> dict:
    """Run this script as a child (``--child``) and parse the JSON line it prints last."""
    done = subprocess.run(
        [python, str(Path(__file__).resolve()), "--child", which, str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{which} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--venv", type=Path, default=Path("/tmp/evvenv"))
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        which, folder = args.child
        result = (child_evidently if which == "evidently" else child_ours)(Path(folder))
        print(json.dumps(result))
        return

    evidently_python = args.venv / "bin" / "python"
    if not evidently_python.exists():
        print(f"skipped: no Evidently venv at {args.venv}; create it with\n"
              f"  python3 -m venv {args.venv}\n"
              f"  {args.venv}/bin/pip install evidently 'pandas<3' pyarrow")  # fmt: skip
        return
    sys.path.insert(0, str(HERE))
    from bench_data import SHIFTED, make_frame

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_frame(args.rows, 1, shifted=False).to_parquet(folder / "reference.parquet")
        make_frame(args.rows, 2, shifted=True).to_parquet(folder / "current.parquet")
        first = run_child(sys.executable, "ours", folder)
        theirs = run_child(str(evidently_python), "evidently", folder)
        second = run_child(sys.executable, "ours", folder)
    ours = min(first, second, key=lambda r: r["seconds"])

    print(f"{args.rows:,} rows x 20 columns, reference vs current (shifted: {', '.join(SHIFTED)})")
    print(f"{'':<34} {'seconds':>9} {'peak RSS MiB':>13} {'after load':>11}  drifted")
    for name, result in (
        (f"Evidently {theirs['version']} DataDriftPreset", theirs),
        ("pytest-mlci volume+quality+drift", ours),
    ):
        print(f"{name:<34} {result['seconds']:>9.2f} {result['peak_mib']:>13.0f} "
              f"{result['loaded_mib']:>11.0f}  {', '.join(result['drifted']) or '-'}")  # fmt: skip
    print(f"pytest-mlci runs: {first['seconds']:.2f} s, {second['seconds']:.2f} s")
    print(f"ratio Evidently / pytest-mlci, time: {theirs['seconds'] / ours['seconds']:.0f}x")
    extra_theirs = theirs["peak_mib"] - theirs["loaded_mib"]
    extra_ours = ours["peak_mib"] - ours["loaded_mib"]
    print(f"memory beyond the loaded frames: Evidently {extra_theirs:,.0f} MiB, "
          f"pytest-mlci {extra_ours:,.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
