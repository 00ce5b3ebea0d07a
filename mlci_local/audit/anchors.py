"""Where signed checkpoints are copied so that whoever can write ``.mlci/`` cannot take them back.

A signature stops a forger from *making* checkpoints; it does not stop them from *deleting*
the newest ones together with the records they cover (cutting the end off both the ledger
and the local checkpoint log leaves a consistent, shorter history). Only a copy the forger
cannot delete shows the cut — Sigstore Rekor publishes its signed checkpoints for the same
reason. Each anchor here says honestly what protects it:

* ``S3Anchor``: one object per checkpoint (key = seq) written with S3 Object Lock in
  COMPLIANCE mode; no one, the bucket owner included, can delete or overwrite a locked
  version before its retention date. Verification reads *versions*, so a delete marker
  cannot hide a checkpoint.
* ``PostgresAnchor``: a table the runner's role may INSERT into and SELECT from, but not
  UPDATE, DELETE or TRUNCATE (grants by an administrator; a trigger refuses edits too).
  A table the runner owns is reported as *not* append-only: an owner can change anything.
* ``RegistryAnchor``: the newest checkpoint as a tag on the registered model. Anyone with
  write access to the registry can overwrite or delete a tag, so it protects only against
  someone who can write ``.mlci/`` but not the registry server — and the embedded registry
  lives in ``.mlci/`` itself, which verify says.

Every anchor is keyed by the ledger id, so several projects can share a bucket or table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from mlci_local.audit.checkpoints import SignedCheckpoint
from pytest_mlci.errors import ConfigError, RegistryError
from pytest_mlci.redact import redact_uri

__all__ = [
    "Anchor",
    "AnchorError",
    "AnchorRead",
    "PostgresAnchor",
    "RegistryAnchor",
    "S3Anchor",
    "anchors_for",
    "postgres_anchor_sql",
]

REGISTRY_TAG = "mlci.audit.checkpoint"
PG_TABLE = "mlci.checkpoints"


class AnchorError(RegistryError):
    """An anchor could not be written or read: a server problem, exit 3 like the registry's."""


