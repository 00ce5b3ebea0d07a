"""Check a registered model's files in the registry's store on every use; load the bytes checked.

Every registered version carries a manifest (``mlci.manifest``: file name -> sha256). Staging,
the ``pytest --mlci`` baseline, ``mlci serve`` and promotion all come through here, and each use
checks the *store* against that manifest, not a copy made earlier: a cache may save a download,
never the check. What "check the store" costs depends on where the store is:

* **A local store** (the embedded registry's ``.mlci/artifacts``, any ``file:`` location): every
  file is read and hashed on each use. The model file's bytes are hashed in memory and those
  same bytes are what gets loaded (:func:`load_verified`), so nothing can change between the
  check and the load. There is nothing to download, so there is no cache to save.
* **A remote store** (``mlflow server`` with proxied S3 artifacts, ``s3://``, ...): MLflow's
  artifact API lists files with their sizes only (``FileInfo.path``, ``is_dir``, ``file_size``;
  no sha256, no ETag), so the bytes cannot be checked without downloading them. Each use lists
  the store (one request): a file added, missing or of another size than the verified cached copy
  is refused after a fresh download names the actual sha256. The cached copy itself is re-hashed
  on each use, and its hashed bytes are what gets loaded; the first use, and any cached copy that
  no longer matches the manifest, downloads and hashes afresh. What the listing cannot see is an
  edit that keeps the size: that is caught by the full download every promotion and rollback
  makes (``mlci_local.promotion.verify_artifact``), or on every use with
  ``MLCI_ARTIFACT_CHECK=download``, which downloads and hashes every time.

The embedded registry records absolute ``file:`` locations (MLflow resolves a relative artifact
location to an absolute one when an experiment is created), so a copied workspace would read the
original's files. :func:`workspace_path` maps a location in mlci's layout
(``<state dir>/artifacts/<run id>/artifacts/...``) into the current state dir; the
version's ``mlci.artifact_location`` tag holds that relative part for versions registered since.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mlci.errors import DataError, RegistryError
from pytest_mlci.model_io import sha256_file
from pytest_mlci.redact import redact_text

TAG_LOCATION = "mlci.artifact_location"  # the model folder, relative to the state dir (posix)
CHECK_ENV = "MLCI_ARTIFACT_CHECK"  # "download": a remote store is downloaded and hashed each use
_RUN_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class VerifiedArtifact:
    """The model's bytes, hashed against the registered manifest just now.

    A single-file model has ``data``; a directory model (an MLflow model folder, registered
    with an ``mlci.artifact_file`` ending in ``/``) has every file's bytes in ``files``.
    """

    name: str  # the model file's name, e.g. model.skops (its suffix picks the loader)
    data: bytes
    path: Path  # a file (folder) that held exactly these bytes: a cache copy or the store's
    how: str  # what was checked: "local store hashed" / "remote listing + cache hashed" / ...
    files: dict[str, bytes] | None = None

    def artifact(self, label: str) -> Any:
        """The checked bytes as a :class:`pytest_mlci.flavours.ArtifactBytes` to load."""
        from pytest_mlci.flavours import ArtifactBytes

        if self.files is not None:
            return ArtifactBytes(self.name.rstrip("/"), label, files=self.files)
        return ArtifactBytes(self.name, label, data=self.data)


def is_directory(filename: str) -> bool:
    """Whether a version's ``mlci.artifact_file`` names a directory model (``model/``)."""
    return filename.endswith("/")


def manifest_of(version: Any) -> tuple[str, dict[str, str]]:
    """The model file's name and the {file: sha256} manifest a version was registered with."""
    from pytest_mlci.registry_read import TAG_FILE, TAG_MANIFEST, TAG_SHA256

    expected, filename = version.tags.get(TAG_SHA256), version.tags.get(TAG_FILE)
    if not expected or not filename:
        raise RegistryError(
            f"{version.name} v{version.version} has no {TAG_SHA256}/{TAG_FILE} tags; "
            "it was not registered by mlci and cannot be verified"
        )
    text = version.tags.get(TAG_MANIFEST)
    if is_directory(filename):
        from pytest_mlci.model_io import tree_digest

        manifest = json.loads(text) if text else {}
        if not manifest or tree_digest(manifest) != expected:
            raise DataError(
                f"{version.name} v{version.version}: the manifest does not add up to the "
                f"registered {TAG_SHA256}; refusing to load"
            )
        return filename, manifest
    # Registered before manifests existed: the single-file digest is the manifest.
    manifest = json.loads(text) if text else {filename: expected}
    if manifest.get(filename, expected) != expected:
        raise DataError(
            f"{version.name} v{version.version}: the manifest and the {TAG_SHA256} tag disagree "
            f"about {filename}; refusing to load"
        )
    manifest.setdefault(filename, expected)
    return filename, manifest


