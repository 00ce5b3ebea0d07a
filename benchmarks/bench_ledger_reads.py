"""The promotion path's ledger reads on a year-sized ledger: narrowed reads against full scans.

Every `mlci run` and `mlci promote` asks the ledger the same questions for one model and one
artifact: the newest evaluation, staging and canary records of the digest, its registration
and approvals, unfinished alias moves, the last completed move, an unfinished canary. A team
adds a dozen records per run, so a year of CI is 100,000 records or more.

* narrowed: ``Ledger.find`` as shipped. The file backend tests each line's bytes for the
  wanted action and values before parsing; the PostgreSQL backend filters in SQL through an
  expression index on (model, action).
* full scan (the peer: what the ledger did before, and what any JSONL audit log does): parse
  every record and filter in Python, once per question.

Both answer the same eight questions and the script checks the answers are identical.
PostgreSQL is started by `.ci/stack.py` (or taken from $MLCI_TEST_POSTGRES).

Run: .venv/bin/python benchmarks/bench_ledger_reads.py [--records 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from mlci_local.ledger import Ledger, LedgerBase, next_record
from mlci_local.postgres import SCHEMA, PostgresLedger, connect, ensure_schema
from mlci_local.promotion import expected_aliases, unfinished
from mlci_local.rollout.controller import in_flight

REPO = Path(__file__).resolve().parents[1]
MODELS = 40
ACTOR = "ci@example.com"


def cycle(model: str, run: int) -> list[tuple[str, dict]]:
    """The records one `mlci run` with a canary and a promotion leaves (13 of them)."""
    digest = f"{uuid.uuid5(uuid.NAMESPACE_OID, f'{model}/{run}').hex:0<64}"
    version = str(run + 1)
    base = {"model": model, "digest": digest}
    records = [
        ("register", {**base, "version": version, "author": "dev@example.com"}),
        ("evaluation", {**base, "passed": True, "compared_with": str(run)}),
        ("staging", {**base, "version": version, "passed": True}),
    ]
    for step, weight in enumerate((0.25, 0.5, 1.0)):
        records.append(("canary.step", {**base, "version": version, "step": step,
                                        "weight": weight}))  # fmt: skip
        records.append(("canary.judgement", {**base, "version": version, "step": step,
                                             "verdict": "pass"}))  # fmt: skip
    records.append(("canary", {**base, "version": version, "passed": True, "verdict": "pass"}))
    records.append(("promote.intent", {**base, "version": version, "replaces": str(run)}))
    records.append(("promote", {**base, "version": version, "replaces": str(run), "intent": 0}))
    return records


def build(count: int) -> list[bytes]:
    """``count`` canonical lines: runs of MODELS models interleaved, as a team's CI writes."""
    lines, last, run = [], None, 0
    while len(lines) < count:
        for index in range(MODELS):
            for action, data in cycle(f"model-{index}", run):
                last = next_record(last, action=action, actor=ACTOR, data=data)
                lines.append(last.to_json().encode() + b"\n")
        run += 1
    return lines[:count]


def naive_find(ledger: LedgerBase, actions: tuple[str, ...], **filters) -> list:
    return [
        r
        for r in ledger.records()
        if r.action in actions and all(r.data.get(k) == v for k, v in filters.items())
    ]


def questions(ledger: LedgerBase, model: str, digest: str, narrowed: bool) -> list:
    """The eight questions of a promotion, answered narrowed or by full scans."""
    answers = []
    for action in ("evaluation", "staging", "canary", "register", "approve"):
        if narrowed:
            answers.append(ledger.find(action, model=model, digest=digest))
        else:
            answers.append(naive_find(ledger, (action,), model=model, digest=digest))
    if narrowed:
        answers.append(unfinished(ledger, model))
        answers.append(expected_aliases(ledger, model))
        answers.append(in_flight(ledger, model))
    else:
        records = list(ledger.records())  # the old readers each parsed everything once
        done = {r.data.get("intent") for r in records if r.action.endswith(("promote",
                "rollback", ".abandoned"))}  # fmt: skip
        answers.append([r for r in records if r.action.endswith(".intent")
                        and r.data.get("model") == model and r.seq not in done])  # fmt: skip
        moves = [r for r in ledger.records() if r.action in ("promote", "rollback")
                 and r.data.get("model") == model]  # fmt: skip
        last = moves[-1]
        answers.append({"production": last.data["version"], "previous": last.data.get("replaces")})
        list(ledger.records())  # in_flight's pass
        answers.append(in_flight(ledger, model))
    return answers


