"""What signing and anchoring every audit append costs, and what ``mlci audit verify`` costs.

Each configuration appends ``--records`` records through ``ledger_for`` (the path every
command takes) to a fresh file ledger and reports the median time per append:

  * ``unsigned``: the plain ledger (flock, write, fsync) — the floor;
  * ``hmac``: + a signed intent and a signed checkpoint in the local log (2 fsyncs more);
  * ``ssh``: the same signed with ``ssh-keygen -Y sign`` (two subprocesses per append);
  * ``hmac + s3``: + one locked object per checkpoint (moto in process, or ``--s3 URL``);
  * ``hmac + postgres``: + one row in an insert-only table (``--postgres URL``: a server URL
    without a database name, whose user may create a scratch database).

Then the time of the audit itself (``audit_ledger``) for the hmac ledger.

Run: .venv/bin/python benchmarks/bench_audit.py [--records 200] [--s3 URL] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlci_local.promotion import ledger_for
from pytest_mlci.config import load_config

CONFIG = """\
[tool.mlci]
model = "bench"
task = "binary_classification"
target = "label"
artifact = "model.skops"

[tool.mlci.audit]
"""


def project(root: Path, audit: str) -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(CONFIG + audit)
    return root / "pyproject.toml"


def time_appends(config_path: Path, count: int) -> list[float]:
    ledger = ledger_for(load_config(config_path))
    ledger.append("warmup", {"model": "bench"})
    times = []
    for i in range(count):
        start = time.perf_counter()
        ledger.append("evaluation", {"model": "bench", "n": i, "passed": True})
        times.append(time.perf_counter() - start)
    return times


def time_audit(config_path: Path, label: str) -> None:
    from mlci_local.audit.report import audit_ledger

    config = load_config(config_path)
    start = time.perf_counter()
    report = audit_ledger(config, ledger_for(config))
    elapsed = (time.perf_counter() - start) * 1000
    print(f"audit verify ({label}): {elapsed:.1f} ms, ok={report.ok}")


def row(name: str, times: list[float]) -> None:
    median = statistics.median(times) * 1000
    p95 = sorted(times)[int(len(times) * 0.95) - 1] * 1000
    print(f"{name:<18} median {median:7.2f} ms   p95 {p95:7.2f} ms   per append")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--s3", default=None, help="an S3 endpoint (default: moto in process)")
    parser.add_argument("--postgres", default=None, help="a superuser URL with a database name")
    args = parser.parse_args()
    os.environ.setdefault("MLCI_ACTOR", "bench@example.com")
    os.environ["MLCI_AUDIT_KEY"] = "bench-key-" * 4
    for name, value in (("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        os.environ.setdefault(name, value)

    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        row("unsigned", time_appends(project(base / "none", 'signing = "none"\n'), args.records))
        hmac_config = project(base / "hmac", 'signing = "hmac"\n')
        row("hmac", time_appends(hmac_config, args.records))

        key = base / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        ssh = f'signing = "ssh"\nssh_key = "{key}"\npublic_key = "{key}.pub"\n'
        ssh_count = max(20, args.records // 4)
        row("ssh", time_appends(project(base / "ssh", ssh), ssh_count))
        time_audit(base / "ssh" / "pyproject.toml", f"ssh, {ssh_count + 2} records")

        import boto3

        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        endpoint = f's3_endpoint = "{args.s3}"\n' if args.s3 else ""
        s3 = f'signing = "hmac"\nanchors = ["s3://{bucket}/a"]\ns3_retention_days = 1\n{endpoint}'
        if args.s3:
            boto3.client("s3", endpoint_url=args.s3).create_bucket(
                Bucket=bucket, ObjectLockEnabledForBucket=True
            )
            row("hmac + s3", time_appends(project(base / "s3", s3), args.records))
            time_audit(base / "s3" / "pyproject.toml", "hmac + s3: newest and touched objects read")
        else:
            from moto import mock_aws

            with mock_aws():
                boto3.client("s3").create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
                row("hmac + s3 (moto)", time_appends(project(base / "s3", s3), args.records))
                time_audit(
                    base / "s3" / "pyproject.toml",
                    "hmac + s3 (moto): newest and touched objects read",
                )

        if args.postgres:
            import psycopg

            from mlci_local.audit.anchors import postgres_anchor_sql

            name = f"bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as admin:
                admin.execute(f"CREATE DATABASE {name}")
            dsn = f"{args.postgres}/{name}"
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    role = conn.execute("SELECT current_user").fetchone()[0]
                    conn.execute(postgres_anchor_sql(role))
                pg = f'signing = "hmac"\nanchors = ["{dsn}"]\n'
                row("hmac + postgres", time_appends(project(base / "pg", pg), args.records))
            finally:
                with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

        time_audit(hmac_config, f"hmac, {args.records + 2} records, local log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