# ---------------------------------------------------------------------- where the files are


def workspace_path(path: Path, state_dir: Path, *, must_exist: bool = True) -> Path:
    """Where ``path`` (recorded by this workspace or by the one it was copied from) lives here.

    A path already inside ``state_dir`` is kept. A path in mlci's layout under another state
    dir (``.../artifacts/<run id>/artifacts/...``) is mapped to the same relative
    place under ``state_dir``: when that file exists, or always with ``must_exist=False`` (a
    write). Anything else is kept as recorded, so locations outside the layout keep working.
    Which copy is read decides only availability, never trust: the bytes must match the
    manifest in *this* workspace's registry either way.
    """
    state = Path(state_dir).resolve()
    if path.is_relative_to(state) or path.is_relative_to(os.path.abspath(state_dir)):
        return path
    parts = path.parts
    for i in range(len(parts) - 3, -1, -1):
        # MLflow puts a run's files at <experiment location>/<run id>/artifacts; mlci's
        # experiment location is <state dir>/artifacts (older MLflow: .../<experiment id>/...).
        run = i + 2 if i + 2 < len(parts) and parts[i + 1].isdigit() else i + 1
        if (
            parts[i] == "artifacts"
            and run + 1 < len(parts)
            and _RUN_ID.fullmatch(parts[run])
            and parts[run + 1] == "artifacts"
        ):
            mapped = state.joinpath(*parts[i:])
            if not must_exist or mapped.exists():
                return mapped
            break
    return path


def local_store(version: Any, state_dir: Path | None) -> Path | None:
    """The local folder holding the version's files, or None for a remote store."""
    from mlflow.utils.file_utils import local_file_uri_to_path
    from mlflow.utils.uri import is_local_uri

    relative = version.tags.get(TAG_LOCATION)
    if state_dir is not None and relative and not Path(relative).is_absolute():
        state = Path(state_dir).resolve()
        mapped = Path(os.path.normpath(state / relative))
        if mapped.is_relative_to(state) and mapped.is_dir():  # a tag cannot point outside
            return mapped
    if not is_local_uri(version.source):
        return None
    recorded = Path(local_file_uri_to_path(version.source))
    return recorded if state_dir is None else workspace_path(recorded, state_dir)


# ---------------------------------------------------------------------- checking


def _mismatch(version: Any, where: str, name: str, expected: str, actual: str) -> DataError:
    return DataError(
        f"{version.name} v{version.version}: {where}/{name}: sha256 {actual[:12]} does not match "
        f"the registered manifest's {expected[:12]}; the artifact was modified after "
        "registration; refusing to load"
    )


def _hash_folder(
    version: Any, folder: Path, where: str, filename: str, manifest: dict[str, str]
) -> tuple[bytes, dict[str, bytes] | None]:
    """Check every file of ``folder`` against ``manifest``; return the model file's bytes
    (for a directory model, every file's bytes)."""
    if not folder.is_dir():
        raise DataError(
            f"{version.name} v{version.version}: {where}: the model's folder is missing from "
            "the registry store"
        )
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    extra = sorted(present - set(manifest))
    if extra:
        # An extra file matters as much as a changed one: a loader may pick it up.
        raise DataError(
            f"{version.name} v{version.version}: {where}: file(s) not in the registered "
            f"manifest: {', '.join(extra)}; refusing to load a model whose files changed "
            "after registration"
        )
    data = b""
    everything: dict[str, bytes] | None = {} if is_directory(filename) else None
    for name, expected in sorted(manifest.items()):
        path = folder / name
        if not path.is_file():
            raise DataError(
                f"{version.name} v{version.version}: {where}/{name}: listed in the manifest "
                "but missing from the store"
            )
        if name == filename or everything is not None:
            content = path.read_bytes()  # hashed and loaded from memory: no check-then-load race
            actual = hashlib.sha256(content).hexdigest()
            if everything is not None:
                everything[name] = content
            else:
                data = content
        else:
            actual = sha256_file(path)
        if actual != expected:
            raise _mismatch(version, where, name, expected, actual)
    return data, everything


def _listing(version: Any, registry_uri: str) -> dict[str, int | None]:
    """{relative path: size} of every file under the version's source in a remote store."""
    import mlflow.artifacts

    found: dict[str, int | None] = {}

    def walk(uri: str, prefix: str) -> None:
        for info in mlflow.artifacts.list_artifacts(artifact_uri=uri, tracking_uri=registry_uri):
            name = info.path.rsplit("/", 1)[-1]
            if info.is_dir:
                walk(f"{uri}/{name}", f"{prefix}{name}/")
            else:
                found[prefix + name] = info.file_size

    try:
        walk(version.source, "")
    except Exception as exc:
        raise RegistryError(
            f"cannot list {version.name} v{version.version} in the registry store: "
            + redact_text(str(exc))
        ) from None
    return found


