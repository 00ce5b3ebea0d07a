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
    args = parser.parse_args(argv)
    corpus: Path = args.corpus
    if not corpus.is_dir():
        print(f"corpus {corpus} is not a directory (see benchmarks/static_realcode.md)")
        return 2

    files = list(source_files([corpus]))
    start = time.perf_counter()
    findings = check_paths([corpus], StaticSettings())
    seconds = time.perf_counter() - start
    verdicts = load_verdicts(args.verdicts)

    keys = [finding_key(corpus, f) for f in findings]
    messages = {k: f.message for k, f in zip(keys, findings, strict=True)}
    fired = Counter(k[2] for k in keys)
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    unjudged = []
    for key in keys:
        if key in verdicts:
            (tp if verdicts[key][0] == "TP" else fp)[key[2]] += 1
        else:
            unjudged.append(key)
    stale = sorted(set(verdicts) - set(keys))

    py = sum(1 for f in files if f.suffix == ".py")
    print(f"corpus {corpus}: {len(files)} files ({py} .py, {len(files) - py} .ipynb)")
    print(f"check_paths: {len(findings)} findings in {seconds:.2f} s (one process, defaults)")
    print(f"\n{'rule':8} {'fired':>6} {'judged':>7} {'TP':>4} {'FP':>4} {'precision':>9}")
    for code in sorted(fired):
        judged = tp[code] + fp[code]
        prec = f"{tp[code] / judged:.2f}" if judged else "-"
        print(f"{code:8} {fired[code]:6d} {judged:7d} {tp[code]:4d} {fp[code]:4d} {prec:>9}")
    judged_all = sum(tp.values()) + sum(fp.values())
    prec_all = f"{sum(tp.values()) / judged_all:.2f}" if judged_all else "-"
    print(
        f"{'all':8} {len(keys):6d} {judged_all:7d} {sum(tp.values()):4d} "
        f"{sum(fp.values()):4d} {prec_all:>9}"
    )
    print(f"\nunjudged findings: {len(unjudged)}; verdicts matching no finding: {len(stale)}")
    if args.list_unjudged:
        for key in unjudged:
            print(f"  {key[0]}:{key[1]}: {key[2]} {messages[key]}")
    for key in stale:
        print(f"  stale verdict: {key[0]}:{key[1]}: {key[2]}")
    if args.dump_csv:
        with args.dump_csv.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "line", "code", "verdict", "reason", "message"])
            for key in keys:
                verdict, reason = verdicts.get(key, ("", ""))
                writer.writerow([*key, verdict, reason, messages[key]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
