"""``mlci approve``: record a human approval of one registered version."""

from __future__ import annotations

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("approve")
@click.argument("model")
@click.argument("version")
@click.option("--role", default="reviewer", show_default=True, help="The approver's role.")
@click.option("--comment", default="", help="Why; signed with the approval and kept.")
@click.option(
    "--key",
    default=None,
    metavar="PATH",
    help="SSH private key to sign with (default: git's user.signingkey when gpg.format=ssh); "
    'with approvals.identity = "gpg", a GPG key id.',
)
@pass_workspace
def command(
    workspace: Workspace, model: str, version: str, role: str, comment: str, key: str | None
) -> None:
    """Approve MODEL VERSION for production, signed with your SSH key.

    The approval is an `ssh-keygen -Y sign` signature over the model, version, artifact
    sha256, role and time; promotion counts it only if it verifies against the allowed
    signers file committed in the version's commit. With [tool.mlci.approvals]
    identity = "unverified" (and no --key) the approver is $MLCI_ACTOR or git user.email,
    unauthenticated, and recorded as such.
    """
    from mlci_local import sshsig
    from mlci_local.approvals import (
        UNVERIFIED_NOTE,
        counted_or_refused,
        how_to_sign_hint,
        scheme_of,
        sign_approval,
        signing_key,
        tally,
    )
    from mlci_local.ledger import current_actor
    from mlci_local.promotion import ledger_for
    from mlci_local.registry import Registry
    from mlci_local.tiers import policy_for
    from pytest_mlci.errors import ConfigError, PromotionRefused

    workspace.choose_by_argument(model)
    config = workspace.config
    if model != config.model:
        raise ConfigError(f"this project's model is '{config.model}', not '{model}'")
    target = Registry(config).by_version(version.lstrip("v"))
    ledger = ledger_for(config)
    policy = policy_for(config)
    signed = key is not None or config.approvals.identity != "unverified"
    if signed:
        try:
            if scheme_of(config) == "ssh":
                key = str(signing_key(config.root, key))
        except ConfigError as exc:
            raise ConfigError(
                f"tier {config.tier} counts only signed approvals ([tool.mlci.approvals] "
                f'identity = "{config.approvals.identity}"): '
                + str(exc).replace("MODEL VERSION", f"{model} {target.version}")
            ) from None
        data = sign_approval(config, target, role, comment, key)
        try:
            approver = counted_or_refused(config, target, data)
        except sshsig.SignatureInvalid as exc:
            raise PromotionRefused(
                f"not recorded: your approval of {model} v{target.version} would not count: "
                f"{exc} (checked against {config.approvals.allowed_signers} in the version's "
                "commit)"
            ) from None
        data["approver"] = approver
        commit = target.tags.get("mlci.git.commit", "")[:12]
        how = (
            f"SSH signature verified against {config.approvals.allowed_signers} at commit {commit}"
        )
    else:
        approver = current_actor(config.root)
        if policy.independent and approver not in config.approvals.approvers:
            raise PromotionRefused(
                f"{approver} is not in [tool.mlci.approvals] approvers; tier {config.tier} "
                f"counts only listed approvers. Approvals can be signed instead: "
                f"{how_to_sign_hint(model, target.version)}"
            )
        registered = ledger.find("register", model=model, digest=target.digest)
        author = registered[-1].data.get("author") if registered else None
        if policy.independent and approver == author:
            raise PromotionRefused(f"{approver} wrote the commit of v{target.version}; "
                                   "an author cannot approve their own release")  # fmt: skip
        data = {"model": model, "version": target.version, "digest": target.digest,
                "approver": approver, "role": role, "comment": comment,
                "identity": "unverified"}  # fmt: skip
        how = UNVERIFIED_NOTE
    ledger.append("approve", data)
    click.echo(f"approved {model} v{target.version} as {approver} ({role}): {how}")
    if policy.approvals == 0:
        click.echo(
            f"tier {config.tier} needs no approvals to promote; the approval is recorded "
            "(it lets a canary the judge held go on to its next step)"
        )
        return
    have = tally(config, ledger, target).counted
    unverified = config.approvals.identity == "unverified"
    kind = "unverified approvals" if unverified else "signed approvals"
    click.echo(f"{len(have)}/{policy.approvals} {kind} for tier {config.tier}")
