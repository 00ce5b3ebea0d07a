"""Moving the ``production`` alias: promotion and rollback, both locked and journaled.

The one path to production: ``production`` only ever points at a version whose exact
artifact digest has the passing records its tier demands in the audit ledger (evaluation;
staging and canary by tier) and, for the high tier, approvals by listed approvers who did not
write the commit — unless ``--force`` is given with a reason, which is itself recorded.

Each move takes the model's promotion lock, writes an intent record before the first registry
write, moves the aliases, reads them back, and completes the record. A crash anywhere in
between leaves an intent without completion; the next promote or rollback (and
``mlci status``) sees it, and :func:`reconcile` finishes or undoes it from what the registry
actually shows, so the aliases and the ledger agree again.

Traffic follows the aliases inside the same step: after the read-back and before the
completion record, the version is stamped with the move (``mlci.production_move``), the deploy
target is told (the local router's rollout state is reset to production alone) and a canary
the move made void is closed in the ledger. A move is not complete until traffic follows it.
:func:`reconcile` also resets a rollout state that the aliases or the ledger have made stale.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci_local.ledger import Ledger, LedgerBase, LedgerRecord
from mlci_local.locks import model_lock
from mlci_local.registry import Registry
from mlci_local.tiers import policy_for
from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import ConfigError, PromotionRefused, RegistryError
from pytest_mlci.registry_read import (
    TAG_PROMOTED_AT,
    RegisteredVersion,
    ever_promoted,
    fetch_verified,
)

TAG_CHECKPOINT = "mlci.ledger_checkpoint"
FAULT_ENV = "MLCI_FAULT_POINT"  # tests: crash the process at a named step boundary
COMPLETIONS = ("promote", "rollback", "promote.abandoned", "rollback.abandoned")


@dataclass(frozen=True)
class AliasMove:
    """What a promotion or rollback did: production now, and what it replaced."""

    model: str
    production: str
    digest: str
    replaced: str | None
    changed: bool
    canary_waived: bool = False  # a high-tier first production model: nothing to compare with
    traffic: str = ""  # what the deploy target said when traffic followed the alias


def ledger_for(config: MlciConfig) -> LedgerBase:
    """The project's audit ledger: a file under ``.mlci/``, or PostgreSQL at team scale.

    With ``[tool.mlci.audit] signing`` on, every append is also checkpointed: signed and
    anchored (``mlci_local.audit.hook``).
    """
    from mlci_local.audit.hook import audited

    if config.database:
        from mlci_local.postgres import PostgresLedger

        return audited(config, PostgresLedger(config.database))
    return audited(config, Ledger(config.state_dir / "ledger.jsonl"))


def _fault(point: str) -> None:
    """Die here, abruptly, when a test asks for it: proves every step boundary recovers.

    With ``MLCI_FAULT_MODE=hang`` the process says where it is on stderr and waits instead,
    for the test to ``kill -9`` it from outside (tests/test_fault_matrix.py).
    """
    if os.environ.get(FAULT_ENV) == point:
        if os.environ.get("MLCI_FAULT_MODE") == "hang":
            import sys
            import time

            print(f"{FAULT_ENV}={point} reached", file=sys.stderr, flush=True)
            time.sleep(600)
        os._exit(97)


def latest_record(ledger: LedgerBase, action: str, model: str, digest: str) -> LedgerRecord | None:
    """The newest ``action`` record for this model and artifact digest."""
    found = ledger.find(action, model=model, digest=digest)
    return found[-1] if found else None


def require_records(ledger: LedgerBase, model: str, digest: str, actions: tuple[str, ...]) -> None:
    """Refuse unless each action's newest record for ``digest`` passed."""
    for action in actions:
        record = latest_record(ledger, action, model, digest)
        if record is None:
            hint = "run `mlci canary`" if action == "canary" else "run `mlci run`"
            raise PromotionRefused(
                f"{model}: no {action} record for artifact {digest[:12]}; {hint} "
                "(or --force with --reason)"
            )
        if not record.data.get("passed"):
            raise PromotionRefused(
                f"{model}: the {action} of artifact {digest[:12]} failed "
                f"(ledger seq {record.seq}); it cannot be promoted"
            )


