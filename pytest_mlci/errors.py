"""The exceptions pytest-mlci raises for problems a user can fix.

Everything a user can fix is an :class:`MlciError`; the CLI maps each subclass to an exit
code in one place (``mlci_local.cli``) and prints the message without a traceback, and the
pytest items report it as plain text. Any other exception is our bug and keeps its traceback.
"""

from __future__ import annotations


class MlciError(Exception):
    """Base of every error whose message is meant for the user, not a traceback."""


class ConfigError(MlciError):
    """The configuration or the command line is wrong (exit code 2)."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        where = ": ".join(part for part in (file, f"key '{key}'" if key else None) if part)
        super().__init__(f"{where}: {message}" if where else message)


class CheckFailed(MlciError):
    """A check, gate or judge said no (exit code 1)."""


class DataError(MlciError):
    """A data file cannot be read or does not fit what the configuration says (exit code 1)."""


class RegistryError(MlciError):
    """The model registry refused, is unreachable, or holds something inconsistent (exit 3)."""


class EngineError(MlciError):
    """The compute engine failed, not a check: a Spark executor or Python worker died, the
    cluster went away, a job ran out of memory (exit code 3, like an unreachable registry)."""


class PromotionRefused(CheckFailed):
    """Promotion is not allowed: no passing record, missing approvals, or production moved."""
