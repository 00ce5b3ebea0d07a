"""Precision of the static ML checks on real public ML code nobody here wrote.

Runs the checks exactly as ``mlci check`` and the ``check-ml-code`` pre-commit hook do with
default settings (``check_paths(paths, StaticSettings())``) over a local corpus, lists every
finding, joins it with the judged verdicts of ``benchmarks/static_realcode_verdicts.csv`` and
prints precision per rule and overall over the judged findings, the unjudged findings, and the
timing of the run. It fetches nothing: the corpus is a local copy given by path (see
``benchmarks/static_realcode.md`` for how to rebuild it; the public code is not in this repo).

A finding is keyed by (path relative to the corpus root, line, code); for a notebook the line
is ``<cell>:<line>`` (1-based cell among all cells, line inside the cell).

Run: .venv/bin/python benchmarks/bench_static_realcode.py --corpus /tmp/realcode
     [--verdicts benchmarks/static_realcode_verdicts.csv] [--list-unjudged] [--dump-csv F]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from pathlib import Path

from pytest_mlci.analysis.finding import Finding
from pytest_mlci.config import StaticSettings
from pytest_mlci.rules import check_paths, source_files

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VERDICTS = REPO / "benchmarks" / "static_realcode_verdicts.csv"
LISTED = REPO / "benchmarks" / "static_realcode_files.txt"


def finding_key(corpus: Path, finding: Finding) -> tuple[str, str, str]:
    """(relative path, line or cell:line, code) of a finding, the join key of the verdicts."""
    rel = Path(finding.path).resolve().relative_to(corpus.resolve()).as_posix()
    line = f"{finding.cell}:{finding.line}" if finding.cell is not None else str(finding.line)
    return rel, line, finding.code


def load_verdicts(path: Path) -> dict[tuple[str, str, str], tuple[str, str]]:
    """The judged findings: key -> (TP|FP, reason)."""
    verdicts: dict[tuple[str, str, str], tuple[str, str]] = {}
    if not path.exists():
        return verdicts
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            verdict = row["verdict"].strip().upper()
            if verdict not in ("TP", "FP"):
                raise SystemExit(f"{path}: verdict must be TP or FP, got {row['verdict']!r}")
            key = (row["path"], row["line"], row["code"])
            if key in verdicts:
                raise SystemExit(f"{path}: {key} is judged twice; keep one row")
            verdicts[key] = (verdict, row["reason"])
    return verdicts


def main(argv: list[str] | None = None) -> int:
    """Run the checks over the corpus and print precision; exit 0 (a measurement, not a gate)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="root of the local corpus")
    parser.add_argument("--verdicts", type=Path, default=DEFAULT_VERDICTS)
    parser.add_argument("--list-unjudged", action="store_true", help="print unjudged findings")
    parser.add_argument("--dump-csv", type=Path, help="write all findings (with verdicts) here")
    parser.add_argument(
        "--speed-files",
        type=int,
        default=300,
        help="also time the default checks on the first N files (median of 5 runs)",
    )
    args = parser.parse_args(argv)
    corpus: Path = args.corpus
    if not corpus.is_dir():
        print(f"corpus {corpus} is not a directory (see benchmarks/static_realcode.md)")
        return 2

    files = list(source_files([corpus]))
    start = time.perf_counter()
    # one run at every confidence; what the hook reports by default is the high subset
    findings = check_paths([corpus], StaticSettings(confidence="medium"))
    seconds = time.perf_counter() - start
    verdicts = load_verdicts(args.verdicts)

    keys = [finding_key(corpus, f) for f in findings]
    messages = {k: f.message for k, f in zip(keys, findings, strict=True)}
    levels = {k: f.confidence for k, f in zip(keys, findings, strict=True)}
    counts: dict[str, Counter[str]] = {"high": Counter(), "medium": Counter()}
    unjudged = []
    for key in keys:
        level = counts[levels[key]]
        level[(key[2], "fired")] += 1
        if key in verdicts:
            level[(key[2], verdicts[key][0])] += 1
        else:
            unjudged.append(key)
    stale = sorted(set(verdicts) - set(keys))

    py = sum(1 for f in files if f.suffix == ".py")
    print(f"corpus {corpus}: {len(files)} files ({py} .py, {len(files) - py} .ipynb)")
    print(
        f"check_paths: {len(findings)} findings ({sum(levels[k] == 'high' for k in keys)} high "
        f"confidence, reported by default) in {seconds:.2f} s (one process)"
    )
    print(f"\n{'':8} {'default (high confidence)':^32}   {'medium (opt-in)':^18}")
    print(
        f"{'rule':8} {'fired':>6} {'TP':>5} {'FP':>5} {'precision':>10}   "
        f"{'fired':>6} {'TP':>5} {'FP':>5}"
    )
    codes = sorted({key[2] for key in keys})
    for code in [*codes, "all"]:
        row = []
        for level in ("high", "medium"):
            tally = counts[level]
            pick = codes if code == "all" else [code]
            fired = sum(tally[(c, "fired")] for c in pick)
            tp = sum(tally[(c, "TP")] for c in pick)
            fp = sum(tally[(c, "FP")] for c in pick)
            row.append((fired, tp, fp))
        (hf, htp, hfp), (mf, mtp, mfp) = row
        prec = f"{htp / (htp + hfp):.2f}" if htp + hfp else "-"
        print(f"{code:8} {hf:6d} {htp:5d} {hfp:5d} {prec:>10}   {mf:6d} {mtp:5d} {mfp:5d}")
    print(f"\nunjudged findings: {len(unjudged)}; verdicts matching no finding: {len(stale)}")
    if args.list_unjudged:
        for key in unjudged:
            print(f"  {key[0]}:{key[1]}: {key[2]} [{levels[key]}] {messages[key]}")
    for key in stale:
        print(f"  stale verdict: {key[0]}:{key[1]}: {key[2]}")
    if args.speed_files:
        # N files spread evenly over the listed corpus (every repository represented)
        listed = sorted(
            corpus / "gh" / line.split()[0].replace("/", "+") / line.split(maxsplit=2)[2]
            for line in LISTED.read_text(encoding="utf-8").splitlines()
            if line.strip()
        )
        listed = [path for path in listed if path.exists()]
        step = max(len(listed) / args.speed_files, 1)
        subset = [listed[int(i * step)] for i in range(min(args.speed_files, len(listed)))]
        times = []
        for _ in range(5):
            begin = time.perf_counter()
            check_paths(subset, StaticSettings())
            times.append(time.perf_counter() - begin)
        times.sort()
        print(
            f"\nspeed: {len(subset)} files in one process, default settings: "
            f"median {times[2]:.2f} s (min {times[0]:.2f}, max {times[-1]:.2f})"
        )
    if args.dump_csv:
        with args.dump_csv.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "line", "code", "verdict", "reason", "message", "confidence"])
            for key in keys:
                verdict, reason = verdicts.get(key, ("", ""))
                writer.writerow([*key, verdict, reason, messages[key], levels[key]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
