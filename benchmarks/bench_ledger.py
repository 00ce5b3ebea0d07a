"""How fast the audit ledger appends (with fsync) and verifies, against a naive baseline.

The ledger sits on the promotion path, so it has two targets:

* at least 1,000 appends per second *with* fsync from one process, so the audit trail is never
  the reason a promotion is slow;
* verifying a 100,000-record ledger in at most 2 seconds, so ``mlci audit verify`` can run in
  every CI job.

The baseline is what a naive audit log does: ``json.dumps`` + ``write`` + ``flush`` + ``fsync``
on a file kept open, with no lock, no hash chain and no tail check. The ratio shows what the
tamper evidence and the cross-process lock cost on top of the fsync every durable log pays.

Run: ``.venv/bin/python benchmarks/bench_ledger.py [--appends 2000] [--records 100000]``.
Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mlci_local.ledger import GENESIS, Ledger, verify

APPEND_TARGET = 1_000.0  # appends per second, with fsync
VERIFY_TARGET = 2.0  # seconds for 100,000 records

DATA = {"model": "conversion", "version": "12", "digest": "sha256:" + "ab" * 32}


def best_of(repeats: int, run: Callable[[], float]) -> float:
    """The fastest of several runs: the least disturbed by other work on the machine."""
    return min(run() for _ in range(repeats))


def ledger_appends(directory: Path, count: int) -> float:
    """Seconds for ``count`` Ledger.append calls into a fresh ledger."""
    path = directory / f"ledger-{time.monotonic_ns()}.jsonl"
    ledger = Ledger(path)
    start = time.perf_counter()
    for n in range(count):
        ledger.append("promote", {**DATA, "n": n}, actor="bench@example.com")
    return time.perf_counter() - start


def naive_appends(directory: Path, count: int) -> float:
    """Seconds for ``count`` naive durable appends: dumps, write, flush, fsync."""
    path = directory / f"naive-{time.monotonic_ns()}.jsonl"
    start = time.perf_counter()
    with open(path, "a", encoding="utf-8") as handle:
        for n in range(count):
            record = {"action": "promote", "actor": "bench@example.com", "data": {**DATA, "n": n}}
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    return time.perf_counter() - start


def build_ledger(path: Path, count: int) -> None:
    """Write a valid ``count``-record ledger quickly (no fsync per record), by the format spec.

    Building it independently of Ledger.append also checks that the documented format (hash of
    the canonical JSON without ``hash``) is what verify() accepts.
    """
    prev = GENESIS
    lines = []
    for seq in range(count):
        body = {
            "action": "promote",
            "actor": "bench@example.com",
            "data": {**DATA, "n": seq},
            "prev": prev,
            "seq": seq,
            "time": "2024-05-01T12:00:00.000000Z",
        }
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        prev = body["hash"] = hashlib.sha256(canonical.encode()).hexdigest()
        lines.append(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def verify_seconds(path: Path, count: int) -> float:
    start = time.perf_counter()
    report = verify(path)
    elapsed = time.perf_counter() - start
    if not report.ok or report.records != count:
        raise SystemExit(f"benchmark ledger did not verify:\n{report.summary()}")
    return elapsed


def parse_only_seconds(path: Path) -> float:
    """Baseline for verify: read and json.loads every line, check nothing."""
    start = time.perf_counter()
    with open(path, "rb") as handle:
        for line in handle:
            json.loads(line)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=2_000, help="appends per run")
    parser.add_argument("--records", type=int, default=100_000, help="records to verify")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (best kept)")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: a temp dir)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-ledger-") as tmp:
        directory = Path(tmp)
        ledger_s = best_of(args.repeats, lambda: ledger_appends(directory, args.appends))
        naive_s = best_of(args.repeats, lambda: naive_appends(directory, args.appends))
        big = directory / "big.jsonl"
        build_ledger(big, args.records)
        verify_s = best_of(args.repeats, lambda: verify_seconds(big, args.records))
        parse_s = best_of(args.repeats, lambda: parse_only_seconds(big))
        size_mb = big.stat().st_size / 1e6

    ledger_rate = args.appends / ledger_s
    naive_rate = args.appends / naive_s
    verify_target = VERIFY_TARGET * args.records / 100_000
    rows = [
        ("append, Ledger (lock+chain+fsync)", f"{ledger_rate:,.0f} /s", f"{1e6 / ledger_rate:.0f}"),
        ("append, naive (dumps+fsync)", f"{naive_rate:,.0f} /s", f"{1e6 / naive_rate:.0f}"),
        (
            f"verify {args.records:,} records",
            f"{verify_s:.2f} s",
            f"{1e6 * verify_s / args.records:.1f}",
        ),
        (
            f"parse only {args.records:,} lines",
            f"{parse_s:.2f} s",
            f"{1e6 * parse_s / args.records:.1f}",
        ),
    ]
    print(f"{'measure':<38}{'figure':>14}{'µs each':>10}")
    for name, figure, each in rows:
        print(f"{name:<38}{figure:>14}{each:>10}")
    print(
        f"\nLedger append rate is {ledger_rate / naive_rate:.2f}x the naive baseline; "
        f"verify takes {verify_s / parse_s:.1f}x a bare parse ({size_mb:.0f} MB)."
    )

    missed = []
    if ledger_rate < APPEND_TARGET:
        missed.append(f"append rate {ledger_rate:,.0f}/s < {APPEND_TARGET:,.0f}/s")
    if verify_s > verify_target:
        missed.append(f"verify {verify_s:.2f} s > {verify_target:.2f} s")
    for line in missed:
        print(f"TARGET MISSED: {line}")
    if not missed:
        print(
            f"targets met: >= {APPEND_TARGET:,.0f} appends/s with fsync, "
            f"verify <= {verify_target:.1f} s"
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
