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
numbering. Pickle and joblib files have no such noise to remove (no timestamps; the pickler's
memo is numbered in order), and no format-aware canonical form we could trust, so their content
digest is their exact sha256.

The content digest decides identity only (registration's idempotency key, "already in
production"). Every integrity check stays on the exact sha256 of the bytes that are loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from pytest_mlci.model_io import sha256_file

SCHEMA = "schema.json"
# Bumped if the canonical form changes; part of what is hashed, so two schemes never agree.
SCHEME = b"mlci-content-digest/skops/1\0"


def content_digest(path: Path) -> str:
    """Hex digest of the model in ``path``: equal for equal models, whatever the save run.

    A ``.skops`` file is canonicalised (see the module docstring); any other file, or a
    ``.skops`` file that is not a readable skops zip, is identified by its exact sha256, which
    is never *less* strict than the content digest.
    """
    path = Path(path)
    if path.suffix.lower() == ".skops":
        digest = skops_content_digest(path.read_bytes())
        if digest is not None:
            return digest
    return sha256_file(path)


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
    ids: dict[Any, int] = {}
    files: dict[str, str] = {}
    canonical = _canonical(schema, ids, files, members)
    digest = hashlib.sha256(SCHEME)
    digest.update(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode())
    # Members the schema names were renamed; any other member keeps its own name, under a
    # prefix of its own so that no name can stand in for a renamed one.
    renamed = {files.get(name, f"other/{name}"): content for name, content in members.items()}
    for name in sorted(renamed):
        digest.update(b"\0member\0" + name.encode() + b"\0")
        digest.update(hashlib.sha256(renamed[name]).digest())
    return digest.hexdigest()


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
