"""``mlci init``: scaffold config, pipeline stub, example tests, hooks and CI for a project.

Why a command and not a cookiecutter: the templates must stay in step with the config
schema and hook ids of the installed pytest-mlci, so they ship and are tested with it.
It does not load any configuration (there is none yet), so it runs before anything else.
In an existing project it keeps the user's files and reads them (:mod:`mlci_local.adopt`).
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from mlci_local.scaffold import CI_FILES, TASKS


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
    help="Comma-separated CI systems to write workflows for when the project has no CI file, "
    "or 'none'.",
)
@click.option(
    "--gpu-runner",
    "gpu_runner",
    default=None,
    metavar="LABEL",
    help="Run the training and evaluation jobs on the CI runner with this label (a "
    "self-hosted GPU runner); checks and monitoring stay on the default runners.",
)
@click.option(
    "--force", is_flag=True, help="Rewrite the files an earlier `mlci init` wrote (never yours)."
)
@click.option("--owner", "owners", multiple=True, metavar="EMAIL",
              help="Many models: an owner of the model added (repeat for several); owners "
              "approve it where its tier asks for approvals.")  # fmt: skip
def command(
    directory: Path,
    model: str | None,
    task: str,
    target: str,
    ci: tuple[str, ...],
    gpu_runner: str | None,
    force: bool,
    owners: tuple[str, ...],
) -> None:
    """Write the config, example gate tests, pre-commit hooks and CI for a project.

    In a repository that already configures several models ([tool.mlci.models]),
    `mlci init --model NAME` adds one more from the shared template instead.

    A new project gets mlci.toml, a dvc.yaml stub and CI workflows. An existing one keeps
    every file it has: the config is appended to pyproject.toml as [tool.mlci] (or written to
    mlci.toml), the artifact and evaluation data are read from dvc.yaml, an existing CI file
    gets a job printed to paste, and .mlci/ is git-ignored. With an MLproject file and no
    dvc.yaml, the training stage and params.yaml are written from its main entry point.
    --force rewrites the files an earlier `mlci init` wrote; the project's own are never
    touched.
    """
    from mlci_local.adopt import initialise
    from mlci_local.scaffold import written_by_init

    root = directory.resolve()
    if model is not None and _many_models(root):
        from mlci_local.add_model import add_model

        added = add_model(root, model, task=task, target=target, owners=owners)
        click.echo(f"mlci init: model {model!r} ({task}) added to {added.config}")
        for line in added.appended:
            click.echo(f"  appended {line}")
        for path in added.written:
            click.echo(f"  wrote {path}")
        click.echo(f"next: edit src/{model}/train.py and the model's eval data, then "
                   f"`mlci run --model {model}`")  # fmt: skip
        return
    name = model or root.name.replace(" ", "-") or "model"
    if not target.strip():
        raise click.BadParameter("must not be empty", param_hint="--target")
    root.mkdir(parents=True, exist_ok=True)
    if gpu_runner is not None and not re.fullmatch(r"[A-Za-z0-9_.:-]+", gpu_runner):
        raise click.BadParameter(
            "a runner label is letters, digits and - _ . : only", param_hint="--gpu-runner"
        )
    result = initialise(root, model=name, task=task, target=target, ci=ci, force=force,
                        gpu_runner=gpu_runner)  # fmt: skip
    click.echo(f"mlci init: model {name!r} ({task}) in {root}")
    for line in result.proposals:
        click.echo(f"  proposed {line}")
    for path in result.written:
        click.echo(f"  wrote {path}")
    for line in result.appended:
        click.echo(f"  appended {line}")
    for path in result.kept:
        ours = written_by_init(root / path)
        click.echo(f"  kept {path} " + ("(exists; --force rewrites it)" if ours else "(yours)"))
    for where, text in result.snippets:
        click.echo(f"\nadd this {where}:\n")
        click.echo(text)
    click.echo("next:")
    for number, step in enumerate(result.next_steps, 1):
        click.echo(f"  {number}. {step}")


def _many_models(root: Path) -> bool:
    """Whether ``root``'s configuration declares [tool.mlci.models] (a many-model repository):
    then ``--model NAME`` adds that model instead of scaffolding a project."""
    from pytest_mlci.config import find_config_file
    from pytest_mlci.project import read_table

    source = find_config_file(root) if root.is_dir() else None
    return source is not None and "models" in read_table(source)[0]
