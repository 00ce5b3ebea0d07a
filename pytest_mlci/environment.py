"""Environment variables set for a block of code and restored afterwards.

Why restored: a variable set for one child (DVC's stage subprocesses, the JVM that Spark
starts) must not leak into this process's later children, which other code starts with other
expectations.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for the block; restore (or remove) them afterwards."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
