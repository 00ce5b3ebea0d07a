"""Save a scikit-learn model with skops as the same bytes every time.

``skops.io.dump`` writes one fitted model differently on every save: array members are named
after Python object ids, ``schema.json`` carries those ids, and every zip entry is stamped with
the wall clock. pytest-mlci does not need stable bytes (it tells "same model" by a content
digest that ignores all three), but a project that commits its ``dvc.lock`` does: the lock
records the model's md5, so a retrain of an unchanged model would leave the working tree
modified. :func:`dump` writes the skops file in one fixed form (the form the content digest
reads: ids and member names numbered in order of first appearance, entries sorted, a fixed
timestamp, each entry compressed as skops compressed it). It loads exactly as skops' own file,
and its content digest is the same.

Use it in a training script in place of ``skops.io.dump``::

    from pytest_mlci.skops_save import dump

    dump(model, "models/model.skops")
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from pytest_mlci.content_digest import SCHEMA, canonical_schema

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


def dump(model: Any, path: str | Path) -> Path:
    """Write ``model`` to ``path`` with skops, in the fixed form (parent folders created)."""
    import skops.io as sio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(canonical_bytes(sio.dumps(model)))
    return path


def canonical_bytes(data: bytes) -> bytes:
    """``data`` (a skops file's bytes) rewritten in the fixed form; ``data`` itself when it is
    not a skops zip this can rewrite safely (a renamed member would shadow another)."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        infos = {info.filename: info for info in source.infolist()}
        if SCHEMA not in infos or len(infos) != len(source.infolist()):
            return data
        members = {name: source.read(name) for name in infos if name != SCHEMA}
        schema = json.loads(source.read(SCHEMA))
    canonical, renamed = canonical_schema(schema, members)
    kept = set(members) - set(renamed)
    if kept & set(renamed.values()):
        return data
    new_name = {name: renamed.get(name, name) for name in members}
    out = {
        new_name[name]: (content, infos[name].compress_type) for name, content in members.items()
    }
    out[SCHEMA] = (
        json.dumps(canonical, indent=2).encode("utf-8"),
        infos[SCHEMA].compress_type,
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name in sorted(out):
            content, compression = out[name]
            entry = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            entry.compress_type = compression
            target.writestr(entry, content)
    return buffer.getvalue()
