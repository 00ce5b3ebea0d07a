"""Signed checkpoints anchored outside ``.mlci/``: S3 Object Lock, insert-only PostgreSQL,
the registry. Each anchor is written, read back and verified; the S3 and PostgreSQL ones
must refuse to lose a checkpoint, and with them the thorough truncation (records *and*
their local checkpoints deleted) that no local check can see is caught.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from mlci_local.audit.anchors import PostgresAnchor, S3Anchor, postgres_anchor_sql
from tests.test_audit_trail import (
    KEY,
    about_seq,
    drop_log_entries,
    ledger_file,
    lines_of,
    verify,
    write_project,
    write_records,
)


@pytest.fixture(autouse=True)
def signing_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLCI_ACTOR", "ci@example.com")
    monkeypatch.setenv("MLCI_AUDIT_KEY", KEY)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.chdir(tmp_path)


def truncate_thoroughly(config_path: Path) -> int:
    """Attack (a) done well: the last record and every local trace of it are deleted."""
    path = ledger_file(config_path)
    last = json.loads(lines_of(path)[-1])["seq"]
    path.write_text("".join(lines_of(path)[:-1]))
    drop_log_entries(config_path, lambda e: about_seq(e) < last)
    return last


# -- S3 with Object Lock ----------------------------------------------------------------------


@pytest.fixture(params=["moto-in-process", "moto-server"])
def s3(request, monkeypatch: pytest.MonkeyPatch):
    """(endpoint, client) of an S3 with a fresh Object-Lock bucket: moto in process, and the
    stack's moto server when it runs."""
    import boto3

    endpoint = None
    if request.param == "moto-server":
        endpoint = request.getfixturevalue("team_stack").s3
        client = boto3.client("s3", endpoint_url=endpoint)
        bucket = f"audit-{uuid.uuid4().hex[:10]}"
        client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        yield endpoint, client, bucket
        return
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3")
        bucket = "audit-lock"
        client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        yield endpoint, client, bucket


def s3_project(tmp_path: Path, endpoint: str | None, bucket: str) -> Path:
    extra = f's3_endpoint = "{endpoint}"\n' if endpoint else ""
    return write_project(
        tmp_path,
        f'signing = "hmac"\nanchors = ["s3://{bucket}/mlci"]\ns3_retention_days = 1\n{extra}',
    )


def test_s3_anchor_writes_one_locked_object_per_checkpoint(s3, tmp_path: Path) -> None:
    endpoint, client, bucket = s3
    config_path = s3_project(tmp_path, endpoint, bucket)
    records = write_records(config_path, 3)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"mlci/tiny/{seq:012d}.json" for seq in range(records[-1].seq + 1)]
    head = client.head_object(Bucket=bucket, Key=keys[-1])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    code, out = verify(config_path)
    assert code == 0, out
    assert (
        f"anchored in s3://{bucket}/mlci/tiny/ up to seq {records[-1].seq} "
        "(S3 Object Lock (COMPLIANCE))"
    ) in out
    assert "not proved: that nothing was cut off the end" not in out


def test_s3_refuses_to_delete_a_locked_checkpoint(s3, tmp_path: Path) -> None:
    from botocore.exceptions import ClientError

    endpoint, client, bucket = s3
    write_records(s3_project(tmp_path, endpoint, bucket), 2)
    key = "mlci/tiny/000000000001.json"
    version = client.list_object_versions(Bucket=bucket, Prefix=key)["Versions"][0]["VersionId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read()


def test_s3_an_overwrite_adds_a_version_and_verify_reads_the_locked_one(s3, tmp_path: Path) -> None:
    endpoint, client, bucket = s3
    config_path = s3_project(tmp_path, endpoint, bucket)
    write_records(config_path, 2)
    key = "mlci/tiny/000000000001.json"
    forged = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    forged["hash"] = "e" * 64
    client.put_object(Bucket=bucket, Key=key, Body=json.dumps(forged).encode())
    assert len(client.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]) == 2
    code, out = verify(config_path)
    assert code == 1
    assert "checkpoint seq 1 has a bad signature" in out