def timed(repeat: int, fn) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def postgres_address(state: Path):
    if os.environ.get("MLCI_TEST_POSTGRES"):
        return os.environ["MLCI_TEST_POSTGRES"], lambda: None
    spec = importlib.util.spec_from_file_location("stack", REPO / ".ci" / "stack.py")
    stack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stack)
    state.mkdir(parents=True, exist_ok=True)
    pids: dict[str, int] = {}
    try:
        env = stack.start_postgres(state, pids)
    finally:
        stack._write(state, pids, {})
    return env["MLCI_TEST_POSTGRES"], lambda: stack.stop(state)


def load_postgres(dsn: str, lines: list[bytes]) -> None:
    conn = connect(dsn)
    ensure_schema(conn, dsn)
    with (
        conn.cursor() as cursor,
        cursor.copy(f"COPY {SCHEMA}.ledger (seq, hash, line) FROM STDIN") as copy,
    ):
        for seq, line in enumerate(lines):
            text = line[:-1].decode()
            digest = text[text.index('"hash":"') + 8 :][:64]
            copy.write_row((seq, digest, text))
    conn.execute(f"ANALYZE {SCHEMA}.ledger")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    lines = build(args.records)
    model = "model-7"
    target = [ln for ln in lines if b'"model":"model-7"' in ln and b'"action":"evaluation"' in ln]
    digest = target[len(target) // 2].split(b'"digest":"')[1][:64].decode()
    print(f"{len(lines):,} records, {sum(map(len, lines)) / 1e6:.1f} MB, {MODELS} models; "
          f"asking about {model}, a digest from the middle of its history")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.jsonl"
        path.write_bytes(b"".join(lines))
        file_ledger = Ledger(path)
        dsn_base, stop = postgres_address(Path(tmp) / "stack")
        try:
            import psycopg

            name = f"bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(f"{dsn_base}/postgres", autocommit=True) as admin:
                admin.execute(f"CREATE DATABASE {name}")
            dsn = f"{dsn_base}/{name}"
            load_postgres(dsn, lines)
            pg_ledger = PostgresLedger(dsn)
            for label, ledger in (("file", file_ledger), ("PostgreSQL", pg_ledger)):
                fast = questions(ledger, model, digest, narrowed=True)
                slow = questions(ledger, model, digest, narrowed=False)
                assert fast[:5] == slow[:5] and fast[5:] == slow[5:], f"{label}: answers differ"
                narrowed = timed(args.repeat, lambda lg=ledger: questions(lg, model, digest, True))
                full = timed(args.repeat, lambda lg=ledger: questions(lg, model, digest, False))
                rows.append((label, narrowed, full))
            started = time.perf_counter()
            for index in range(20):
                pg_ledger.append("evaluation", {"model": model, "digest": digest, "n": index})
            append_ms = (time.perf_counter() - started) / 20 * 1000
            pg_ledger.close()
            with psycopg.connect(f"{dsn_base}/postgres", autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            stop()
    print()
    print("| backend | narrowed (s) | full scans (s) | full / narrowed |")
    print("|---|---:|---:|---:|")
    for label, narrowed, full in rows:
        print(f"| {label} | {narrowed:.3f} | {full:.3f} | {full / narrowed:.0f}× |")
    print(f"\nPostgreSQL append with the index, {args.records:,} rows present: {append_ms:.1f} ms")


if __name__ == "__main__":
    main()