def require_same_production(
    ledger: LedgerBase,
    model: str,
    version: str,
    digest: str,
    current: RegisteredVersion | None,
) -> None:
    """Refuse when production moved after ``digest`` was evaluated against it.

    The baseline gates compared the candidate with the production model of that moment. When
    several runners race, another candidate may have been promoted since: this one was never
    compared with it, so it must be evaluated again, not slipped in on a stale comparison.
    An evaluation record without a baseline entry (written by hand or by an older mlci) is
    not checked.
    """
    record = latest_record(ledger, "evaluation", model, digest)
    if record is None or "baseline_version" not in record.data:
        return
    evaluated = record.data["baseline_version"]
    now = current.version if current is not None else None
    if evaluated is not None:
        evaluated = str(evaluated)
    if evaluated != now:
        was = f"v{evaluated}" if evaluated else "no production model"
        is_now = f"v{now}" if now else "no production model"
        raise PromotionRefused(
            f"{model}: production changed since v{version} was evaluated (it was compared "
            f"with {was}; production is now {is_now}); run `mlci run` again to evaluate it "
            "against the current production"
        )


def approvals_for(ledger: LedgerBase, config: MlciConfig, target: RegisteredVersion) -> list[str]:
    """Distinct approvers of ``target`` who count under the tier's rules, judged now: signed
    approvals are verified against the promoted commit's allowed signers (see
    :mod:`mlci_local.approvals`), never taken from the ledger on trust."""
    from mlci_local.approvals import tally

    return list(tally(config, ledger, target).counted)


CANARY_WAIVED_FIRST = "waived: the first production model has no production model to compare with"


def is_first_production(
    registry: Registry, ledger: LedgerBase, model: str, current: RegisteredVersion | None
) -> bool:
    """True only for a model that has never been in production.

    A canary compares the candidate with production, so the first model cannot have one;
    for it the tier's approvals are the human check. Three witnesses must agree, so that
    deleting the `production` alias cannot be used to skip a canary: no alias now, no
    "ever promoted" tag on the registered model, no completed move in the ledger.
    """
    return (
        current is None
        and not ever_promoted(registry.client, model)
        and expected_aliases(ledger, model) is None
    )


def require_approvals(ledger: LedgerBase, config: MlciConfig, target: RegisteredVersion) -> None:
    """Refuse unless the tier's number of approvals count for ``target`` right now."""
    from mlci_local.approvals import how_to_sign_hint, tally

    policy = policy_for(config)
    if policy.approvals == 0:
        return
    found = tally(config, ledger, target)
    have = found.counted
    if len(have) < policy.approvals:
        model, version = config.model, target.version
        signed = found.identity != "unverified"
        kind = "signed approvals" if signed else "approvals (identity unverified)"
        approvers = config.approvals.approvers
        listed = f" from {', '.join(approvers)}" if approvers else ""
        checked = f", verified against {found.source}" if signed else ""
        lines = [
            f"{model} v{version}: tier {config.tier} needs {policy.approvals} {kind}{listed} "
            f"(not the commit's author){checked}; has {len(have)}"
            f"{': ' + ', '.join(have) if have else ''}."
        ]
        lines += [f"not counted: {rejected.line()}" for rejected in found.rejected]
        if signed:
            lines.append("To approve, " + how_to_sign_hint(model, version, found.identity))
        else:
            lines.append(f"Run `mlci approve {model} {version}` as a listed approver")
        raise PromotionRefused("\n".join(lines))


def require_chain(config: MlciConfig, registry: Registry, ledger: LedgerBase, version: str) -> None:
    """With a declared promotion chain, production is entered from the environment before
    it, after what production's own table requires (mlci_local.environments)."""
    from mlci_local.environments import entry_problems, is_custom

    if not is_custom(config):
        return
    problems = entry_problems(config, registry, ledger, "production", version)
    if problems:
        raise PromotionRefused(
            f"{config.model} v{version} may not enter production:\n" + "\n".join(problems)
        )