def test_s3_a_delete_marker_does_not_hide_a_checkpoint(s3, tmp_path: Path) -> None:
    endpoint, client, bucket = s3
    config_path = s3_project(tmp_path, endpoint, bucket)
    records = write_records(config_path, 3)
    last = truncate_thoroughly(config_path)
    client.delete_object(Bucket=bucket, Key=f"mlci/tiny/{last:012d}.json")  # a delete marker
    code, out = verify(config_path)
    assert code == 1
    assert f"truncated at seq {records[-1].seq}" in out
    assert "delete marker" in out


def test_s3_catches_the_thorough_truncation_a_local_log_cannot(s3, tmp_path: Path) -> None:
    """Issue #12 (a): the last record (an approval) removed with its local checkpoints."""
    endpoint, _, bucket = s3
    config_path = s3_project(tmp_path, endpoint, bucket)
    write_records(config_path, 3)
    last = truncate_thoroughly(config_path)
    code, out = verify(config_path)
    assert code == 1
    assert f"truncated at seq {last}" in out


def test_s3_anchor_without_object_lock_is_reported(tmp_path: Path) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="plain")
        anchor = S3Anchor("s3://plain/p", "tiny", endpoint=None, retention_days=1)
        from mlci_local.audit.anchors import AnchorError

        with pytest.raises(AnchorError, match="Object Lock"):
            from mlci_local.audit.checkpoints import SignedCheckpoint

            anchor.put(SignedCheckpoint("tiny", 0, "a" * 64, "t", "hmac-sha256", "k", "s"))


# -- PostgreSQL, insert-only ------------------------------------------------------------------


@pytest.fixture
def pg_runner(fresh_database):
    """(runner DSN, admin DSN): the anchor table set up by an administrator, and a runner
    role that may only INSERT and SELECT."""
    import psycopg

    role = f"runner_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(postgres_anchor_sql(role))
    runner = fresh_database.replace("mlci@", f"{role}@", 1)
    assert runner != fresh_database
    yield runner, fresh_database
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


