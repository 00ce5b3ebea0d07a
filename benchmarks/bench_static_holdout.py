"""Recall and precision of the static checks on the blind hold-out set.

``benchmarks/static_holdout/`` holds scripts written by someone who had not read the engine
or the fixtures (see its README), each offending line labelled ``# expect: MLCxxx``. This
runs the checks as the pre-commit hook does with default settings (high confidence only)
and counts, per code, labelled lines found (same file, line and code), labelled lines
missed, and findings on unlabelled lines (false alarms). It lists every miss and false
alarm so a person can tell a wrong label from a wrong rule.

Run: .venv/bin/python benchmarks/bench_static_holdout.py [--confidence medium]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pytest_mlci.config import StaticSettings
from pytest_mlci.rules import check_paths

HOLDOUT = Path(__file__).resolve().parent / "static_holdout"
LABEL = re.compile(r"#\s*expect:\s*(?P<codes>MLC\d{3}(?:\s*,\s*MLC\d{3})*)")


def labels(root: Path) -> set[tuple[str, int, str]]:
    """(file name, line, code) of every labelled problem."""
    found = set()
    for path in sorted(root.glob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = LABEL.search(line)
            if match:
                for code in re.findall(r"MLC\d{3}", match.group("codes")):
                    found.add((path.name, number, code))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--confidence", choices=("high", "medium"), default="high")
    args = parser.parse_args(argv)
    expected = labels(HOLDOUT)
    findings = check_paths([HOLDOUT], StaticSettings(confidence=args.confidence))
    found = {(Path(f.path).name, f.line, f.code) for f in findings}
    codes = sorted({code for *_, code in expected | found})
    print(f"hold-out: {len(list(HOLDOUT.glob('*.py')))} scripts, {len(expected)} labelled lines")
    print(f"confidence reported: {args.confidence}\n")
    print(
        f"{'code':7} {'labelled':>8} {'found':>6} {'missed':>6} {'false':>6} "
        f"{'recall':>7} {'prec.':>6}"
    )
    for code in [*codes, "all"]:
        pick = codes if code == "all" else [code]
        labelled = {x for x in expected if x[2] in pick}
        reported = {x for x in found if x[2] in pick}
        hit = labelled & reported
        recall = f"{len(hit) / len(labelled):.2f}" if labelled else "-"
        precision = f"{len(hit) / len(reported):.2f}" if reported else "-"
        print(
            f"{code:7} {len(labelled):8d} {len(hit):6d} {len(labelled - reported):6d} "
            f"{len(reported - labelled):6d} {recall:>7} {precision:>6}"
        )
    for name, line, code in sorted(expected - found):
        print(f"  missed: {name}:{line} {code}")
    for name, line, code in sorted(found - expected):
        print(f"  false alarm: {name}:{line} {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