def promote(
    config: MlciConfig,
    registry: Registry,
    ledger: LedgerBase,
    version: str,
    *,
    force: bool = False,
    reason: str | None = None,
    manager: Any = None,
) -> AliasMove:
    """Point ``production`` at ``version`` and ``previous`` at the version it replaces, and all
    traffic at it (``manager``: the deploy targets' plugin manager, default the installed)."""
    if force and not reason:
        raise ConfigError("--force needs --reason: an override must say why (it is audited)")
    with model_lock(config, "promotion"):
        reconcile(config, registry, ledger, manager=manager)
        target = registry.by_version(version)
        digest = target.digest
        if not digest:
            raise PromotionRefused(f"{config.model} v{version} has no artifact digest tag")
        current = registry.by_alias("production")
        required = policy_for(config).required_records
        canary_note = None
        if "canary" in required and is_first_production(registry, ledger, config.model, current):
            required = tuple(record for record in required if record != "canary")
            canary_note = CANARY_WAIVED_FIRST
        if not force:
            require_records(ledger, config.model, digest, required)
            require_approvals(ledger, config, target)
            require_chain(config, registry, ledger, target.version)
        if current is not None and current.version == target.version:
            return AliasMove(config.model, target.version, digest, None, changed=False)
        if not force:
            require_same_production(ledger, config.model, target.version, digest, current)
        verify_artifact(config, target)
        previous = registry.by_alias("previous")
        facts = {
            "model": config.model,
            "version": target.version,
            "digest": digest,
            "replaces": current.version if current else None,
            "previous_before": previous.version if previous else None,
            "force": force,
            "reason": reason,
        }
        if canary_note:
            facts["canary"] = canary_note
        intent = ledger.append("promote.intent", facts)
        _fault("promote.after_intent")
        if current is not None:
            registry.set_alias("previous", current.version)
        _fault("promote.after_previous")
        registry.set_alias("production", target.version)
        _fault("promote.after_production")
        traffic = _finish_promote(config, registry, ledger, intent, facts, manager=manager)
        _fault("promote.after_done")
        return AliasMove(config.model, target.version, digest, facts["replaces"], True,
                         canary_waived=canary_note is not None, traffic=traffic)  # fmt: skip


def _finish_promote(
    config: MlciConfig,
    registry: Registry,
    ledger: LedgerBase,
    intent: LedgerRecord,
    facts: dict,
    reconciled: bool = False,
    manager: Any = None,
) -> str:
    registry.mark_promoted()
    _read_back(registry, "production", facts["version"])
    traffic = _follow(config, registry, ledger, intent, facts["version"], manager)
    done = ledger.append("promote", {**facts, "intent": intent.seq, "reconciled": reconciled,
                                     "traffic": traffic})  # fmt: skip
    registry.set_version_tag(facts["version"], TAG_CHECKPOINT, done.checkpoint.to_tag())
    registry.set_version_tag(facts["version"], TAG_PROMOTED_AT, done.time)
    return traffic


def _follow(
    config: MlciConfig,
    registry: Registry,
    ledger: LedgerBase,
    intent: LedgerRecord,
    version: str,
    manager: Any = None,
) -> str:
    """Make traffic follow ``production`` (now ``version``): part of the journaled move.

    Runs after the alias read-back and before the completion record, so a crash anywhere
    here leaves the intent unfinished and :func:`reconcile` runs it again. Every step is
    idempotent: the move's tag, the deploy target's all-to-production, closing a canary.
    """
    from mlci_local.hookspec import plugin_manager
    from mlci_local.rollout.state import TAG_PRODUCTION_MOVE

    kind = intent.action.removesuffix(".intent")
    registry.set_version_tag(version, TAG_PRODUCTION_MOVE, str(intent.seq))
    _fault(f"{kind}.before_traffic")
    hooks = manager or plugin_manager()
    hook = hooks.hook.mlci_promote if kind == "promote" else hooks.hook.mlci_rollback
    message = hook(config=config, version=version) or ""
    _fault(f"{kind}.after_traffic")
    _close_void_canary(config, registry, ledger, version, kind)
    return message


def _close_void_canary(
    config: MlciConfig, registry: Registry, ledger: LedgerBase, version: str, kind: str
) -> None:
    """A canary still in flight was judged against the production this move replaced: it no
    longer applies, so the ledger closes it (status and the next run then agree with the
    router, which no longer sends it traffic)."""
    from mlci_local.rollout.controller import in_flight

    found = in_flight(ledger, config.model)
    if found is None:
        return
    ledger.append("canary", {"model": config.model, "version": found.version,
                             "digest": registry.by_version(found.version).digest,
                             "control": version, "passed": False, "verdict": "aborted",
                             "weight": 0.0, "step": found.step,
                             "summary": f"production moved to v{version} ({kind}); a canary "
                             "judged against the production before no longer applies"})  # fmt: skip