def test_postgres_anchor_is_insert_only_for_the_runner(pg_runner, tmp_path: Path) -> None:
    import psycopg

    runner, admin = pg_runner
    config_path = write_project(tmp_path, f'signing = "hmac"\nanchors = ["{runner}"]\n')
    records = write_records(config_path, 3)
    code, out = verify(config_path)
    assert code == 0, out
    assert f"up to seq {records[-1].seq} (insert-only grants for this role)" in out
    with psycopg.connect(runner, autocommit=True) as conn:
        for statement in (
            "UPDATE mlci.checkpoints SET line = 'x'",
            "DELETE FROM mlci.checkpoints",
            "TRUNCATE mlci.checkpoints",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with (
        psycopg.connect(admin, autocommit=True) as conn,
        pytest.raises(psycopg.errors.RaiseException, match="append-only"),
    ):
        conn.execute("DELETE FROM mlci.checkpoints")  # even the owner meets the trigger
    with psycopg.connect(admin) as conn:
        count = conn.execute("SELECT count(*) FROM mlci.checkpoints").fetchone()[0]
    assert count == records[-1].seq + 1


def test_postgres_anchor_catches_the_thorough_truncation(pg_runner, tmp_path: Path) -> None:
    runner, _ = pg_runner
    config_path = write_project(tmp_path, f'signing = "hmac"\nanchors = ["{runner}"]\n')
    write_records(config_path, 3)
    last = truncate_thoroughly(config_path)
    code, out = verify(config_path)
    assert code == 1
    assert f"truncated at seq {last}" in out


def test_postgres_anchor_owned_by_the_runner_is_called_not_append_only(
    fresh_database, tmp_path: Path
) -> None:
    import psycopg

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(postgres_anchor_sql("mlci"))
    config_path = write_project(tmp_path, f'signing = "hmac"\nanchors = ["{fresh_database}"]\n')
    write_records(config_path, 2)
    code, out = verify(config_path)
    assert code == 0, out
    assert "NOT append-only for this role (owns the table" in out


def test_postgres_anchor_without_its_table_names_the_setup(fresh_database) -> None:
    from mlci_local.audit.anchors import AnchorError
    from mlci_local.audit.checkpoints import SignedCheckpoint

    anchor = PostgresAnchor(fresh_database, "tiny")
    with pytest.raises(AnchorError, match="postgres_anchor_sql"):
        anchor.put(SignedCheckpoint("tiny", 0, "a" * 64, "t", "hmac-sha256", "k", "s"))
    anchor.close()


# -- the registry -----------------------------------------------------------------------------


def test_registry_anchor_embedded_is_written_read_back_and_called_local(tmp_path: Path) -> None:
    config_path = write_project(tmp_path, 'signing = "hmac"\nanchors = ["registry"]\n')
    records = write_records(config_path, 2)
    code, out = verify(config_path)
    assert code == 0, out
    assert f"tag mlci.audit.checkpoint up to seq {records[-1].seq}" in out
    assert "the embedded registry is inside .mlci/" in out
    assert "not proved: that nothing was cut off the end" in out


@pytest.mark.slow
def test_registry_anchor_on_the_server_catches_truncation_and_forged_tags(
    team_stack, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    model = f"tiny-{uuid.uuid4().hex[:8]}"
    config_path = write_project(tmp_path, 'signing = "hmac"\nanchors = ["registry"]\n')
    text = config_path.read_text().replace('model = "tiny"', f'model = "{model}"')
    config_path.write_text(text.replace("[tool.mlci.audit]", f'registry = "{team_stack.mlflow}"'
                                        "\n\n[tool.mlci.audit]"))  # fmt: skip
    records = write_records(config_path, 2)
    log = config_path.parent / ".mlci" / "audit" / f"{model}.checkpoints.jsonl"
    assert log.exists()  # the local log is kept as well
    code, out = verify(config_path)
    assert code == 0, out
    assert (
        f"tag mlci.audit.checkpoint up to seq {records[-1].seq} (a registry tag: anyone with "
        "registry write access can overwrite it)"
    ) in out
    assert "not proved: that nothing was cut off the end" not in out

    ledger = ledger_file(config_path)
    last = json.loads(lines_of(ledger)[-1])["seq"]
    ledger.write_text("".join(lines_of(ledger)[:-1]))
    log.write_text("".join(e for e in lines_of(log) if about_seq(json.loads(e)) < last))
    code, out = verify(config_path)
    assert code == 1
    assert f"truncated at seq {last}" in out

    client = MlflowClient(team_stack.mlflow, team_stack.mlflow)
    tag = json.loads(client.get_registered_model(model).tags["mlci.audit.checkpoint"])
    tag["signature"] = "0" * 64
    client.set_registered_model_tag(model, "mlci.audit.checkpoint", json.dumps(tag))
    code, out = verify(config_path)
    assert code == 1
    assert f"checkpoint seq {last} has a bad signature" in out


def test_a_team_ledger_in_postgres_is_signed_and_a_forged_row_is_caught(
    fresh_database, tmp_path: Path
) -> None:
    """Team scale: the ledger and the checkpoints in PostgreSQL; the database owner (who can
    switch the ledger's triggers off) inserts a record with a correct hash, but cannot sign."""
    import psycopg

    from mlci_local.ledger import make_record

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(postgres_anchor_sql("mlci"))
    config_path = write_project(tmp_path, 'signing = "hmac"\nanchors = ["database"]\n')
    text = config_path.read_text().replace(
        "[tool.mlci.audit]", f'database = "{fresh_database}"\n\n[tool.mlci.audit]'
    )
    config_path.write_text(text)
    records = write_records(config_path, 3)
    code, out = verify(config_path)
    assert code == 0, out
    assert f"#mlci.checkpoints up to seq {records[-1].seq}" in out

    forged = make_record(seq=records[-1].seq + 1, prev=records[-1].hash, action="approve",
                         actor="dba@example.com", data={"model": "tiny"})  # fmt: skip
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO mlci.ledger (seq, hash, line) VALUES (%s, %s, %s)",
            (forged.seq, forged.hash, forged.to_json()),
        )
    code, out = verify(config_path)
    assert code == 1
    assert f"record seq {forged.seq} (approve by dba@example.com) has no signed checkpoint" in out


def test_s3_records_after_the_newest_anchored_checkpoint_are_counted(s3, tmp_path: Path) -> None:
    from mlci_local.ledger import Ledger

    endpoint, _, bucket = s3
    config_path = s3_project(tmp_path, endpoint, bucket)
    records = write_records(config_path, 2)
    Ledger(ledger_file(config_path)).append("approve", {"model": "tiny"})  # bypasses signing
    code, out = verify(config_path)
    assert code == 1
    assert (
        f"not proved: records after seq {records[-1].seq} are not anchored outside the "
        "ledger's storage: 1 record(s)"
    ) in out
