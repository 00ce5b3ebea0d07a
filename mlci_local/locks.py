"""An exclusive, cross-process lock per model for promotion and registration.

The embedded default locks a file (``pytest_mlci.filelock``: fcntl, released by the kernel
when a process dies, so a crashed runner never leaves a stale lock). At team scale (a
``database`` configured) the lock is a PostgreSQL advisory lock (``mlci_local.postgres``),
shared by every CI runner. Either way the wait is bounded: a lock that cannot be taken in
time is a clear error, not a hang in CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import RegistryError
from pytest_mlci.filelock import exclusive_lock


@contextmanager
def model_lock(config: MlciConfig, purpose: str, *, timeout: float = 60.0) -> Iterator[None]:
    """The per-model lock for ``purpose`` (``promotion``, ``register``) of this project.

    Embedded: a file under ``.mlci/locks/``, enough for processes on one machine. With a
    ``database`` configured, runners on many machines share one registry, so the lock is a
    PostgreSQL advisory lock they all see.
    """
    if config.database:
        from mlci_local.postgres import advisory_lock

        with advisory_lock(config.database, f"mlci:{config.model}:{purpose}", timeout=timeout):
            yield
    else:
        path = config.state_dir / "locks" / f"{config.model}.{purpose}.lock"
        with exclusive_lock(path, timeout=timeout, what=f"{purpose} lock", error=RegistryError):
            yield
