"""The MLflow adapter: the only module that writes to the model registry.

Registration avoids ``mlflow.sklearn.log_model`` on purpose: that spends seconds inferring pip
requirements and pickles the model. We upload the artifact the pipeline already produced
(skops) with a sha256 tag, so what staging and production load is byte-for-byte what was
evaluated. Registration is idempotent: a version carries an idempotency key (model name and
the artifact's content digest), and a repeated or retried registration of the same model returns
the existing version, even when the serializer wrote the same model as different bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mlci import registry_read as rr
from pytest_mlci.artifact_check import TAG_LOCATION, workspace_path
from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import ConfigError, RegistryError
from pytest_mlci.redact import redact_text, redact_uri
from pytest_mlci.registry_read import RegisteredVersion

ALIASES = ("candidate", "staging", "production", "previous")
TAG_IDEMPOTENCY = "mlci.idempotency_key"
EXPERIMENT = "mlci"
MAX_TAG = 5000  # MLflow's limit on a tag value in its SQL stores


@dataclass(frozen=True)
class Registration:
    """The outcome of :meth:`Registry.register`: the version, and whether it is new."""

    version: RegisteredVersion
    created: bool


def idempotency_key(model: str, digest: str) -> str:
    """Same model name and same content digest (:mod:`pytest_mlci.content_digest`): same key,
    hence the same version."""
    import hashlib

    return hashlib.sha256(f"{model}\0{digest}".encode()).hexdigest()


class Registry:
    """Registry operations for one configured model."""

    def __init__(self, config: MlciConfig) -> None:
        self.config = config
        self.model = config.model
        self.uri = config.registry_uri
        self.shown_uri = redact_uri(self.uri)  # for messages: never the password
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = rr.open_client(self.uri)
        return self._client

    def call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one MLflow call; any failure becomes a :class:`RegistryError` naming it."""
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlflowException as exc:
            raise RegistryError(
                f"registry {self.shown_uri}: {what} failed: {redact_text(exc.message)}"
            ) from None
        except OSError as exc:
            raise RegistryError(
                f"registry {self.shown_uri}: {what} failed: {redact_text(str(exc))}"
            ) from None

    # ------------------------------------------------------------------ reading

    def versions(self) -> list[RegisteredVersion]:
        """Every version of the model, oldest first."""
        if not rr.registry_exists(self.uri):
            return []
        found = self.call(
            "search versions", self.client.search_model_versions, f"name='{self.model}'"
        )
        versions = [RegisteredVersion.from_mlflow(mv) for mv in found]
        return sorted(versions, key=lambda v: int(v.version))

    def by_alias(self, alias: str) -> RegisteredVersion | None:
        if not rr.registry_exists(self.uri):
            return None
        return rr.version_by_alias(self.client, self.model, alias)

    def by_version(self, version: str) -> RegisteredVersion:
        """The registered ``version``; a version that does not exist is the user's mistake
        (a typo on the command line), so it is a :class:`ConfigError` saying where to look."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version(self.model, str(version))
        except MlflowException as exc:
            if rr.is_not_found(exc):
                raise ConfigError(
                    f"model '{self.model}' has no version {version} in registry "
                    f"{self.shown_uri}; `mlci status` shows the versions the aliases point at"
                ) from None
            mv = self.call(
                f"read version {version}", self.client.get_model_version, self.model, str(version)
            )
        return RegisteredVersion.from_mlflow(mv)

    def aliases(self) -> dict[str, RegisteredVersion]:
        """Alias name → version, for the aliases that exist."""
        result = {}
        for alias in self.alias_names():
            version = self.by_alias(alias)
            if version is not None:
                result[alias] = version
        return result

    def find_by_key(self, key: str, digest: str | None = None) -> RegisteredVersion | None:
        """The version holding the same model: its idempotency key is ``key``, or its exact
        bytes are ``digest`` (a version registered before keys came from content digests)."""
        for version in self.versions():
            if version.tags.get(TAG_IDEMPOTENCY) == key:
                return version
            if digest is not None and version.digest == digest:
                return version
        return None

    # ------------------------------------------------------------------ writing

    def register(
        self,
        artifact: Path,
        digest: str,
        *,
        tags: Mapping[str, str],
        attachments: Mapping[str, str] | None = None,
    ) -> Registration:
        """Upload ``artifact`` and create a version, unless one holds the same model.

        "Same model" is the content digest, so a forced retrain that wrote the same model as
        new bytes returns the existing version (whose ``digest`` is then not ``digest``: the
        registered bytes stay the ones every later check verifies).

        ``attachments`` are small text files (name → content: lineage JSON, dvc.lock, the
        evaluation report) stored beside the model in the same run.
        """
        from mlci_local.locks import model_lock
        from pytest_mlci.content_digest import content_digest

        content = content_digest(artifact)
        key = idempotency_key(self.model, content)
        # Serialised per model: two runners registering the same bytes at once must not both
        # find nothing and both create a version.
        with model_lock(self.config, "register"):
            existing = self.find_by_key(key, digest)
            if existing is not None:
                return Registration(existing, created=False)
            tags = {**tags, rr.TAG_CONTENT_DIGEST: content}
            return Registration(
                self._create(artifact, digest, key, tags, attachments), created=True
            )

    def _create(
        self,
        artifact: Path,
        digest: str,
        key: str,
        tags: Mapping[str, str],
        attachments: Mapping[str, str] | None,
    ) -> RegisteredVersion:
        client = self.client
        experiment_id = self._experiment_id()
        run = self.call(
            "create run",
            client.create_run,
            experiment_id,
            tags={"mlci.model": self.model, rr.TAG_SHA256: digest},
        )
        run_id = run.info.run_id
        here = self._workspace_dir(run.info.artifact_uri)
        self._upload("upload artifact", run_id, here, artifact, "model")
        if attachments:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                for name, content in attachments.items():
                    (Path(tmp) / name).write_text(content, encoding="utf-8")
                self._upload("upload lineage", run_id, here, Path(tmp), "mlci")
        self.call("finish run", client.set_terminated, run_id)
        self._ensure_registered_model()
        location = {}
        if here is not None and (here / "model").is_relative_to(self._state_dir()):
            # Relative to the state dir: a copied workspace reads its own files (MLflow itself
            # records only absolute local locations).
            relative = (here / "model").relative_to(self._state_dir()).as_posix()
            location = {TAG_LOCATION: relative}
        version_tags = {
            **{k: _clip(v) for k, v in tags.items()},
            **location,
            rr.TAG_SHA256: digest,
            **_file_tags(artifact, digest),
            TAG_IDEMPOTENCY: key,
        }
        mv = self.call(
            "create model version",
            client.create_model_version,
            self.model,
            source=f"{here.as_uri() if here else run.info.artifact_uri}/model",
            run_id=run_id,
            tags=version_tags,
        )
        created = self.by_version(str(mv.version))
        if created.digest != digest:
            raise RegistryError(
                f"{self.model} v{mv.version}: read back digest {created.digest} != {digest}"
            )
        return created

    def attach_files(self, version: str, files: Mapping[str, str], folder: str) -> None:
        """Store small text files (name → content) in ``folder`` of the version's run.

        Beside the model, never inside ``model/``: its files and manifest stay as registered.
        """
        import tempfile

        found = self.by_version(version)
        if not found.run_id:
            raise RegistryError(f"{self.model} v{version} has no run to attach files to")
        run = self.call(f"read run of v{version}", self.client.get_run, found.run_id)
        here = self._workspace_dir(run.info.artifact_uri)
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in files.items():
                (Path(tmp) / name).write_text(content, encoding="utf-8")
            self._upload(f"attach {folder}/ to v{version}", found.run_id, here, Path(tmp), folder)

    def download_run_folder(self, run_id: str, folder: str, destination: str) -> Path:
        """Download ``folder`` of a run's files, from this workspace's copy when embedded."""
        run = self.call("read run", self.client.get_run, run_id)
        here = self._workspace_dir(f"{run.info.artifact_uri}/{folder}", must_exist=True)
        if here is None:
            return Path(self.client.download_artifacts(run_id, folder, destination))
        from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

        root = here.parents[len(Path(folder).parts) - 1]  # the run's folder, in this workspace
        return Path(LocalArtifactRepository(root.as_uri()).download_artifacts(folder, destination))

    # ------------------------------------------------------------------ embedded locations

    def _state_dir(self) -> Path:
        return Path(self.config.state_dir).resolve()  # as the experiment's location was made

    def _workspace_dir(self, artifact_uri: str, *, must_exist: bool = False) -> Path | None:
        """For the embedded registry, this workspace's folder for a run's files; else None.

        MLflow stores the absolute location it was given when the experiment was created, so
        in a copied workspace (a CI cache, a moved checkout) the recorded location is the
        original's; writing or reading there would touch another workspace's files.
        """
        from mlflow.utils.file_utils import local_file_uri_to_path
        from mlflow.utils.uri import is_local_uri

        if rr.sqlite_path(self.uri) is None or not is_local_uri(artifact_uri):
            return None
        recorded = Path(local_file_uri_to_path(artifact_uri))
        return workspace_path(recorded, self._state_dir(), must_exist=must_exist)

    def _upload(self, what: str, run_id: str, here: Path | None, path: Path, folder: str) -> None:
        """Store a file or a folder's files under ``folder`` of the run."""
        if here is None:
            upload = self.client.log_artifacts if path.is_dir() else self.client.log_artifact
            self.call(what, upload, run_id, str(path), folder)
            return
        from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

        repo = LocalArtifactRepository(here.as_uri())
        upload = repo.log_artifacts if path.is_dir() else repo.log_artifact
        self.call(what, upload, str(path), folder)

    def set_alias(self, alias: str, version: str) -> None:
        self._check_alias(alias)
        self.call(
            f"set alias {alias}",
            self.client.set_registered_model_alias,
            self.model,
            alias,
            str(version),
        )

    def delete_alias(self, alias: str) -> None:
        self._check_alias(alias)
        from mlflow.exceptions import MlflowException

        try:
            self.client.delete_registered_model_alias(self.model, alias)
        except MlflowException as exc:
            if not rr.is_not_found(exc):
                raise RegistryError(
                    f"registry {self.shown_uri}: delete alias {alias}: {redact_text(str(exc))}"
                ) from None

    def set_version_tag(self, version: str, key: str, value: str) -> None:
        self.call(
            f"tag v{version}", self.client.set_model_version_tag, self.model, version, key, value
        )

    def model_tag(self, key: str) -> str | None:
        """A tag of the registered model (None if the model or the tag does not exist)."""
        from mlflow.exceptions import MlflowException

        if not rr.registry_exists(self.uri):
            return None
        try:
            model = self.client.get_registered_model(self.model)
        except MlflowException as exc:
            if rr.is_not_found(exc):
                return None
            raise RegistryError(
                f"registry {self.shown_uri}: read model tags: {redact_text(exc.message)}"
            ) from None
        return model.tags.get(key)

    def set_model_tag(self, key: str, value: str) -> None:
        """Tag the registered model, creating it first if nothing was registered yet."""
        self._ensure_registered_model()
        self.call("tag model", self.client.set_registered_model_tag, self.model, key, value)

    def mark_promoted(self) -> None:
        """Remember that this model has had a production version (see first-model policy)."""
        self.call(
            "tag model",
            self.client.set_registered_model_tag,
            self.model,
            rr.TAG_EVER_PROMOTED,
            "true",
        )

    def _ensure_registered_model(self) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.model)
        except MlflowException as exc:
            if not rr.is_not_found(exc):
                raise RegistryError(
                    f"registry {self.shown_uri}: {redact_text(exc.message)}"
                ) from None
            try:
                self.client.create_registered_model(self.model)
            except MlflowException as exc2:  # created meanwhile by another runner
                if "RESOURCE_ALREADY_EXISTS" not in str(getattr(exc2, "error_code", "")):
                    raise RegistryError(
                        f"registry {self.shown_uri}: {redact_text(exc2.message)}"
                    ) from None

    def _experiment_id(self) -> str:
        client = self.client
        experiment = self.call("read experiment", client.get_experiment_by_name, EXPERIMENT)
        if experiment is not None:
            return experiment.experiment_id
        location = None
        if rr.sqlite_path(self.uri) is not None:
            location = (self.config.state_dir / "artifacts").resolve().as_uri()
        from mlflow.exceptions import MlflowException

        try:
            return client.create_experiment(EXPERIMENT, location)
        except MlflowException as exc:
            # Another runner (other models share the experiment, so no lock of ours covers
            # this) created it between our read and our create: use theirs.
            if "RESOURCE_ALREADY_EXISTS" not in str(getattr(exc, "error_code", "")):
                raise RegistryError(
                    f"registry {self.shown_uri}: create experiment failed: "
                    + redact_text(exc.message)
                ) from None
        experiment = self.call("read experiment", client.get_experiment_by_name, EXPERIMENT)
        if experiment is None:
            raise RegistryError(
                f"registry {self.shown_uri}: experiment '{EXPERIMENT}' exists but cannot be read"
                " (deleted meanwhile?); restore it with `mlflow experiments restore` or retry"
            )
        return experiment.experiment_id

    def alias_names(self) -> tuple[str, ...]:
        """Every alias mlci keeps for this model: the fixed ones, each environment of the
        promotion chain, and the ``<environment>_previous`` a rollback there returns to."""
        chain = getattr(self.config, "environment_names", ())
        if tuple(chain) == ("staging", "production"):  # the default chain: the fixed aliases
            return ALIASES
        previous = [previous_alias(name) for name in chain if name != "production"]
        return tuple(dict.fromkeys(("candidate", *chain, *ALIASES, *previous)))

    def _check_alias(self, alias: str) -> None:
        known = self.alias_names()
        if alias not in known:
            raise RegistryError(f"alias '{alias}' is not one of {', '.join(known)}")


