"""Load a model artifact safely and compute the digests that identify it.

skops is the default format because it loads without executing arbitrary code: only types
known to be safe are rebuilt, and any other type must be trusted explicitly by name (config
``trusted_types``). Pickle and joblib files can execute code on load; they are refused unless
the project opts in with ``allow_pickle = true``, which is a statement that the artifact comes
only from this project's own pipeline and its sha256 is verified before loading.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_mlci.errors import DataError

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so large artifacts need no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def load_model(path: Path, *, trusted_types: Sequence[str] = (), allow_pickle: bool = False) -> Any:
    """Load ``path`` (``.skops``; ``.pkl``/``.joblib`` only with ``allow_pickle``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: model artifact not found; run `dvc repro` (or fix 'artifact' in config)"
        )
    return load_model_bytes(
        path.read_bytes(),
        path.name,
        trusted_types=trusted_types,
        allow_pickle=allow_pickle,
        label=str(path),
    )


def load_model_bytes(
    data: bytes,
    name: str,
    *,
    trusted_types: Sequence[str] = (),
    allow_pickle: bool = False,
    label: str | None = None,
) -> Any:
    """Load a model from bytes already checked against their sha256, under the same policy as
    :func:`load_model`; ``name``'s suffix picks the format.

    Loading the very bytes that were hashed leaves no moment in which the file on disk could
    change between the check and the load.
    """
    where = label or name
    suffix = Path(name).suffix.lower()
    if suffix == ".skops":
        import skops.io as sio

        try:
            untrusted = sio.get_untrusted_types(data=data)
        except Exception as exc:  # a corrupt zip or a non-skops file
            raise DataError(f"{where}: not a readable skops file ({exc})") from None
        unknown = sorted(set(untrusted) - set(trusted_types))
        if unknown:
            raise DataError(
                f"{where}: the model contains types skops does not trust by default: "
                f"{', '.join(unknown)}; if they are yours, list them in [tool.mlci] "
                "trusted_types"
            )
        return sio.loads(data, trusted=list(untrusted))
    if suffix in (".pkl", ".pickle", ".joblib"):
        if not allow_pickle:
            raise DataError(
                f"{where}: pickle files run code when loaded; save the model with skops "
                "(skops.io.dump) or set allow_pickle = true in [tool.mlci]"
            )
        import io

        import joblib

        return joblib.load(io.BytesIO(data))
    raise DataError(f"{where}: unknown model format '{suffix}'; use a .skops file")
