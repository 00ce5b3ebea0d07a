"""What every ``mlci`` command shares: the workspace object and the exit-code mapping.

Exit codes: 0 ok or nothing to do, 1 a check, gate or judge said no, 2 usage or
configuration error, 3 unexpected error. The mapping lives here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlci_local.ledger import LedgerError
from pytest_mlci.errors import (
    CheckFailed,
    ConfigError,
    DataError,
    EngineError,
    MlciError,
    RegistryError,
)

EXIT_OK, EXIT_NO, EXIT_USAGE, EXIT_UNEXPECTED = 0, 1, 2, 3
_EXIT_CODES: tuple[tuple[type[MlciError], int], ...] = (
    (ConfigError, EXIT_USAGE),
    (CheckFailed, EXIT_NO),
    (DataError, EXIT_NO),
    (RegistryError, EXIT_UNEXPECTED),
    (EngineError, EXIT_UNEXPECTED),
    (LedgerError, EXIT_UNEXPECTED),
)


def exit_code_for(exc: BaseException) -> int:
    """The exit code of an error (the single place the mapping is defined)."""
    for kind, code in _EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return EXIT_NO if isinstance(exc, MlciError) else EXIT_UNEXPECTED


class Workspace:
    """What every command shares: the configuration, loaded on first use."""

    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        self._config: Any = None

    @property
    def config(self) -> Any:
        if self._config is None:
            from pytest_mlci.config import load_config

            self._config = load_config(self.config_path)
        return self._config


pass_workspace = click.make_pass_decorator(Workspace)
