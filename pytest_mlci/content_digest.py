"""The content digest: "is this the same model?", independent of how the file was written.

``skops.io.dump`` is not byte-deterministic. Saving one fitted model twice gives two different
files: array members are named after Python object ids (``140650278656944.npy``), every node in
``schema.json`` carries its object id as ``__id__``, and each zip entry is stamped with the wall
clock. The sha256 of the file therefore changes on every retrain, so a CI runner without a DVC
cache would register an identical model as a new version and send it through a canary.

The content digest hashes what the model *is*: for a ``.skops`` zip, the members by name in
sorted order with zip metadata (timestamps, entry order, compression) ignored, and
``schema.json`` with the object ids renumbered in order of first appearance (equal ids stay
equal, so shared references keep their shape) and member file names replaced by the same
numbering. A model directory (an MLflow model) is the digest of its files' content digests,
with ``MLmodel``'s per-save fields (time, uuid, run id) left out and cloudpickle's per-process
class ids in its pickles numbered (:func:`pickle_content_digest`). Pickle and joblib files have no
such noise to remove (no timestamps; the pickler's
memo is numbered in order), and no format-aware canonical form we could trust, so their content
digest is their exact sha256.

The content digest decides identity only (registration's idempotency key, "already in
production"). Every integrity check stays on the exact sha256 of the bytes that are loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from pytest_mlci.model_io import sha256_file

SCHEMA = "schema.json"
# Bumped if the canonical form changes; part of what is hashed, so two schemes never agree.
SCHEME = b"mlci-content-digest/skops/1\0"
DIRECTORY_SCHEME = b"mlci-content-digest/directory/1\0"
PICKLE_SCHEME = b"mlci-content-digest/pickle/1\0"
_UUID4_HEX = re.compile(r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}")
MLMODEL = "MLmodel"
#: What MLflow writes into ``MLmodel`` anew on every save of the same model.
MLMODEL_PER_SAVE = frozenset(
    {"utc_time_created", "model_uuid", "model_id", "run_id", "artifact_path", "model_size_bytes"}
)


def content_digest(path: Path) -> str:
    """Hex digest of the model in ``path``: equal for equal models, whatever the save run.

    A ``.skops`` file is canonicalised (see the module docstring); any other file, or a
    ``.skops`` file that is not a readable skops zip, is identified by its exact sha256, which
    is never *less* strict than the content digest.
    """
    path = Path(path)
    if path.is_dir():
        return directory_content_digest(path)
    if path.suffix.lower() == ".skops":
        digest = skops_content_digest(path.read_bytes())
        if digest is not None:
            return digest
    return sha256_file(path)


def directory_content_digest(path: Path) -> str:
    """The content digest of a model directory (an MLflow model folder).

    Each file counts by its own content digest, and ``MLmodel`` without the fields MLflow
    writes afresh on every save (creation time, model uuid and id, run id, size): saving the
    same model twice, in two runs, gives the same digest.
    """
    digest = hashlib.sha256(DIRECTORY_SCHEME)
    for child in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        name = child.relative_to(path).as_posix()
        if name == MLMODEL:
            part = _mlmodel_digest(child.read_bytes())
        elif child.suffix.lower() in (".pkl", ".pickle"):
            part = pickle_content_digest(child.read_bytes())
        else:
            part = content_digest(child)
        digest.update(f"{name}\0{part}\n".encode())
    return digest.hexdigest()


def pickle_content_digest(data: bytes) -> str:
    """A pickle's digest with cloudpickle's per-process class ids numbered instead.

    MLflow cloudpickles a ``python_function`` model, and cloudpickle pickles a class defined in
    the training script by value, tagged with a fresh ``uuid4().hex`` in every process (its
    "class tracker id"): the only byte that differs between two saves of one model. The opcodes
    are hashed with every string that is a version-4 uuid in hex replaced by its order of first
    appearance; anything that is not a readable pickle counts by its exact bytes.
    """
    import pickletools

    digest = hashlib.sha256(PICKLE_SCHEME)
    seen: dict[str, int] = {}
    try:
        for opcode, argument, _ in pickletools.genops(data):
            if isinstance(argument, str) and _UUID4_HEX.fullmatch(argument):
                argument = f"<uuid {seen.setdefault(argument, len(seen))}>"
            digest.update(f"{opcode.name}\0{argument!r}\n".encode())
    except Exception:  # not a pickle, or a damaged one: be exact
        return hashlib.sha256(data).hexdigest()
    return digest.hexdigest()


def _mlmodel_digest(data: bytes) -> str:
    """An ``MLmodel`` file's digest without its per-save fields (exact bytes if unreadable)."""
    import yaml

    try:
        document = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        document = None
    if not isinstance(document, dict):
        return hashlib.sha256(data).hexdigest()
    stable = {k: v for k, v in document.items() if k not in MLMODEL_PER_SAVE}
    text = json.dumps(stable, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def skops_content_digest(data: bytes) -> str | None:
    """The content digest of a skops file's bytes, or None if they are not a skops zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if SCHEMA not in names or len(set(names)) != len(names):
                return None  # duplicate names: which member loads is not obvious; be exact
            schema = json.loads(archive.read(SCHEMA))
            members = {name: archive.read(name) for name in names if name != SCHEMA}
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError):
        # RuntimeError: an encrypted member; ValueError covers bad JSON and a bad zip header.
        return None
    canonical, files = canonical_schema(schema, members)
    digest = hashlib.sha256(SCHEME)
    digest.update(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode())
    # Members the schema names were renamed; any other member keeps its own name, under a
    # prefix of its own so that no name can stand in for a renamed one.
    renamed = {files.get(name, f"other/{name}"): content for name, content in members.items()}
    for name in sorted(renamed):
        digest.update(b"\0member\0" + name.encode() + b"\0")
        digest.update(hashlib.sha256(renamed[name]).digest())
    return digest.hexdigest()


def canonical_schema(schema: Any, members: dict) -> tuple[Any, dict[str, str]]:
    """A skops ``schema.json`` with object ids and member file names numbered by first
    appearance, and the ``{old member name: new name}`` map of the members it names.

    Shared by the content digest and :mod:`pytest_mlci.skops_save`, which writes a model in
    this form, so a file saved that way has the same content digest as a plain dump."""
    files: dict[str, str] = {}
    return _canonical(schema, {}, files, members), files


def _canonical(node: Any, ids: dict[Any, int], files: dict[str, str], members: dict) -> Any:
    """``node`` with ``__id__`` values and member file names numbered by first appearance."""
    if isinstance(node, list):
        return [_canonical(item, ids, files, members) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "__id__" and isinstance(value, int) and not isinstance(value, bool):
            out[key] = ids.setdefault(value, len(ids))
        elif key == "file" and isinstance(value, str) and value in members:
            suffix = Path(value).suffix
            out[key] = files.setdefault(value, f"named/{len(files)}{suffix}")
        else:
            out[key] = _canonical(value, ids, files, members)
    return out
