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
    """What every command shares: the configuration, loaded on first use, and which model of
    a many-model repository the command is about (``--model``)."""

    def __init__(self, config_path: Path | None, model: str | None = None) -> None:
        self.config_path = config_path
        self.model = model
        self._project: Any = None
        self._config: Any = None

    @property
    def project(self) -> Any:
        """Every model the configuration declares (:class:`pytest_mlci.project.Project`)."""
        if self._project is None:
            from pytest_mlci.project import load_project

            self._project = load_project(self.config_path)
        return self._project

    @property
    def config(self) -> Any:
        """The one model this command is about; in a many-model repository without
        ``--model`` a :class:`ConfigError` lists the models to choose from."""
        if self._config is None:
            self._config = self.project.select(self.model)
        return self._config

    def choose(self, model: str | None) -> None:
        """Fix the model for this command (the processes it starts are told through
        :func:`pytest_mlci.config.child_env`)."""
        if model is not None:
            self.model, self._config = model, None

    def choose_by_argument(self, model: str) -> None:
        """A command that names its model (``mlci approve MODEL VERSION``) picks it from a
        many-model repository by that name when --model did not."""
        if self.model is None and self.project.multi:
            self.choose(model)

    @property
    def any_config(self) -> Any:
        """The chosen model, else the first: for what one repository shares (the audit key,
        the registry, the ledger)."""
        if self.model is None and self.project.multi:
            return next(iter(self.project.models.values()))
        return self.config


pass_workspace = click.make_pass_decorator(Workspace)


def _choose_model(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Workspace).choose(value)


def model_parameter() -> click.Option:
    """``--model NAME`` on a subcommand: which model of a many-model repository it is about
    (the same as ``mlci --model NAME <command>``)."""
    return click.Option(
        ["--model", "model"],
        metavar="NAME",
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_choose_model,
        help="Which model of a many-model repository ([tool.mlci.models.NAME]).",
    )


def model_option(function: Any) -> Any:
    """:func:`model_parameter` as a decorator, for a command that needs it before the rest."""
    return click.option(
        "--model",
        "model",
        metavar="NAME",
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_choose_model,
        help="Which model of a many-model repository ([tool.mlci.models.NAME]).",
    )(function)
