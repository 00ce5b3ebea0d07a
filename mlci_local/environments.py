"""The promotion chain: a version moves through environments one at a time.

``[tool.mlci.environments] chain = ["dev", "staging", "preprod", "production"]`` makes each
name a registry alias. Stage 6 (staging validation in a fresh process) puts a version in the
first environment; from there it may only enter the next one, never skip: entering an
environment needs the version to be in the environment before it, the checks the
environment requires (a passing staging record, approvals, a passing canary), and, with
``soak_minutes``, that long spent in the environment before. Production keeps everything
:func:`mlci_local.promotion.promote` already demands and adds the chain's own checks.

Each move is journaled like a production move: an ``environment.intent`` record, the
``<env>_previous`` alias set to what the environment held, the alias moved and read back,
then the ``environment`` record; a crash in between is finished or undone by
:func:`reconcile_environments` on the next move. ``rollback`` in one environment returns its
alias to ``<env>_previous`` and touches no other environment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from mlci_local.ledger import LedgerBase
from mlci_local.locks import model_lock
from mlci_local.registry import Registry, previous_alias
from pytest_mlci.config import DEFAULT_ENVIRONMENTS, EnvironmentSettings, MlciConfig
from pytest_mlci.errors import ConfigError, PromotionRefused

ENTER, ENTER_INTENT = "environment", "environment.intent"
ROLLBACK, ROLLBACK_INTENT = "environment.rollback", "environment.rollback.intent"
ABANDONED = "environment.abandoned"


@dataclass(frozen=True)
class EnvironmentMove:
    """What a move did: ``environment`` now holds ``version``, replacing ``replaced``."""

    environment: str
    version: str
    replaced: str | None
    changed: bool


def is_custom(config: MlciConfig) -> bool:
    """Whether the project declares its own chain (the default is staging -> production)."""
    return tuple(config.environments) != DEFAULT_ENVIRONMENTS


def environment(config: MlciConfig, name: str) -> EnvironmentSettings:
    for settings in config.environments:
        if settings.name == name:
            return settings
    raise ConfigError(
        f"no environment {name!r}; the chain is {' -> '.join(config.environment_names)} "
        "([tool.mlci.environments] chain)"
    )


def before(config: MlciConfig, name: str) -> str | None:
    """The environment a version must be in before it may enter ``name``."""
    names = config.environment_names
    index = names.index(name)
    return names[index - 1] if index else None


def entry_problems(
    config: MlciConfig, registry: Registry, ledger: LedgerBase, name: str, version: str
) -> list[str]:
    """Why ``version`` may not enter ``name`` now (empty: it may). Production's own checks
    (gates, staging record, tier approvals, canary) are :func:`promotion.promote`'s."""
    from mlci_local.promotion import latest_record

    settings = environment(config, name)
    target = registry.by_version(version)
    digest = target.digest or ""
    model = config.model
    problems = []
    evaluated = latest_record(ledger, "evaluation", model, digest)
    if evaluated is None or not evaluated.data.get("passed"):
        problems.append(f"v{version} has no passing evaluation (run `mlci run`)")
    previous = before(config, name)
    if previous is not None:
        holder = registry.by_alias(previous)
        if holder is None or holder.version != str(version):
            held = f"{previous} holds v{holder.version}" if holder else f"{previous} is empty"
            problems.append(
                f"v{version} is not in {previous} ({held}); environments are entered in "
                f"order ({' -> '.join(config.environment_names)}): "
                f"`mlci promote --to {previous} {version}` first"
            )
        elif settings.soak_minutes:
            since = entered_at(ledger, config, previous, version)
            waited = (time.time() - since) / 60 if since is not None else 0.0
            if waited < settings.soak_minutes:
                problems.append(
                    f"v{version} has soaked {waited:.1f} of the {settings.soak_minutes:g} "
                    f"minutes {name} requires in {previous}"
                )
    for check in settings.requires:
        if check in ("staging", "canary"):
            record = latest_record(ledger, check, model, digest)
            if record is None or not record.data.get("passed"):
                problems.append(f"{name} requires a passing {check} record for v{version}")
        elif check == "approvals":
            from mlci_local.approvals import tally
            from mlci_local.tiers import policy_for

            needed = max(1, policy_for(config).approvals)
            have = tally(config, ledger, target).counted
            if len(have) < needed:
                problems.append(
                    f"{name} requires {needed} approval(s) of v{version} by "
                    f"{', '.join(config.approvals.approvers) or 'a listed approver'}; has "
                    f"{len(have)} (`mlci approve {model} {version}`)"
                )
    return problems


def entered_at(ledger: LedgerBase, config: MlciConfig, name: str, version: str) -> float | None:
    """When ``version`` last entered ``name`` (epoch seconds), from the ledger."""
    from mlci_local.delivery_metrics import parse_time

    found = [
        r
        for r in ledger.find(ENTER, model=config.model)
        if r.data.get("environment") == name and str(r.data.get("version")) == str(version)
    ]
    if not found:
        return None
    moment = parse_time(found[-1].time)
    return moment.timestamp() if moment is not None else None


