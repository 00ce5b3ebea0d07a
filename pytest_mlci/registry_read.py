"""Read-only access to the MLflow registry: find a version by alias and fetch it verified.

The plugin needs the production model as its baseline; only ``mlci_local.registry`` ever
writes. This module also owns the process-wide settings that keep MLflow and DVC quiet and
offline: no usage telemetry, no progress bars in CI logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mlci.errors import RegistryError
from pytest_mlci.redact import redact_text

TAG_SHA256 = "mlci.artifact_sha256"
TAG_FILE = "mlci.artifact_file"
TAG_EVER_PROMOTED = "mlci.ever_promoted"
TAG_PROMOTED_AT = "mlci.promoted_at"
TAG_MANIFEST = "mlci.manifest"  # JSON {file name: sha256} of every file of the model
# Same model whatever run wrote the file (pytest_mlci.content_digest): identity, never integrity.
TAG_CONTENT_DIGEST = "mlci.content_digest"


def quiet_offline_environment() -> None:
    """No telemetry, no progress bars: set before mlflow or dvc is first imported."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    # A tracking server makes MLflow print a "View run" link into mlci's own output.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # An unreachable registry must fail in seconds, not after MLflow's minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]) if uri.startswith(prefix) else None


def registry_exists(uri: str) -> bool:
    """False only for an embedded sqlite registry whose file was never created."""
    path = sqlite_path(uri)
    return path is None or path.is_file()


def open_client(uri: str) -> Any:
    """An ``MlflowClient`` for both tracking and registry at ``uri``.

    Guarded (:mod:`pytest_mlci.connection_errors`): a missing database driver or a server
    that does not answer is one line naming the redacted address, not a traceback.
    """
    from pytest_mlci.connection_errors import GuardedClient, classify, probe

    quiet_offline_environment()
    import logging

    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    path = sqlite_path(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    probe(uri)
    try:
        if path is None:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        else:
            client = _embedded_client(uri, path)
    except Exception as exc:
        error = classify(exc, uri)
        if error is None:
            raise
        raise error from None
    return GuardedClient(client, uri)


def _embedded_client(uri: str, path: Path) -> Any:
    """A client of the embedded sqlite registry, created one process at a time.

    MLflow creates a new database's tables by running its migrations; two processes doing it
    at once (the models of a many-model repository starting side by side) fail with
    alembic's "expected to match one row". The first one here creates both stores under a
    lock; the others wait and find the tables made.
    """
    from mlflow.tracking import MlflowClient

    from pytest_mlci.filelock import exclusive_lock

    fresh = not path.exists() or path.stat().st_size == 0
    with exclusive_lock(path.with_name(path.name + ".init.lock"), what="registry set-up lock"):
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        if fresh:  # the registry store makes its tables on first use: now, under the lock
            client.search_registered_models(max_results=1)
    return client


@dataclass(frozen=True)
class RegisteredVersion:
    """One model version as pytest-mlci sees it."""

    name: str
    version: str
    source: str
    run_id: str | None
    tags: dict[str, str]
    aliases: tuple[str, ...]

    @property
    def digest(self) -> str | None:
        return self.tags.get(TAG_SHA256)

    @property
    def content_digest(self) -> str | None:
        """None for a version registered before content digests were recorded."""
        return self.tags.get(TAG_CONTENT_DIGEST)

    @classmethod
    def from_mlflow(cls, mv: Any) -> RegisteredVersion:
        return cls(
            name=mv.name,
            version=str(mv.version),
            source=mv.source,
            run_id=mv.run_id,
            tags=dict(mv.tags or {}),
            aliases=tuple(getattr(mv, "aliases", ()) or ()),
        )


def is_not_found(exc: Exception) -> bool:
    """MLflow signals a missing model or alias with RESOURCE_DOES_NOT_EXIST."""
    return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or (
        "not found" in str(exc).lower() or "does not exist" in str(exc).lower()
    )


def version_by_alias(client: Any, model: str, alias: str) -> RegisteredVersion | None:
    """The version behind ``alias``, or None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return RegisteredVersion.from_mlflow(client.get_model_version_by_alias(model, alias))
    except MlflowException as exc:
        if is_not_found(exc):
            return None
        raise RegistryError(redact_text(f"registry error reading {model}@{alias}: {exc}")) from None


def ever_promoted(client: Any, model: str) -> bool:
    """Whether any version of ``model`` has ever been in production (a registered-model tag)."""
    from mlflow.exceptions import MlflowException

    try:
        registered = client.get_registered_model(model)
    except MlflowException as exc:
        if is_not_found(exc):
            return False
        raise RegistryError(redact_text(f"registry error reading model {model}: {exc}")) from None
    return (registered.tags or {}).get(TAG_EVER_PROMOTED) == "true"


def fetch_verified(
    version: RegisteredVersion,
    cache_dir: Path,
    *,
    registry_uri: str,
    state_dir: Path | None = None,
) -> Path:
    """Check the version's files in the registry's store against its manifest, now, and return
    a file holding the checked model bytes (a copy in ``cache_dir``).

    The cache saves a remote download, never the check (see :mod:`pytest_mlci.artifact_check`).
    A mismatch refuses with :class:`DataError` naming the file, both sha256 and the version.
    ``state_dir`` maps an embedded store's locations into this workspace (a copied workspace
    reads its own files). To load a model, prefer :func:`artifact_check.load_verified`, which
    loads the very bytes it hashed.
    """
    from pytest_mlci.artifact_check import verify

    return verify(version, cache_dir, registry_uri=registry_uri, state_dir=state_dir).path


def promoted_versions(client: Any, model: str, limit: int) -> list[RegisteredVersion]:
    """The ``limit`` versions most recently promoted to production, newest first."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.search_model_versions(f"name='{model}'")
    except MlflowException as exc:
        raise RegistryError(
            redact_text(f"registry error listing versions of {model}: {exc}")
        ) from None
    versions = [RegisteredVersion.from_mlflow(mv) for mv in found]
    promoted = [v for v in versions if TAG_PROMOTED_AT in v.tags]
    promoted.sort(key=lambda v: v.tags[TAG_PROMOTED_AT], reverse=True)
    return promoted[:limit]
