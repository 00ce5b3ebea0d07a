"""An exclusive lock shared between processes, for work that must happen once.

pytest-xdist starts several workers that each collect the same gates; the first worker to
need the evaluation computes it under this lock while the others wait, then read what it
wrote. fcntl locks are released by the kernel when their process dies, so a crashed worker
never leaves a stale lock behind. Where fcntl does not exist (Windows) the lock is a no-op:
the work is then merely repeated, never wrong, because every writer replaces files atomically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_mlci.errors import MlciError


@contextmanager
def exclusive_lock(
    path: Path,
    *,
    timeout: float | None = None,
    what: str = "lock",
    error: type[MlciError] = MlciError,
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    ``timeout`` bounds the wait in seconds (``None``: wait as long as the holder works, which
    is right when the holder is computing what the waiter needs); past it, ``error`` (an
    :class:`~pytest_mlci.errors.MlciError` subclass) is raised naming ``what`` and the file.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise error(
                            f"{path}: another process has held the {what} for over "
                            f"{timeout:.0f} s; retry when it has finished"
                        ) from None
                    time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
