"""Accuracy of the static ML checks: precision and recall per rule and per family.

1. The labelled corpus ``tests/rules/fixtures/`` (``.py`` and ``.ipynb``). Every offending
   line carries ``# expect: CODE`` (several codes comma-separated), the convention of
   ``tests/rules/test_fixtures.py``; lines without it are clean cases. All rules run at once,
   opt-in MLC9xx included, as one checker run over the directory. A fixture is labelled for
   its own rule only (the code its file name starts with), so a (file, cell, line, code)
   finding is scored when its code is the file's rule; findings of other rules on a fixture
   are listed apart, as unlabelled, for a human to judge.
2. The generated corpus ``benchmarks/static_corpus/`` (realistic training scripts, see
   ``make_static_corpus.py``), checked with the project's own settings as the pre-commit hook
   does: counts per code, planted mistakes found and missed, and every finding on a file
   written clean (a false alarm) or not planted.

Targets: precision ≥ 0.95 and recall ≥ 0.90 for each family (leakage, nondeterminism,
hardcoded) on the labelled corpus.

Run: .venv/bin/python benchmarks/bench_static_accuracy.py
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pytest_mlci.analysis import Finding
from pytest_mlci.config import StaticSettings
from pytest_mlci.precommit.check_ml_code import load_settings
from pytest_mlci.rules import PARSE_ERROR, RULES, check_paths

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "rules" / "fixtures"
CORPUS = REPO / "benchmarks" / "static_corpus"
EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>MLC\d{3}(?:\s*,\s*MLC\d{3})*)")
FAMILIES = ("leakage", "nondeterminism", "hardcoded", "opt-in")
TARGET_PRECISION, TARGET_RECALL = 0.95, 0.90
# Every rule, opt-in ones too: an opt-in rule needs a selector that is itself MLC9.
ALL_RULES = StaticSettings(select=("MLC0", "MLC1", "MLC2", "MLC9"))

Key = tuple[str, "int | None", int, str]  # (file, cell, line, code)


def expected(path: Path) -> set[Key]:
    """The (file, cell, line, code) a fixture announces, read as test_fixtures.py reads them."""
    found: set[Key] = set()

    def scan(lines: list[str], cell: int | None) -> None:
        for number, line in enumerate(lines, start=1):
            match = EXPECT.search(line)
            if match:
                for code in re.split(r"\s*,\s*", match.group("codes")):
                    found.add((path.name, cell, number, code))

    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for number, cell in enumerate(cells, start=1):
            if cell["cell_type"] == "code":
                source = cell["source"]
                text = "".join(source) if isinstance(source, list) else source
                scan(text.splitlines(), number)
    else:
        scan(path.read_text(encoding="utf-8").splitlines(), None)
    return found


def key(finding: Finding) -> Key:
    return (Path(finding.path).name, finding.cell, finding.line, finding.code)


def where(k: Key) -> str:
    name, cell, line, code = k
    return f"{name}:cell {cell}:{line} {code}" if cell is not None else f"{name}:{line} {code}"


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    false_positives: list[Key] = field(default_factory=list)
    false_negatives: list[Key] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def add(self, other: Score) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn


def family(code: str) -> str:
    rule = RULES.get(code)
    return rule.FAMILY if rule is not None else Finding(code, "", "", 1, 1).family


def ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def score_fixtures() -> tuple[dict[str, Score], list[Finding], int]:
    files = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".py", ".ipynb"))
    truth: set[Key] = set()
    for path in files:
        truth |= expected(path)
    findings = check_paths(files, ALL_RULES)
    labelled, unlabelled = set(), []
    for finding in findings:
        own = Path(finding.path).name[:6]
        if finding.code == own or finding.code == PARSE_ERROR:
            labelled.add(key(finding))  # a parse error on a fixture is always wrong
        else:
            unlabelled.append(finding)
    scores = {code: Score() for code in RULES}
    for k in sorted(labelled | truth, key=str):
        score = scores.setdefault(k[3], Score())
        if k in labelled and k in truth:
            score.tp += 1
        elif k in labelled:
            score.fp += 1
            score.false_positives.append(k)
        else:
            score.fn += 1
            score.false_negatives.append(k)
    return scores, unlabelled, len(files)


def print_fixture_report(scores: dict[str, Score], unlabelled: list[Finding], n: int) -> None:
    print(f"## Labelled corpus: {FIXTURES.relative_to(REPO)} ({n} files)")
    print()
    print("| rule | family | expected | reported | TP | FP | FN | precision | recall |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for code in sorted(scores):
        s = scores[code]
        print(
            f"| {code} | {family(code)} | {s.tp + s.fn} | {s.tp + s.fp} | {s.tp} | {s.fp} | "
            f"{s.fn} | {ratio(s.precision)} | {ratio(s.recall)} |"
        )
    print()
    print("| family | TP | FP | FN | precision | recall | target P ≥ 0.95, R ≥ 0.90 |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name in FAMILIES:
        total = Score()
        for code, s in scores.items():
            if family(code) == name:
                total.add(s)
        if name == "opt-in":
            verdict = "(no target)"
        else:
            met = (total.precision or 0) >= TARGET_PRECISION and (
                total.recall or 0
            ) >= TARGET_RECALL
            verdict = "met" if met else "MISSED"
        print(
            f"| {name} | {total.tp} | {total.fp} | {total.fn} | {ratio(total.precision)} | "
            f"{ratio(total.recall)} | {verdict} |"
        )
    print()
    misses = [(k, "false positive") for s in scores.values() for k in s.false_positives]
    misses += [(k, "false negative") for s in scores.values() for k in s.false_negatives]
    print(f"False positives and negatives ({len(misses)}):")
    for k, kind in sorted(misses, key=lambda m: str(m[0])):
        print(f"  {kind}: {where(k)}")
    print()
    by_code = Counter(f.code for f in unlabelled)
    summary = ", ".join(f"{c} {n}" for c, n in sorted(by_code.items())) or "none"
    print(f"Unlabelled findings (another rule's fixture; judge by hand): {summary}")
    for finding in unlabelled:
        print(f"  {where(key(finding))}: {finding.message}")
    print()


def print_corpus_report() -> None:
    manifest = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))["files"]
    files = sorted(CORPUS.glob("*.py"))
    findings = check_paths(files, load_settings(REPO))
    planted = {
        (name, None, m["line"], m["code"])
        for name, entry in manifest.items()
        for m in entry["mistakes"]
    }
    found = {key(f): f for f in findings}
    clean_files = {name for name, entry in manifest.items() if entry["clean"]}
    counts = Counter(f.code for f in findings)
    planted_counts = Counter(k[3] for k in planted)
    print(
        f"## Generated corpus: {CORPUS.relative_to(REPO)} ({len(files)} files, "
        f"{len(clean_files)} written clean, {len(planted)} planted mistakes)"
    )
    print()
    print("| code | findings | planted | planted and found |")
    print("|---|---:|---:|---:|")
    for code in sorted(set(counts) | set(planted_counts)):
        hit = sum(1 for k in planted if k[3] == code and k in found)
        print(f"| {code} | {counts[code]} | {planted_counts[code]} | {hit} |")
    on_clean = [f for f in findings if Path(f.path).name in clean_files]
    unplanted = [f for f in findings if key(f) not in planted and f not in on_clean]
    missed = sorted(planted - set(found), key=str)
    print()
    print(f"Findings on files written clean (false alarms): {len(on_clean)}")
    for finding in on_clean:
        print(f"  {finding.format()}")
    print(f"Findings on other lines of files with planted mistakes: {len(unplanted)}")
    for finding in unplanted:
        print(f"  {finding.format()}")
    print(f"Planted mistakes not reported: {len(missed)}")
    for k in missed:
        print(f"  {where(k)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    scores, unlabelled, n = score_fixtures()
    print_fixture_report(scores, unlabelled, n)
    print_corpus_report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
