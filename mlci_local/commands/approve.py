"""``mlci approve``: record a human approval of one registered version."""

from __future__ import annotations

import click

from mlci_local.workspace import Workspace, pass_workspace


@click.command("approve")
@click.argument("model")
@click.argument("version")
@click.option("--role", default="reviewer", show_default=True, help="The approver's role.")
@click.option("--comment", default="", help="Why; kept in the audit trail.")
@pass_workspace
def command(workspace: Workspace, model: str, version: str, role: str, comment: str) -> None:
    """Approve MODEL VERSION for production (who: $MLCI_ACTOR or git user.email)."""
    from mlci_local.ledger import current_actor
    from mlci_local.promotion import approvals_for, ledger_for
    from mlci_local.registry import Registry
    from mlci_local.tiers import policy_for
    from pytest_mlci.errors import ConfigError, PromotionRefused

    config = workspace.config
    if model != config.model:
        raise ConfigError(f"this project's model is '{config.model}', not '{model}'")
    target = Registry(config).by_version(version.lstrip("v"))
    ledger = ledger_for(config)
    approver = current_actor(config.root)
    policy = policy_for(config)
    if policy.independent and approver not in config.approvals.approvers:
        raise PromotionRefused(
            f"{approver} is not in [tool.mlci.approvals] approvers; tier {config.tier} counts "
            "only listed approvers (set MLCI_ACTOR or git user.email to your listed identity)"
        )
    registered = ledger.find("register", model=model, digest=target.digest)
    author = registered[-1].data.get("author") if registered else None
    if policy.independent and approver == author:
        raise PromotionRefused(f"{approver} wrote the commit of v{target.version}; "
                               "an author cannot approve their own release")  # fmt: skip
    ledger.append(
        "approve",
        {
            "model": model,
            "version": target.version,
            "digest": target.digest,
            "approver": approver,
            "role": role,
            "comment": comment,
        },
    )
    have = approvals_for(ledger, config, target.digest or "")
    click.echo(
        f"approved {model} v{target.version} as {approver} ({role}); "
        f"{len(have)}/{policy.approvals} approvals for tier {config.tier}"
    )
