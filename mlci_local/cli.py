"""The ``mlci`` command: a click group, its context object, and error → exit code mapping.

Exit codes: 0 ok or nothing to do, 1 a check, gate or judge said no, 2 usage or
configuration error, 3 unexpected error. The mapping lives here and nowhere else.

``mlci --help`` must start fast: this module and the command modules import only click and
our light modules at import time; mlflow, dvc, pandas and sklearn load inside the commands.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from mlci_local.workspace import (
    EXIT_OK,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
    Workspace,
    exit_code_for,
    model_parameter,
)
from pytest_mlci.errors import ConfigError, MlciError, RegistryError
from pytest_mlci.redact import redact_text


class MlciGroup(click.Group):
    """A group that turns our errors into clean messages and the documented exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except MlciError as exc:
            # Redacted here as well as where the message was made: the last line of defence
            # for an address with a password in it (pytest_mlci.redact).
            click.secho(f"error: {redact_text(str(exc))}", fg="red", err=True)
            ctx.exit(exit_code_for(exc))
        except Exception as exc:
            known = _setup_failure(exc)
            if known is not None:
                click.secho(f"error: {known}", fg="red", err=True)
                ctx.exit(exit_code_for(known))
            click.echo(redact_text(traceback.format_exc()), err=True)
            click.secho(
                "error: unexpected failure in mlci (a bug; please report it)", fg="red", err=True
            )
            ctx.exit(EXIT_UNEXPECTED)


def _setup_failure(exc: BaseException) -> MlciError | None:
    """A missing database driver or a server that does not answer, met where no adapter
    translated it: still the user's to fix, so one line instead of "a bug"."""
    from pytest_mlci.connection_errors import TEAM_EXTRA, is_unreachable, missing_driver, reason

    module = missing_driver(exc)
    if module is not None:
        return ConfigError(
            f"the PostgreSQL driver ({module}) is not installed; install it with: {TEAM_EXTRA}"
        )
    if is_unreachable(exc):
        return RegistryError(
            f"cannot connect to a server mlci uses ({reason(exc)}); check that the registry, "
            "the database and any audit anchor are running and reachable from this machine"
        )
    return None


@click.group(cls=MlciGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="mlci.toml or pyproject.toml to use (default: the nearest one upwards).",
)
@click.option(
    "--model",
    "model",
    metavar="NAME",
    default=None,
    help="Which model of a many-model repository ([tool.mlci.models.NAME]); "
    "the same as the subcommand's --model.",
)
@click.version_option(package_name="pytest-mlci", prog_name="mlci")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, model: str | None) -> None:
    """pytest-mlci's runner: one reproducible path from commit to production.

    Stages: code validation, data validation, training (dvc repro), evaluation gates
    (pytest --mlci), registration (MLflow), staging, promotion.
    """
    ctx.obj = Workspace(config_path)
    ctx.obj.choose(model)


def _register_commands() -> None:
    from mlci_local.commands import (
        approve,
        audit,
        canary,
        check,
        dashboard,
        drift,
        evidence,
        gates,
        init,
        metrics,
        monitor,
        promote,
        rollback,
        run,
        serve,
        stage,
        status,
        validate_data,
    )

    for module in (
        run, check, validate_data, drift, status, promote, rollback, approve, stage, canary,
        serve, audit, evidence, metrics, dashboard, monitor, init, gates,
    ):  # fmt: skip
        command = module.command
        takes_model = any(param.name == "model" for param in command.params)
        if module not in (check, init, audit) and not takes_model:
            # every command about one model takes --model, as `mlci --model NAME` does
            command.params.append(model_parameter())
        cli.add_command(command)


_register_commands()


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None, prog_name="mlci", standalone_mode=False
        )
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if exc.exit_code == 2 else exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return result if isinstance(result, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
