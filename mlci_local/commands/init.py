"""``mlci init``: scaffold config, pipeline stub, example tests, hooks and CI for a project.

Why a command and not a cookiecutter: the templates must stay in step with the config
schema and hook ids of the installed pytest-mlci, so they ship and are tested with it.
It does not load any configuration (there is none yet), so it runs before anything else.
"""

from __future__ import annotations

from pathlib import Path

import click

from mlci_local.scaffold import CI_FILES, TASKS, ExistingFiles, ScaffoldOptions, render, write
from mlci_local.workspace import EXIT_USAGE


def _ci_systems(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    """``github,gitlab`` -> ("github", "gitlab"); ``none`` -> (); unknown names are an error."""
    names = tuple(dict.fromkeys(n.strip().lower() for n in value.split(",") if n.strip()))
    if names == ("none",):
        return ()
    unknown = [n for n in names if n not in CI_FILES]
    if unknown:
        raise click.BadParameter(
            f"unknown CI system {unknown[0]!r}; choose from {', '.join(CI_FILES)} or 'none'"
        )
    return names


@click.command("init")
@click.argument(
    "directory",
    required=False,
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option("--model", default=None, help="Registered model name (default: the directory name).")
@click.option(
    "--task",
    type=click.Choice(TASKS),
    default="binary_classification",
    show_default=True,
    help="What the model predicts; picks the example gates.",
)
@click.option("--target", default="label", show_default=True, help="The label column.")
@click.option(
    "--ci",
    default=",".join(CI_FILES),
    show_default=True,
    callback=_ci_systems,
    help="Comma-separated CI systems to write workflows for, or 'none'.",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.pass_context
def command(
    ctx: click.Context,
    directory: Path,
    model: str | None,
    task: str,
    target: str,
    ci: tuple[str, ...],
    force: bool,
) -> None:
    """Write mlci.toml, dvc.yaml, example gate tests, pre-commit hooks and CI workflows.

    Existing files are never overwritten without --force: the command then writes
    nothing, lists them and exits 2.
    """
    root = directory.resolve()
    name = model or root.name.replace(" ", "-") or "model"
    if not target.strip():
        raise click.BadParameter("must not be empty", param_hint="--target")
    files = render(ScaffoldOptions(model=name, task=task, target=target, ci=ci))
    try:
        written = write(root, files, force=force)
    except ExistingFiles as exc:
        click.secho(
            "error: these files already exist (nothing was written; use --force to overwrite):",
            fg="red",
            err=True,
        )
        for path in exc.paths:
            click.echo(f"  {path}", err=True)
        ctx.exit(EXIT_USAGE)
    click.echo(f"mlci init: model {name!r} ({task}) in {root}")
    for path in written:
        click.echo(f"  wrote {path.relative_to(root).as_posix()}")
    click.echo(
        "next: edit the commands in dvc.yaml and datasets.eval in mlci.toml, then run "
        "`pre-commit install` and `mlci run`; in CI, set the secret MLCI_REGISTRY to the "
        "team's MLflow URI"
    )
