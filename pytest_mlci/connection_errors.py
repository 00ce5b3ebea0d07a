"""What a user sees when the registry's or the database's server cannot be used.

Two failures are the user's to fix, not our bugs, and deserve one line each instead of a
traceback:

* **a missing driver** — a ``postgresql://`` registry or database without psycopg installed.
  The fix is one install command naming the extra (exit 2, a setup error).
* **a server that does not answer** — refused, timed out, unknown host. The line names the
  address (redacted: it may carry a password) and what to check (exit 3).

MLflow reports both in its own ways (a ``ModuleNotFoundError`` from SQLAlchemy's dialect, an
``OperationalError`` after a minute and a half of retries, an ``MlflowException`` whose
message repeats the URL with its password); :func:`classify` turns them into our errors, and
:class:`GuardedClient` applies it to every call of an ``MlflowClient``.

Standard library only at import time.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from pytest_mlci.errors import ConfigError, MlciError, RegistryError
from pytest_mlci.redact import redact_text, redact_uri

TEAM_EXTRA = "pip install 'pytest-mlci[team]'"
#: Database drivers SQLAlchemy or our PostgreSQL backend import; a missing one is a setup error.
_DRIVERS = ("psycopg", "psycopg2", "psycopg_binary", "psycopg_c", "pg8000", "asyncpg")
# Exception class names that mean "the server did not answer" (requests, urllib3, socket,
# SQLAlchemy and psycopg spell it differently).
_UNREACHABLE = frozenset(
    {
        "ConnectionError",
        "ConnectTimeout",
        "ConnectTimeoutError",
        "NewConnectionError",
        "MaxRetryError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "TimeoutError",
        "timeout",
        "gaierror",
        "ProxyError",
    }
)
_SQL_MODULES = ("sqlalchemy", "psycopg", "psycopg2", "pg8000")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it was raised from or while handling, once each."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def missing_driver(exc: BaseException) -> str | None:
    """The database driver module whose absence caused ``exc``, or None."""
    for link in _chain(exc):
        if isinstance(link, ImportError):
            name = (getattr(link, "name", None) or "").split(".")[0]
            if not name:
                found = re.search(r"No module named '([\w.]+)'", str(link))
                name = found.group(1).split(".")[0] if found else ""
            if name in _DRIVERS:
                return name
    return None


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the server could not be reached (not that it refused a request)."""
    for link in _chain(exc):
        names = {kind.__name__ for kind in type(link).__mro__}
        if names & _UNREACHABLE:
            return True
        module = type(link).__module__.split(".")[0]
        if "OperationalError" in names and module in _SQL_MODULES:
            return True
    return False


def reason(exc: BaseException) -> str:
    """A short, redacted reason from the innermost exception: ``Connection refused``."""
    innermost = list(_chain(exc))[-1]
    text = str(innermost).strip().splitlines()[0] if str(innermost).strip() else ""
    text = re.sub(r"\[Errno -?\d+\]\s*", "", text)
    # urllib3 and psycopg put the cause last: "...: Failed to establish ...: Connection refused"
    text = text.rstrip("'\")").rsplit(": ", 1)[-1].strip(" '\"(") if text else ""
    return redact_text(text) or type(innermost).__name__


def driver_error(what: str, uri: str, module: str) -> ConfigError:
    """A ``postgresql://`` address without its driver: the one command that fixes it."""
    return ConfigError(
        f"{what} {redact_uri(uri)} needs the PostgreSQL driver, and {module} is not "
        f"installed; install it with: {TEAM_EXTRA}"
    )


def unreachable_error(what: str, uri: str, exc: BaseException, *, setting: str) -> RegistryError:
    """One line: which server, why, and what to check."""
    return RegistryError(
        f"{what} {redact_uri(uri)}: cannot connect ({reason(exc)}); check that the server is "
        f"running and reachable from this machine, and that {setting} is right"
    )


REGISTRY_SETTING = "`registry` / $MLCI_REGISTRY"


def classify(exc: BaseException, uri: str) -> MlciError | None:
    """Our error for a registry failure a user must fix (driver, server down), else None."""
    if isinstance(exc, MlciError):
        return None
    module = missing_driver(exc)
    if module is not None:
        return driver_error("registry", uri, module)
    if is_unreachable(exc):
        return unreachable_error("registry", uri, exc, setting=REGISTRY_SETTING)
    return None


def is_sql_uri(uri: str) -> bool:
    """A database URL MLflow opens with SQLAlchemy itself (not sqlite, not a tracking server)."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    return scheme in {"postgresql", "postgres", "mysql", "mssql"}


_probed: set[str] = set()


def probe(uri: str, *, timeout_s: int = 10) -> None:
    """Connect once to a SQL registry database, so a server that is down fails in seconds.

    MLflow retries creating its engine ten times with exponential backoff (about 100 s) and
    then raises a bare SQLAlchemy error; one connection attempt first says the same in a line.
    """
    if uri in _probed or not is_sql_uri(uri):
        return
    try:
        import sqlalchemy

        connect_args = {"connect_timeout": timeout_s} if uri.startswith("postgres") else {}
        engine = sqlalchemy.create_engine(uri, connect_args=connect_args, poolclass=_null_pool())
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except Exception as exc:
        error = classify(exc, uri)
        if error is not None:
            raise error from None
        raise RegistryError(
            f"registry {redact_uri(uri)}: cannot open the database: {reason(exc)}"
        ) from None
    _probed.add(uri)


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


class GuardedClient:
    """An ``MlflowClient`` whose calls raise our errors for a missing driver or a server down.

    Every other exception (an MLflow "not found" the caller checks for, say) passes through
    unchanged, so callers keep their own handling.
    """

    def __init__(self, client: Any, uri: str) -> None:
        self._client = client
        self._uri = uri

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except Exception as exc:
                error = classify(exc, self._uri)
                if error is None:
                    raise
                raise error from None

        return guarded

    def __repr__(self) -> str:
        return f"GuardedClient({redact_uri(self._uri)!r})"
