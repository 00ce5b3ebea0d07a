"""Streamed validation of 20,000,000 rows x 20 columns in bounded memory.

What it does:
  1. writes a current dataset of ``--rows`` rows (default 20,000,000) as a parquet
     *directory* of ``--file-rows``-row files, and a reference of ``--reference-rows`` rows
     the same way, to a temporary directory, one chunk at a time (``bench_data.make_frame``,
     same 20-column shape; the current has the three injected shifts), so the writer stays small;
  2. in a fresh child process, runs every declared check of the dataset with ``stream =
     "always"``: schema (a pandera schema, per record batch), volume (parquet metadata),
     quality (merged over batches, duplicates from row hashes) and drift (sketches);
  3. reports the child's wall time per check and its peak resident memory (``ru_maxrss`` of
     the child, read by the parent through ``RUSAGE_CHILDREN``), against the 1 GiB budget;
  4. deletes the data.

Needs about 2.5 GB of free disk under the temp directory for the default sizes.

Run: .venv/bin/python benchmarks/bench_data_streamed.py [--rows 20000000] [--tmp /tmp]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUDGET_MIB = 1024


def __getattr__(name: str):
    """``SCHEMA``, built on first use, so importing this module does not import pandera."""
    if name != "SCHEMA":
        raise AttributeError(name)
    import pandera.pandas as pa

    columns = {f"f{i:02d}": pa.Column(float, nullable=False) for i in range(15)}
    columns.update({f"i{i}": pa.Column(int, pa.Check.ge(0), nullable=False) for i in range(3)})
    columns["cat0"] = pa.Column(checks=pa.Check.isin(list("abcd")), nullable=False)
    columns["cat1"] = pa.Column(checks=pa.Check.isin([f"r{j}" for j in range(20)]))
    return pa.DataFrameSchema(columns, strict=True)


def write_directory(folder: Path, rows: int, file_rows: int, seed: int, *, shifted: bool) -> int:
    """``rows`` rows as numbered parquet files of ``file_rows`` rows; returns bytes written."""
    sys.path.insert(0, str(HERE))
    from bench_data import make_frame

    folder.mkdir(parents=True)
    for part, start in enumerate(range(0, rows, file_rows)):
        frame = make_frame(min(file_rows, rows - start), seed * 100_000 + part, shifted=shifted)
        frame.to_parquet(folder / f"part-{part:05d}.parquet", row_group_size=128 * 1024)
        del frame
    return sum(p.stat().st_size for p in folder.glob("*.parquet"))


def child(current: Path, reference: Path, expected_rows: int) -> dict:
    """Every declared check, streamed; wall time per check and peak RSS of this process."""
    from pytest_mlci.config import DatasetConfig
    from pytest_mlci.data.drift import column_verdicts
    from pytest_mlci.data.validate import DatasetChecks, checks_for

    dataset = DatasetConfig(
        name="bench",
        path=current,
        reference=reference,
        schema="bench_data_streamed:SCHEMA",
        expected_rows=expected_rows,
        stream="always",
    )
    checks = DatasetChecks(dataset, root=HERE)
    assert checks.streamed
    seconds, verdicts, details = {}, {}, {}
    started = time.perf_counter()
    for check in checks_for(dataset):
        began = time.perf_counter()
        rows = checks.run(check)
        seconds[check] = time.perf_counter() - began
        verdicts[check] = sorted({r.verdict for r in rows})
        if check == "drift":
            drift = column_verdicts(rows)
            details[check] = sorted(c for c, v in drift.items() if v != "pass")
        else:
            details[check] = [r.describe() for r in rows if r.verdict != "pass"][:5]
        details.setdefault("rows", [])
        if check == "volume":
            details["rows"] = [r.describe() for r in rows]
    return {
        "seconds": seconds,
        "total": time.perf_counter() - started,
        "verdicts": verdicts,
        "details": details,
        "frames_loaded": len(checks._frames),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--reference-rows", type=int, default=5_000_000)
    parser.add_argument("--file-rows", type=int, default=500_000)
    parser.add_argument("--tmp", type=Path, default=None, help="where to write the data")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, expected_rows=args.rows)))
        return

    base = Path(tempfile.mkdtemp(prefix="mlci-streamed-", dir=args.tmp))
    try:
        began = time.perf_counter()
        size = write_directory(base / "current", args.rows, args.file_rows, 2, shifted=True)
        size += write_directory(
            base / "reference", args.reference_rows, args.file_rows, 1, shifted=False
        )
        written = time.perf_counter() - began
        writer_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child",
             str(base / "current"), str(base / "reference"), "--rows", str(args.rows)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"the streamed child failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        children_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print(f"current {args.rows:,} rows in {args.rows // args.file_rows} parquet files, "
          f"reference {args.reference_rows:,} rows; {size / 2**30:.2f} GiB on disk "
          f"(written in {written:.0f} s, writer peak {writer_mib:,.0f} MiB)")  # fmt: skip
    for check, seconds in result["seconds"].items():
        print(f"  {check:<10} {seconds:>7.1f} s  {', '.join(result['verdicts'][check])}"
              + (f"  ({'; '.join(result['details'][check])})" if result["details"][check]
                 else ""))  # fmt: skip
    print(f"  {'all':<10} {result['total']:>7.1f} s")
    print(f"  {result['details']['rows'][0]}")
    print(f"frames loaded whole: {result['frames_loaded']}")
    peak = max(result["peak_mib"], children_mib)
    verdict = "within" if peak < BUDGET_MIB else "OVER"
    print(f"peak RSS of the validating process: {peak:,.0f} MiB ({verdict} the "
          f"{BUDGET_MIB:,} MiB budget)")  # fmt: skip


if __name__ == "__main__":
    main()
