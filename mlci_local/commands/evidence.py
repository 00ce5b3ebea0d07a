"""``mlci evidence``: write an evidence package for a model version, or check one."""

from __future__ import annotations

from pathlib import Path

import click

from mlci_local.workspace import Workspace, pass_workspace

USAGE = "usage: mlci evidence MODEL VERSION [--out FILE]  |  mlci evidence verify FILE"


@click.command("evidence")
@click.argument("args", nargs=-1, metavar="MODEL VERSION | verify FILE")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the zip (default: MODEL-vVERSION-evidence.zip here).",
)
@pass_workspace
def command(workspace: Workspace, args: tuple[str, ...], out: Path | None) -> None:
    """Write the evidence package of MODEL VERSION, or check one with `verify FILE`.

    The package is a zip with manifest.json (the sha256 of every other file), the model card,
    lineage, the dvc.lock excerpt, the evaluation report (JSON and HTML), fairness results,
    approvals, deployment history, the model's slice of the audit ledger and the ledger's
    verification. With [tool.mlci.audit] signing, the manifest is signed and the package
    carries the ledger chain up to a signed checkpoint. `mlci evidence verify FILE` exits 0
    when every file matches the manifest (and the signature and chain check out) and 1
    naming each file that is missing, extra or modified.
    """
    from pytest_mlci.errors import CheckFailed, ConfigError

    if len(args) == 2 and args[0] == "verify":
        if out is not None:
            raise ConfigError(f"--out is for writing a package, not for verify; {USAGE}")
        from mlci_local.audit.signing import signer_for
        from mlci_local.evidence import verify_package
        from pytest_mlci.config import find_config_file

        # The project's audit key checks a signed package; outside any project there is none.
        in_project = workspace.config_path is not None or find_config_file() is not None
        # one audit key per repository: any model's configuration names it
        signer = signer_for(workspace.any_config) if in_project else None
        check = verify_package(Path(args[1]), signer)
        if not check.ok:
            raise CheckFailed(check.summary())
        click.echo(check.summary())
        return
    if len(args) != 2:
        given = " ".join(args) or "nothing"
        raise ConfigError(f"expected MODEL VERSION or `verify FILE`, got {given}; {USAGE}")

    from mlci_local.evidence import build_evidence, write_evidence

    model, version = args[0], args[1].lstrip("v")
    workspace.choose_by_argument(model)
    package = build_evidence(workspace.config, model, version)
    target = out or Path(f"{model}-v{package.version}-evidence.zip")
    digest = write_evidence(package, target)
    click.echo(
        f"wrote {target}: {model} v{package.version}, {len(package.members) - 1} files "
        f"+ manifest.json (zip sha256 {digest})"
    )
    for name, why in package.absent.items():
        click.secho(f"  not included: {name}: {why}", fg="yellow")
    if not package.ledger_ok:
        click.secho(
            "  warning: the audit ledger did not verify; the package records why "
            "(ledger_verification.json)",
            fg="red",
        )
