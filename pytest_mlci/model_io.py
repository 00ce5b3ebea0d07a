"""Load a model artifact safely and compute the digests that identify it.

skops is the default format because it loads without executing arbitrary code: only types
known to be safe are rebuilt, and any other type must be trusted explicitly by name (config
``trusted_types``). Pickle and joblib files can execute code on load; they are refused unless
the project opts in with ``allow_pickle = true``, which is a statement that the artifact comes
only from this project's own pipeline and its sha256 is verified before loading. The other
flavours (XGBoost, LightGBM, MLflow model directories, a user's predict function) are in
:mod:`pytest_mlci.flavours`.

An artifact is a file, or a directory (an MLflow model): a directory's exact digest is the
tree digest of its ``{relative path: sha256}`` manifest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_mlci.errors import DataError

_CHUNK = 1 << 20
MISSING_ARTIFACT = "{path}: model artifact not found; run `dvc repro` (or fix 'artifact' in config)"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so large artifacts need no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digest(files: dict[str, str]) -> str:
    """The digest of a model directory from its ``{relative posix path: sha256}`` manifest.

    Computed from the manifest alone, so a registered version's manifest can be checked
    against its ``mlci.sha256`` tag without reading a file.
    """
    digest = hashlib.sha256(b"mlci-tree/1\0")
    for name in sorted(files):
        digest.update(f"{name}\0{files[name]}\n".encode())
    return digest.hexdigest()


def directory_manifest(path: Path) -> dict[str, str]:
    """``{relative posix path: sha256}`` of every file under the directory ``path``."""
    path = Path(path)
    return {
        child.relative_to(path).as_posix(): sha256_file(child)
        for child in sorted(path.rglob("*"))
        if child.is_file()
    }


def artifact_exists(path: Path) -> bool:
    """A model artifact is a file, or a non-empty directory (an MLflow model folder)."""
    path = Path(path)
    return path.is_file() or (path.is_dir() and any(p.is_file() for p in path.rglob("*")))


def artifact_digest(path: Path) -> str:
    """The exact digest of an artifact: a file's sha256, or a directory's tree digest.

    A missing artifact is a :class:`DataError` saying how to make it (the evaluation asks
    for the digest before it loads the model, so this is where a missing model is met first).
    """
    path = Path(path)
    if not artifact_exists(path):
        raise DataError(MISSING_ARTIFACT.format(path=_shown(path)))
    if path.is_dir():
        return tree_digest(directory_manifest(path))
    return sha256_file(path)


def _shown(path: Path) -> str:
    """``models/model.skops`` when under the working directory (short and copyable)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)


def load_model(
    path: Path,
    *,
    trusted_types: Sequence[str] = (),
    allow_pickle: bool = False,
    policy: Any = None,
) -> Any:
    """Load the artifact at ``path`` (a file or an MLflow model directory) by its flavour.

    ``policy`` (:class:`pytest_mlci.flavours.ModelPolicy`) carries the project's flavour keys;
    without one, ``trusted_types`` and ``allow_pickle`` make a policy that detects the flavour.
    """
    from pytest_mlci.flavours import ArtifactBytes, ModelPolicy, load

    path = Path(path)
    if not artifact_exists(path):
        raise DataError(MISSING_ARTIFACT.format(path=_shown(path)))
    if policy is None:
        policy = ModelPolicy(trusted_types=tuple(trusted_types), allow_pickle=allow_pickle)
    return load(ArtifactBytes.read(path), policy)


def load_model_bytes(
    data: bytes,
    name: str,
    *,
    trusted_types: Sequence[str] = (),
    allow_pickle: bool = False,
    label: str | None = None,
    policy: Any = None,
) -> Any:
    """Load a model file from bytes already checked against their sha256, under the same
    policy as :func:`load_model`; ``name``'s suffix (and first bytes) pick the flavour.

    Loading the very bytes that were hashed leaves no moment in which the file on disk could
    change between the check and the load.
    """
    from pytest_mlci.flavours import ArtifactBytes, ModelPolicy, load

    if policy is None:
        policy = ModelPolicy(trusted_types=tuple(trusted_types), allow_pickle=allow_pickle)
    return load(ArtifactBytes(name, label or name, data=data), policy)