@dataclass(frozen=True)
class AnchorRead:
    """What one anchor holds: checkpoints (or why an entry is unreadable) and its protection."""

    name: str
    outside: bool  # outside the ledger's own storage (.mlci/ or the ledger's database)?
    protection: str  # one honest phrase: what stops a deletion or an overwrite
    entries: list[tuple[str, SignedCheckpoint | ValueError]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Anchor(Protocol):
    name: str

    def put(self, checkpoint: SignedCheckpoint) -> None: ...

    def read(self) -> AnchorRead: ...


def _safe(ledger_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", ledger_id) or "ledger"


# --------------------------------------------------------------------------------- S3


class S3Anchor:
    """One locked object per checkpoint: ``s3://bucket/prefix/<ledger id>/<seq>.json``."""

    def __init__(
        self, url: str, ledger_id: str, *, endpoint: str | None, retention_days: int
    ) -> None:
        bucket, _, prefix = url[len("s3://") :].partition("/")
        self.bucket = bucket
        self.prefix = "/".join(p for p in (prefix.strip("/"), _safe(ledger_id)) if p) + "/"
        self.endpoint = endpoint
        self.retention = timedelta(days=retention_days)
        self.name = f"s3://{bucket}/{self.prefix}"
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
            except ImportError:
                raise ConfigError(
                    "an s3:// audit anchor needs boto3; install pytest-mlci[team]",
                    key="audit.anchors",
                ) from None
            self._client = boto3.client("s3", endpoint_url=self.endpoint)
        return self._client

    def key(self, seq: int) -> str:
        # Zero-padded so keys sort by seq.
        return f"{self.prefix}{seq:012d}.json"

    def put(self, checkpoint: SignedCheckpoint) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        until = datetime.now(timezone.utc) + self.retention
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(checkpoint.seq),
                Body=checkpoint.to_json().encode(),
                ContentType="application/json",
                ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=until,
            )
        except (BotoCoreError, ClientError) as exc:
            raise AnchorError(
                f"audit anchor {self.name}: cannot write checkpoint seq {checkpoint.seq} "
                f"({exc}); the bucket must exist with Object Lock enabled"
            ) from None

    def read(self) -> AnchorRead:
        """The newest checkpoint, and every version of any object someone touched.

        The newest anchored checkpoint pins every record up to its seq (the chain does the
        rest), so only it is downloaded, plus each key with more than one version or a
        delete marker (an overwrite or a deletion attempt). Listing is by *versions*, so a
        delete marker cannot hide a checkpoint. One list call per 1,000 checkpoints.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        result = AnchorRead(self.name, True, "S3 Object Lock (COMPLIANCE)")
        try:
            try:
                lock = self.client.get_object_lock_configuration(Bucket=self.bucket)
                enabled = lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
            except ClientError:
                enabled = None
            if enabled != "Enabled":
                result.warnings.append(f"{self.name}: Object Lock is not enabled on the bucket")
            versions: dict[str, list[str]] = {}
            touched: set[str] = set()
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for marker in page.get("DeleteMarkers", []):
                    touched.add(marker["Key"])
                    result.warnings.append(
                        f"{self.name}: someone deleted {marker['Key']} (a delete marker hides "
                        "it from plain reads; the locked version is still there and was read)"
                    )
                for version in page.get("Versions", []):
                    versions.setdefault(version["Key"], []).append(version["VersionId"])
            touched |= {key for key, ids in versions.items() if len(ids) > 1}
            if versions:
                touched.add(max(versions))  # zero-padded seq: the newest checkpoint
            for key in sorted(touched & set(versions)):
                for version_id in versions[key]:
                    where = f"s3://{self.bucket}/{key}?versionId={version_id}"
                    body = self.client.get_object(
                        Bucket=self.bucket, Key=key, VersionId=version_id
                    )["Body"].read()
                    result.entries.append((where, _parse(body, key, self.key)))
        except (BotoCoreError, ClientError) as exc:
            raise AnchorError(
                f"audit anchor {self.name}: cannot read checkpoints ({exc})"
            ) from None
        return result


def _parse(body: bytes, key: str, key_for: Any) -> SignedCheckpoint | ValueError:
    try:
        checkpoint = SignedCheckpoint.from_dict(json.loads(body))
    except (ValueError, TypeError) as exc:
        return ValueError(f"not a signed checkpoint ({exc})")
    if key_for(checkpoint.seq) != key:
        return ValueError(f"holds checkpoint seq {checkpoint.seq} under another seq's key")
    return checkpoint


# --------------------------------------------------------------------------------- PostgreSQL


def postgres_anchor_sql(runner_role: str) -> str:
    """What an administrator runs once: the table, its trigger, and insert-only grants.

    The table belongs to the administrator; the runner may add and read checkpoints, never
    change or remove them.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", runner_role):
        raise ConfigError(f"{runner_role!r} is not a plain PostgreSQL role name")
    return f"""
CREATE SCHEMA IF NOT EXISTS mlci;
CREATE TABLE IF NOT EXISTS {PG_TABLE} (
    ledger text NOT NULL,
    seq bigint NOT NULL CHECK (seq >= 0),
    line text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (ledger, seq)
);
CREATE OR REPLACE FUNCTION mlci.checkpoints_are_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'mlci.checkpoints is append-only: % is not allowed', TG_OP;
END $$;
CREATE OR REPLACE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON {PG_TABLE}
    FOR EACH ROW EXECUTE FUNCTION mlci.checkpoints_are_append_only();
CREATE OR REPLACE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON {PG_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION mlci.checkpoints_are_append_only();
REVOKE ALL ON {PG_TABLE} FROM PUBLIC;
GRANT USAGE ON SCHEMA mlci TO {runner_role};
GRANT SELECT, INSERT ON {PG_TABLE} TO {runner_role};
"""


class PostgresAnchor:
    """Rows of ``mlci.checkpoints``, insert-only for the runner's role."""

    def __init__(self, dsn: str, ledger_id: str) -> None:
        self.dsn = dsn
        self.ledger_id = ledger_id
        self.name = f"{redact_uri(dsn)}#{PG_TABLE}"
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        if self._conn is None or self._conn.closed:
            from mlci_local.postgres import connect

            self._conn = connect(self.dsn)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _missing_table(self) -> AnchorError:
        return AnchorError(
            f"audit anchor {self.name}: the table {PG_TABLE} does not exist; an administrator "
            "creates it once with the SQL of `mlci_local.audit.anchors.postgres_anchor_sql` "
            "(insert-only grants for the runner's role)"
        )

    def put(self, checkpoint: SignedCheckpoint) -> None:
        import psycopg

        line = checkpoint.to_json()
        try:
            row = self.conn.execute(
                f"INSERT INTO {PG_TABLE} (ledger, seq, line) VALUES (%s, %s, %s) "
                "ON CONFLICT (ledger, seq) DO NOTHING RETURNING seq",
                (self.ledger_id, checkpoint.seq, line),
            ).fetchone()
            if row is None:
                stored = self.conn.execute(
                    f"SELECT line FROM {PG_TABLE} WHERE ledger = %s AND seq = %s",
                    (self.ledger_id, checkpoint.seq),
                ).fetchone()
                other = SignedCheckpoint.from_dict(json.loads(stored[0]))
                if other.hash != checkpoint.hash:
                    raise AnchorError(
                        f"audit anchor {self.name}: seq {checkpoint.seq} is already anchored "
                        f"with hash {other.hash[:12]}, not {checkpoint.hash[:12]}: the ledger "
                        "forked or was rewritten; run `mlci audit verify`"
                    )
        except psycopg.errors.UndefinedTable:
            self.close()
            raise self._missing_table() from None
        except psycopg.Error as exc:
            self.close()
            raise AnchorError(
                f"audit anchor {self.name}: cannot write checkpoint seq {checkpoint.seq} ({exc})"
            ) from None

    def read(self) -> AnchorRead:
        import psycopg

        try:
            rights = self.conn.execute(
                "SELECT has_table_privilege(current_user, %s, 'UPDATE'), "
                "has_table_privilege(current_user, %s, 'DELETE'), "
                "has_table_privilege(current_user, %s, 'TRUNCATE'), "
                "pg_get_userbyid(c.relowner) = current_user "
                "FROM pg_class c WHERE c.oid = to_regclass(%s)",
                (PG_TABLE, PG_TABLE, PG_TABLE, PG_TABLE),
            ).fetchone()
            if rights is None:
                raise self._missing_table()
            rows = self.conn.execute(
                f"SELECT seq, line FROM {PG_TABLE} WHERE ledger = %s ORDER BY seq",
                (self.ledger_id,),
            ).fetchall()
        except psycopg.Error as exc:
            self.close()
            raise AnchorError(
                f"audit anchor {self.name}: cannot read checkpoints ({exc})"
            ) from None
        update, delete, truncate, owner = rights
        insert_only = not (update or delete or truncate or owner)
        protection = (
            "insert-only grants for this role"
            if insert_only
            else "NOT append-only for this role ("
            + ", ".join(
                what
                for what, allowed in (
                    ("owns the table", owner),
                    ("may UPDATE", update),
                    ("may DELETE", delete),
                    ("may TRUNCATE", truncate),
                )
                if allowed
            )
            + ")"
        )
        result = AnchorRead(self.name, True, protection)
        if not insert_only:
            result.warnings.append(
                f"{self.name}: the role verifying (and presumably writing) can change this "
                f"table: {protection}; grant it only SELECT, INSERT"
            )
        for seq, line in rows:
            where = f"{self.name} seq {seq}"
            try:
                checkpoint = SignedCheckpoint.from_dict(json.loads(line))
                if checkpoint.seq != seq:
                    raise ValueError(f"row seq {seq} holds checkpoint seq {checkpoint.seq}")
                result.entries.append((where, checkpoint))
            except (ValueError, TypeError) as exc:
                result.entries.append((where, ValueError(str(exc))))
        return result


# --------------------------------------------------------------------------------- registry


class RegistryAnchor:
    """The newest checkpoint as the registered model's tag ``mlci.audit.checkpoint``."""

    def __init__(self, config: Any) -> None:
        self.config = config
        uri = config.registry_uri
        self.local = uri.startswith(("sqlite:", "file:")) or "://" not in uri
        self.name = f"registry {redact_uri(uri)} tag {REGISTRY_TAG}"
        self._registry: Any = None

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from mlci_local.registry import Registry

            self._registry = Registry(self.config)
        return self._registry

    def put(self, checkpoint: SignedCheckpoint) -> None:
        current = self.registry.model_tag(REGISTRY_TAG)
        if current:
            try:
                if json.loads(current).get("seq", -1) >= checkpoint.seq:
                    return  # a concurrent writer anchored a newer head already
            except (ValueError, AttributeError):
                pass  # unreadable: overwrite it with a good one (verify reports forgeries)
        self.registry.set_model_tag(REGISTRY_TAG, checkpoint.to_json())

    def read(self) -> AnchorRead:
        protection = "a registry tag: anyone with registry write access can overwrite it" + (
            " (the embedded registry is inside .mlci/)" if self.local else ""
        )
        result = AnchorRead(self.name, not self.local, protection)
        value = self.registry.model_tag(REGISTRY_TAG)
        if value is not None:
            try:
                result.entries.append((self.name, SignedCheckpoint.from_dict(json.loads(value))))
            except (ValueError, TypeError) as exc:
                result.entries.append((self.name, ValueError(f"not a signed checkpoint ({exc})")))
        return result


def anchors_for(config: Any, ledger_id: str) -> list[Anchor]:
    """The configured anchors, in configuration order."""
    audit = config.audit
    found: list[Anchor] = []
    for spec in audit.anchors:
        if spec == "registry":
            found.append(RegistryAnchor(config))
        elif spec == "database":
            if not config.database:
                raise ConfigError(
                    "anchor 'database' needs a PostgreSQL database: set `database` or "
                    "$MLCI_DATABASE, or give a postgresql:// URL",
                    key="audit.anchors",
                )
            found.append(PostgresAnchor(config.database, ledger_id))
        elif spec.startswith("s3://"):
            found.append(
                S3Anchor(
                    spec,
                    ledger_id,
                    endpoint=audit.s3_endpoint,
                    retention_days=audit.s3_retention_days,
                )
            )
        else:
            found.append(PostgresAnchor(spec, ledger_id))
    return found