def rollback(
    config: MlciConfig,
    registry: Registry,
    ledger: LedgerBase,
    *,
    reason: str | None = None,
    manager: Any = None,
) -> AliasMove:
    """Point ``production`` back at ``previous``, and all traffic with it; ``previous`` is
    then cleared.

    Clearing it means a second rollback refuses instead of flipping back to the version that
    was just rolled away from.
    """
    with model_lock(config, "promotion"):
        reconcile(config, registry, ledger, manager=manager)
        current = registry.by_alias("production")
        previous = registry.by_alias("previous")
        if previous is None:
            raise PromotionRefused(
                f"{config.model}: nothing to roll back to (no 'previous' alias); promote a "
                "known-good version with `mlci promote VERSION --force --reason ...`"
            )
        verify_artifact(config, previous)
        facts = {
            "model": config.model,
            "version": previous.version,
            "digest": previous.digest,
            "replaces": current.version if current else None,
            "previous_before": previous.version,
            "reason": reason,
        }
        intent = ledger.append("rollback.intent", facts)
        _fault("rollback.after_intent")
        registry.set_alias("production", previous.version)
        _fault("rollback.after_production")
        traffic = _finish_rollback(config, registry, ledger, intent, facts, manager=manager)
        _fault("rollback.after_done")
        return AliasMove(config.model, previous.version, previous.digest or "",
                         facts["replaces"], True, traffic=traffic)  # fmt: skip


def _finish_rollback(
    config: MlciConfig,
    registry: Registry,
    ledger: LedgerBase,
    intent: LedgerRecord,
    facts: dict,
    reconciled: bool = False,
    manager: Any = None,
) -> str:
    registry.delete_alias("previous")
    _read_back(registry, "production", facts["version"])
    traffic = _follow(config, registry, ledger, intent, facts["version"], manager)
    done = ledger.append("rollback", {**facts, "intent": intent.seq, "reconciled": reconciled,
                                      "traffic": traffic})  # fmt: skip
    registry.set_version_tag(facts["version"], TAG_CHECKPOINT, done.checkpoint.to_tag())
    return traffic


def verify_artifact(config: MlciConfig, version: RegisteredVersion) -> None:
    """Production must never point at files that changed or vanished since registration.

    Checks the registry's store itself (a fresh download), not a cached copy: serving will
    load what the store holds.
    """
    import tempfile

    config.state_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=config.state_dir) as scratch:
        fetch_verified(
            version, Path(scratch), registry_uri=config.registry_uri, state_dir=config.state_dir
        )


def unfinished(ledger: LedgerBase, model: str) -> list[LedgerRecord]:
    """Intent records with no completing record: a crash in the middle of an alias move."""
    if not ledger.exists():
        return []
    intents = ledger.find(("promote.intent", "rollback.intent"), model=model)
    if not intents:
        return []
    completed = {r.data.get("intent") for r in ledger.find(COMPLETIONS, model=model)}
    return [r for r in intents if r.seq not in completed]


def reconcile(
    config: MlciConfig, registry: Registry, ledger: LedgerBase, *, manager: Any = None
) -> list[str]:
    """Finish or undo every interrupted alias move, judged by what the registry shows, then
    reset a rollout state the aliases or the ledger have made stale.

    If ``production`` already points at the intended version the move happened: the
    remaining steps run (traffic follows) and the record is completed. Otherwise nothing
    user-visible changed and the aliases are put back as the intent recorded them; the intent
    is closed as abandoned. Called under the promotion lock.
    """
    notes = []
    for intent in unfinished(ledger, config.model):
        facts = {k: v for k, v in intent.data.items()}
        production = registry.by_alias("production")
        kind = intent.action.removesuffix(".intent")
        if production is not None and production.version == facts["version"]:
            if kind == "promote":
                if facts.get("replaces"):
                    registry.set_alias("previous", facts["replaces"])
                _finish_promote(config, registry, ledger, intent, facts, True, manager)
            else:
                _finish_rollback(config, registry, ledger, intent, facts, True, manager)
            notes.append(f"completed the interrupted {kind} to v{facts['version']}")
            continue
        before = facts.get("previous_before")
        if before:
            registry.set_alias("previous", before)
        else:
            registry.delete_alias("previous")
        ledger.append(f"{kind}.abandoned", {"model": config.model, "intent": intent.seq,
                                            "version": facts["version"]})  # fmt: skip
        notes.append(f"undid the interrupted {kind} to v{facts['version']}")
    reset = reconcile_rollout(config, registry, ledger)
    if reset:
        notes.append(reset)
    return notes


