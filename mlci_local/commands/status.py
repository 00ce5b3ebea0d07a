"""``mlci status``: aliases, versions, and unfinished promotions."""

from __future__ import annotations

import json
from dataclasses import replace

import click

from mlci_local.workspace import Workspace, model_option, pass_workspace
from pytest_mlci.errors import MlciError


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@model_option
@pass_workspace
def command(workspace: Workspace, as_json: bool) -> None:
    """Show which version each alias points at, any unfinished alias move, and where traffic
    goes: a canary in flight (its weight and step, held or stopped) or a shadow with its
    comparison so far. In a many-model repository without --model: every model in turn."""
    if workspace.model is None and workspace.project.multi:
        configs = list(workspace.project.models.values())
    else:
        configs = [workspace.config]
    payloads = []
    for index, config in enumerate(configs):
        if index and not as_json:
            click.echo("")
        payloads.append(_status(config, as_json))
    if as_json:
        click.echo(json.dumps(payloads if len(configs) > 1 else payloads[0], indent=2))


def _status(config, as_json: bool) -> dict | None:
    """One model's status: printed as text, or returned for --json."""
    from mlci_local.promotion import alias_drift, ledger_for, unfinished
    from mlci_local.registry import Registry
    from pytest_mlci.redact import redact_uri

    registry = Registry(config)
    aliases = registry.aliases()
    versions = registry.versions()
    ledger = ledger_for(config)
    pending = unfinished(ledger, config.model)
    drift = alias_drift(registry, ledger, config.model)
    rollout = _rollout(config, registry, ledger)
    if as_json:
        payload = {
            "model": config.model,
            "registry": redact_uri(config.registry_uri),
            "aliases": {a: {"version": v.version, "digest": v.digest} for a, v in aliases.items()},
            "versions": [v.version for v in versions],
            "unfinished": [{"seq": r.seq, "action": r.action, **r.data} for r in pending],
            "alias_drift": drift,
            "rollout": rollout,
        }
        return payload
    click.echo(f"model {config.model} @ {redact_uri(config.registry_uri)}")
    click.echo(
        f"versions: {len(versions)}" + (f" (latest v{versions[-1].version})" if versions else "")
    )
    names = registry.alias_names()
    width = max(11, *(len(alias) + 1 for alias in names))
    for alias in names:
        version = aliases.get(alias)
        if version is None:
            click.echo(f"  {alias:<{width}} -")
        else:
            commit = version.tags.get("mlci.git.commit", "?")[:8]
            click.echo(
                f"  {alias:<{width}} v{version.version}  sha256 {(version.digest or '?')[:12]}"
                f"  commit {commit}"
            )
    for problem in drift:
        click.secho(f"  ALIAS DRIFT: {problem}", fg="red")
    for record in pending:
        click.secho(
            f"  UNFINISHED {record.action} of v{record.data.get('version')} "
            f"(ledger seq {record.seq}): a crash interrupted it; the next promote or "
            "rollback reconciles it",
            fg="yellow",
        )
    for line in _rollout_lines(config, rollout):
        click.echo(line)
    return None


def _rollout(config, registry, ledger) -> dict:
    """The rollout state file, whether the router obeys it, the ledger's unfinished canary,
    the newest canary record of the state's candidate, and a shadow's summary."""
    from dataclasses import asdict

    from mlci_local.promotion import rollout_problem
    from mlci_local.rollout.controller import approval_counts, in_flight
    from mlci_local.rollout.shadow import shadow_summary

    state, stale = rollout_problem(config, registry, ledger)
    found = in_flight(ledger, config.model)
    if found is not None and found.held and found.approved:
        # Shown as approved only if the controller would let it go on: the tier's rule (a
        # verified signature on tier high), not any approval record in the ledger.
        try:
            counts = approval_counts(config, ledger, registry.by_version(found.version))
            found = in_flight(ledger, config.model, counts)
        except MlciError:
            found = replace(found, approved=False)
    summary = None if stale else shadow_summary(config, state)
    last = None
    if state.candidate_version and ledger.exists():
        # By version, not only "in flight": a canary that ended (passed, failed, aborted)
        # still has its records, and status must name them.
        records = ledger.find(("canary.step", "canary"), model=config.model,
                              version=state.candidate_version)  # fmt: skip
        if records:
            last = {"seq": records[-1].seq, "action": records[-1].action, **records[-1].data}
    return {
        **asdict(state),
        "steps": list(config.canary.steps_for(config.tier)),
        "in_flight": asdict(found) if found else None,
        "stale": stale,
        "last_record": last,
        "shadow": asdict(summary) if summary else None,
    }


def _rollout_lines(config, rollout: dict) -> list[str]:
    from mlci_local.rollout.shadow import ShadowSummary

    if rollout["stale"]:
        return [
            "rollout: none in force (production serves all traffic); the router refuses the "
            f"rollout state file: {rollout['stale']}",
            "  the next `mlci promote`, `mlci rollback` or `mlci run` resets the file",
        ]
    if rollout["shadow"]:
        first, *rest = ShadowSummary(**rollout["shadow"]).lines()
        return [f"rollout: {first}", *(f"  {line.strip()}" for line in rest)]
    found = rollout["in_flight"]
    if rollout["mode"] == "none" and not found:
        return ["rollout: none (production serves all traffic)"]
    version = found["version"] if found else rollout["candidate_version"]
    weight = rollout["weight"]
    steps = rollout["steps"]
    last = rollout["last_record"]
    if found:
        where = f"step {found['step'] + 1} of {len(steps)}"
    elif last and last["action"] == "canary":
        where = f"canary {last.get('verdict')}, ledger seq {last['seq']}"
    elif last:
        where = f"step {int(last.get('step', 0)) + 1} of {len(steps)}, ledger seq {last['seq']}"
    else:
        where = "no ledger record"
    lines = [f"rollout: canary of v{version} at {weight:.0%} of traffic ({where})"]
    if found and found["held"]:
        lines.append(
            f"  HELD by the judge: `mlci approve {config.model} {version}` then `mlci canary "
            f"--version {version}` (or `mlci run`) goes on from the next step; "
            "`mlci canary --abort` rolls back"
        )
    elif found:
        lines.append(
            f"  UNFINISHED: the controller stopped here; `mlci canary --version {version}` "
            "(or `mlci run`) resumes at this step, `mlci canary --abort` rolls back"
        )
    elif last and last.get("verdict") == "pass":
        lines.append(
            f"  PASSED, not promoted yet: `mlci promote {version}` (or `mlci run`) moves "
            "production and traffic together; `mlci canary --abort` rolls back"
        )
    return lines