def previous_alias(environment: str) -> str:
    """The alias a rollback in ``environment`` returns to (``previous`` for production)."""
    return "previous" if environment == "production" else f"{environment}_previous"


def _file_tags(artifact: Path, digest: str) -> dict[str, str]:
    """The model's file name and its ``{file: sha256}`` manifest, checked on every use.

    A directory model (an MLflow model folder) is named with a trailing ``/`` and its manifest
    lists every file; its digest is the manifest's tree digest.
    """
    from pytest_mlci.model_io import directory_manifest, tree_digest

    if artifact.is_dir():
        manifest = directory_manifest(artifact)
        if tree_digest(manifest) != digest:
            raise RegistryError(f"{artifact}: the model folder changed while it was registered")
        return {
            rr.TAG_FILE: f"{artifact.name}/",
            rr.TAG_MANIFEST: json.dumps(manifest, sort_keys=True),
        }
    return {
        rr.TAG_FILE: artifact.name,
        rr.TAG_MANIFEST: json.dumps({artifact.name: digest}, sort_keys=True),
    }


def _clip(value: str) -> str:
    return value if len(value) <= MAX_TAG else value[: MAX_TAG - 1] + "…"


def flatten(prefix: str, value: Any) -> dict[str, str]:
    """Nested params → ``prefix.a.b = value`` string tags."""
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for key, inner in value.items():
            out.update(flatten(f"{prefix}.{key}", inner))
        return out
    return {prefix: json.dumps(value) if not isinstance(value, str) else value}