def reconcile_locked(config: MlciConfig, registry: Registry, ledger: LedgerBase) -> list[str]:
    """:func:`reconcile` under the promotion lock: what ``mlci run`` does before stage 7."""
    with model_lock(config, "promotion"):
        return reconcile(config, registry, ledger)


def rollout_problem(
    config: MlciConfig, registry: Registry, ledger: LedgerBase
) -> tuple[Any, str | None]:
    """(the local rollout state, why it is stale or None): what reconcile and status check.

    Stale is what :func:`mlci_local.rollout.state.stale_reason` says from the aliases (the
    router applies the same rule), plus, from the ledger, a canary state whose canary ended
    in a fail or an abort. An unreadable file is stale too (the router already ignores it).
    """
    from mlci_local.rollout.state import (
        TAG_PRODUCTION_MOVE,
        RolloutState,
        read_state,
        stale_reason,
    )
    from pytest_mlci.errors import DataError

    try:
        state = read_state(config)
    except DataError as exc:
        return RolloutState(config.model), f"the rollout state cannot be read: {exc}"
    if state.mode == "none":
        return state, None
    production = registry.by_alias("production")
    reason = stale_reason(
        state,
        production.version if production else None,
        production.tags.get(TAG_PRODUCTION_MOVE) if production else None,
    )
    if reason is None and state.mode == "blue-green":
        from mlci_local.rollout import blue_green

        found = blue_green.stale_reason(ledger, config.model, state.candidate_version)
        reason = f"the rollout state ({state.describe()}) is stale: {found}" if found else None
    if reason is None and state.mode == "canary" and ledger.exists():
        records = ledger.find(("canary.step", "canary"), model=config.model,
                              version=state.candidate_version)  # fmt: skip
        last = records[-1] if records else None
        ended = last.data.get("verdict") if last is not None and last.action == "canary" else None
        if ended in ("fail", "aborted"):
            reason = (
                f"the rollout state ({state.describe()}) belongs to a canary that ended: "
                f"{ended} (ledger seq {last.seq})"
            )
    return state, reason


def reconcile_rollout(config: MlciConfig, registry: Registry, ledger: LedgerBase) -> str | None:
    """Reset a stale local rollout state to production alone; the reset is audited.

    The router already refuses a stale state; this makes the file, ``mlci status`` and the
    next canary agree with it. Called under the promotion lock.
    """
    from mlci_local.rollout.local_target import all_to_production

    state, reason = rollout_problem(config, registry, ledger)
    if reason is None:
        return None
    all_to_production(config)
    ledger.append("rollout.reset", {"model": config.model, "reason": reason,
                                    "state": state.to_json()})  # fmt: skip
    return f"reset the stale rollout state to production only: {reason}"


def expected_aliases(ledger: LedgerBase, model: str) -> dict[str, str | None] | None:
    """``production`` and ``previous`` as the ledger's last completed move left them."""
    if not ledger.exists():
        return None
    moves = ledger.find(("promote", "rollback"), model=model)
    if not moves:
        return None
    last = moves[-1]
    if last.action == "promote":
        return {"production": last.data["version"], "previous": last.data.get("replaces")}
    return {"production": last.data["version"], "previous": None}


def alias_drift(registry: Registry, ledger: LedgerBase, model: str) -> list[str]:
    """Differences between the registry's aliases and what the ledger says mlci set.

    A difference means someone moved an alias outside mlci (or a move was interrupted).
    """
    expected = expected_aliases(ledger, model)
    if expected is None:
        return []
    problems = []
    for alias, version in expected.items():
        actual = registry.by_alias(alias)
        actual_version = actual.version if actual else None
        if actual_version != version:
            problems.append(
                f"'{alias}' is {_v(actual_version)} in the registry but the audit ledger's last "
                f"move set it to {_v(version)}: it was changed outside mlci"
            )
    return problems


def _v(version: str | None) -> str:
    return f"v{version}" if version else "unset"


def _read_back(registry: Registry, alias: str, version: str) -> None:
    seen = registry.by_alias(alias)
    if seen is None or seen.version != version:
        raise RegistryError(
            f"{registry.model}@{alias}: read back {seen.version if seen else 'nothing'} "
            f"after setting v{version}; another process moved it"
        )