def enter(
    config: MlciConfig,
    registry: Registry,
    ledger: LedgerBase,
    name: str,
    version: str,
    *,
    force: bool = False,
    reason: str | None = None,
) -> EnvironmentMove:
    """Move ``name``'s alias to ``version`` (not production: that is promotion.promote)."""
    if name == "production":
        raise ConfigError("production is entered with `mlci promote` (its own checks)")
    if force and not reason:
        raise ConfigError("--force needs --reason: an override must say why (it is audited)")
    environment(config, name)
    with model_lock(config, "promotion"):
        reconcile_environments(config, registry, ledger)
        current = registry.by_alias(name)
        if current is not None and current.version == str(version):
            return EnvironmentMove(name, str(version), None, changed=False)
        problems = [] if force else entry_problems(config, registry, ledger, name, version)
        if problems:
            raise PromotionRefused(
                f"{config.model} v{version} may not enter {name}:\n" + "\n".join(problems)
            )
        return _move(config, registry, ledger, name, str(version), current, force, reason)


def record_entry(
    config: MlciConfig, registry: Registry, ledger: LedgerBase, name: str, version: str
) -> None:
    """Stage 6's entry into the chain's first environment, journaled like any other move."""
    with model_lock(config, "promotion"):
        reconcile_environments(config, registry, ledger)
        current = registry.by_alias(name)
        if current is None or current.version != str(version):
            _move(config, registry, ledger, name, str(version), current, False, None)


def _move(
    config: MlciConfig,
    registry: Registry,
    ledger: LedgerBase,
    name: str,
    version: str,
    current: Any,
    force: bool,
    reason: str | None,
) -> EnvironmentMove:
    from mlci_local.promotion import _fault, _read_back

    old_previous = registry.by_alias(previous_alias(name))
    facts = {
        "model": config.model,
        "environment": name,
        "version": version,
        "digest": registry.by_version(version).digest,
        "replaces": current.version if current else None,
        "previous_before": old_previous.version if old_previous else None,
        "force": force,
        "reason": reason,
    }
    intent = ledger.append(ENTER_INTENT, facts)
    _fault("environment.after_intent")
    if current is not None:
        registry.set_alias(previous_alias(name), current.version)
    registry.set_alias(name, version)
    _fault("environment.after_alias")
    _read_back(registry, name, version)
    ledger.append(ENTER, {**facts, "intent": intent.seq})
    return EnvironmentMove(name, version, facts["replaces"], changed=True)


def rollback_environment(
    config: MlciConfig,
    registry: Registry,
    ledger: LedgerBase,
    name: str,
    *,
    reason: str | None = None,
) -> EnvironmentMove:
    """Return ``name`` to the version it held before (``<name>_previous``), nothing else."""
    from mlci_local.promotion import _fault, _read_back

    if name == "production":
        raise ConfigError("production is rolled back with `mlci rollback` (no --env)")
    environment(config, name)
    with model_lock(config, "promotion"):
        reconcile_environments(config, registry, ledger)
        current = registry.by_alias(name)
        previous = registry.by_alias(previous_alias(name))
        if previous is None:
            raise PromotionRefused(
                f"{config.model}: nothing to roll back to in {name} (no "
                f"'{previous_alias(name)}' alias)"
            )
        facts = {
            "model": config.model,
            "environment": name,
            "version": previous.version,
            "digest": previous.digest,
            "replaces": current.version if current else None,
            "previous_before": previous.version,
            "reason": reason,
        }
        intent = ledger.append(ROLLBACK_INTENT, facts)
        _fault("environment.rollback.after_intent")
        registry.set_alias(name, previous.version)
        registry.delete_alias(previous_alias(name))
        _read_back(registry, name, previous.version)
        ledger.append(ROLLBACK, {**facts, "intent": intent.seq})
        return EnvironmentMove(name, previous.version, facts["replaces"], changed=True)


def reconcile_environments(config: MlciConfig, registry: Registry, ledger: LedgerBase) -> list[str]:
    """Finish or undo environment moves a crash interrupted (under the promotion lock): if
    the alias already shows the intended version the move happened and its record is
    written; otherwise the aliases are put back as the intent recorded them."""
    if not ledger.exists():
        return []
    intents = ledger.find((ENTER_INTENT, ROLLBACK_INTENT), model=config.model)
    if not intents:
        return []
    closed = {
        r.data.get("intent") for r in ledger.find((ENTER, ROLLBACK, ABANDONED), model=config.model)
    }
    notes = []
    for intent in intents:
        if intent.seq in closed:
            continue
        facts = dict(intent.data)
        name, version = facts["environment"], str(facts["version"])
        rollback = intent.action == ROLLBACK_INTENT
        holder = registry.by_alias(name)
        if holder is not None and holder.version == version:
            if rollback:
                registry.delete_alias(previous_alias(name))
            elif facts.get("replaces"):
                registry.set_alias(previous_alias(name), str(facts["replaces"]))
            ledger.append(ROLLBACK if rollback else ENTER,
                          {**facts, "intent": intent.seq, "reconciled": True})  # fmt: skip
            notes.append(f"completed the interrupted move of {name} to v{version}")
            continue
        if facts.get("previous_before"):
            registry.set_alias(previous_alias(name), str(facts["previous_before"]))
        else:
            registry.delete_alias(previous_alias(name))
        ledger.append(ABANDONED, {"model": config.model, "intent": intent.seq,
                                  "environment": name, "version": version})  # fmt: skip
        notes.append(f"undid the interrupted move of {name} to v{version}")
    return notes