def _download(version: Any, target: Path, registry_uri: str) -> Path:
    import mlflow.artifacts

    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    try:
        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=version.source, dst_path=str(target), tracking_uri=registry_uri
            )
        )
    except Exception as exc:
        raise RegistryError(
            f"cannot download {version.name} v{version.version} from the registry store: "
            + redact_text(str(exc))
        ) from None


def _write_copy(path: Path, data: bytes) -> None:
    """Keep ``path`` holding exactly ``data``; rewritten atomically only when it differs."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def verify(
    version: Any,
    cache_dir: Path,
    *,
    registry_uri: str,
    state_dir: Path | None = None,
    copy: bool = True,
) -> VerifiedArtifact:
    """Check the store's files for ``version`` against its manifest now; refuse on a mismatch.

    :class:`DataError` names the version, the file, and the expected and actual sha256.
    ``copy`` keeps a cache file with the checked bytes of a local store for callers that need
    a path; :func:`load_verified` loads from memory and needs none.
    """
    from pytest_mlci.registry_read import TAG_SHA256, sqlite_path

    filename, manifest = manifest_of(version)
    expected = version.tags[TAG_SHA256] if is_directory(filename) else manifest[filename]
    if state_dir is None and sqlite_path(registry_uri) is not None:
        state_dir = sqlite_path(registry_uri).parent  # the default layout keeps both together
    folder = local_store(version, state_dir)
    target = Path(cache_dir) / f"{version.name}-v{version.version}-{expected[:12]}"
    if folder is not None:
        data, files = _hash_folder(version, folder, str(folder), filename, manifest)
        if files is not None:
            if copy:
                for name, content in files.items():
                    _write_copy(target / name, content)
            return VerifiedArtifact(
                filename, b"", target if copy else folder, "local store hashed", files
            )
        path = folder / filename
        if copy:
            path = target / filename
            _write_copy(path, data)
        return VerifiedArtifact(filename, data, path, "local store hashed")

    listed = _listing(version, registry_uri)
    where = "the registry store"
    missing = sorted(set(manifest) - set(listed))
    extra = sorted(set(listed) - set(manifest))
    if missing or extra:
        problem = (
            f"listed in the manifest but missing: {', '.join(missing)}"
            if missing
            else f"file(s) not in the registered manifest: {', '.join(extra)}"
        )
        raise DataError(f"{version.name} v{version.version}: {where}: {problem}; refusing to load")
    cached = target / "files"
    if os.environ.get(CHECK_ENV, "").lower() != "download" and _sizes_match(cached, listed):
        try:
            data, files = _hash_folder(version, cached, str(cached), filename, manifest)
            return VerifiedArtifact(
                filename,
                data,
                cached if files is not None else cached / filename,
                "remote listing matched; cached copy hashed",
                files,
            )
        except DataError:
            pass  # a damaged cache is fetched again, never trusted
    fresh = Path(tempfile.mkdtemp(prefix=".download-", dir=_ensure(target)))
    try:
        local = _download(version, fresh / "files", registry_uri)
        data, files = _hash_folder(version, local, where, filename, manifest)
        try:
            if cached.exists():
                shutil.rmtree(cached)
            os.replace(local, cached)
        except OSError:
            pass  # another process put its verified copy there meanwhile; ours is in memory
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return VerifiedArtifact(
        filename,
        data,
        cached if files is not None else cached / filename,
        "remote store downloaded, hashed",
        files,
    )


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sizes_match(folder: Path, listed: dict[str, int | None]) -> bool:
    """Whether the cached copy has every listed file at the listed size."""
    for name, size in listed.items():
        path = folder / name
        if not path.is_file() or (size is not None and path.stat().st_size != size):
            return False
    return True


def load_verified(
    version: Any,
    cache_dir: Path,
    *,
    registry_uri: str,
    state_dir: Path | None = None,
    trusted_types: Sequence[str] = (),
    allow_pickle: bool = False,
    policy: Any = None,
) -> Any:
    """:func:`verify` the version, then load the model from the very bytes that were hashed.

    ``policy`` (:class:`pytest_mlci.flavours.ModelPolicy`, usually ``from_config``) decides the
    flavour; without it ``trusted_types``/``allow_pickle`` make one that detects it.
    """
    from pytest_mlci.flavours import ModelPolicy, load

    verified = verify(
        version, cache_dir, registry_uri=registry_uri, state_dir=state_dir, copy=False
    )
    if policy is None:
        policy = ModelPolicy(trusted_types=tuple(trusted_types), allow_pickle=allow_pickle)
    label = f"{version.name} v{version.version}/{verified.name}".rstrip("/")
    return load(verified.artifact(label), policy)
