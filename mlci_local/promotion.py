"""Moving the ``production`` alias: promotion and rollback, both locked and journaled.

The one path to production: ``production`` only ever points at a version whose exact
artifact digest has a passing evaluation record and a passing staging record in the audit
ledger, unless ``--force`` is given with a reason (itself recorded). Each move takes the
model's promotion lock, writes an intent record before the first registry write, moves the
aliases, reads them back, and completes the record, so a crash in between is visible to
``mlci status`` as an unfinished action.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlci_local.ledger import Ledger, LedgerRecord
from mlci_local.locks import exclusive_lock
from mlci_local.registry import Registry
from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import ConfigError, PromotionRefused, RegistryError
from pytest_mlci.registry_read import TAG_PROMOTED_AT

TAG_CHECKPOINT = "mlci.ledger_checkpoint"


@dataclass(frozen=True)
class AliasMove:
    """What a promotion or rollback did: production now, and what it replaced."""

    model: str
    production: str
    digest: str
    replaced: str | None
    changed: bool


def ledger_for(config: MlciConfig) -> Ledger:
    """The embedded audit ledger of a project."""
    return Ledger(config.state_dir / "ledger.jsonl")


def lock_path(config: MlciConfig) -> Path:
    return config.state_dir / "locks" / f"{config.model}.promotion.lock"


def latest_record(ledger: Ledger, action: str, model: str, digest: str) -> LedgerRecord | None:
    """The newest ``action`` record for this model and artifact digest."""
    found = ledger.find(action, model=model, digest=digest)
    return found[-1] if found else None


def require_records(ledger: Ledger, model: str, digest: str, actions: tuple[str, ...]) -> None:
    """Refuse unless each action's newest record for ``digest`` passed."""
    for action in actions:
        record = latest_record(ledger, action, model, digest)
        if record is None:
            raise PromotionRefused(
                f"{model}: no {action} record for artifact {digest[:12]}; run `mlci run` "
                "(or --force with --reason)"
            )
        if not record.data.get("passed"):
            raise PromotionRefused(
                f"{model}: the {action} of artifact {digest[:12]} failed "
                f"(ledger seq {record.seq}); it cannot be promoted"
            )


def promote(
    config: MlciConfig,
    registry: Registry,
    ledger: Ledger,
    version: str,
    *,
    force: bool = False,
    reason: str | None = None,
) -> AliasMove:
    """Point ``production`` at ``version`` and ``previous`` at the version it replaces."""
    if force and not reason:
        raise ConfigError("--force needs --reason: an override must say why (it is audited)")
    with exclusive_lock(lock_path(config)):
        target = registry.by_version(version)
        digest = target.digest
        if not digest:
            raise PromotionRefused(f"{config.model} v{version} has no artifact digest tag")
        if not force:
            require_records(ledger, config.model, digest, ("evaluation", "staging"))
        current = registry.by_alias("production")
        if current is not None and current.version == target.version:
            return AliasMove(config.model, target.version, digest, None, changed=False)
        intent = ledger.append(
            "promote.intent",
            {
                "model": config.model,
                "version": target.version,
                "digest": digest,
                "replaces": current.version if current else None,
                "force": force,
                "reason": reason,
            },
        )
        if current is not None:
            registry.set_alias("previous", current.version)
        registry.set_alias("production", target.version)
        registry.mark_promoted()
        _read_back(registry, "production", target.version)
        done = ledger.append(
            "promote",
            {
                "model": config.model,
                "version": target.version,
                "digest": digest,
                "replaces": current.version if current else None,
                "intent": intent.seq,
                "force": force,
                "reason": reason,
            },
        )
        registry.set_version_tag(target.version, TAG_CHECKPOINT, done.checkpoint.to_tag())
        registry.set_version_tag(target.version, TAG_PROMOTED_AT, done.time)
        return AliasMove(
            config.model, target.version, digest, current.version if current else None, True
        )


def rollback(
    config: MlciConfig, registry: Registry, ledger: Ledger, *, reason: str | None = None
) -> AliasMove:
    """Point ``production`` back at ``previous``; ``previous`` is then cleared.

    Clearing it means a second rollback refuses instead of flipping back to the version that
    was just rolled away from.
    """
    with exclusive_lock(lock_path(config)):
        current = registry.by_alias("production")
        previous = registry.by_alias("previous")
        if previous is None:
            raise PromotionRefused(
                f"{config.model}: nothing to roll back to (no 'previous' alias); promote a "
                "known-good version with `mlci promote VERSION --force --reason ...`"
            )
        intent = ledger.append(
            "rollback.intent",
            {
                "model": config.model,
                "version": previous.version,
                "digest": previous.digest,
                "replaces": current.version if current else None,
                "reason": reason,
            },
        )
        registry.set_alias("production", previous.version)
        registry.delete_alias("previous")
        _read_back(registry, "production", previous.version)
        done = ledger.append(
            "rollback",
            {
                "model": config.model,
                "version": previous.version,
                "digest": previous.digest,
                "replaces": current.version if current else None,
                "intent": intent.seq,
                "reason": reason,
            },
        )
        registry.set_version_tag(previous.version, TAG_CHECKPOINT, done.checkpoint.to_tag())
        return AliasMove(
            config.model,
            previous.version,
            previous.digest or "",
            current.version if current else None,
            True,
        )


def unfinished(ledger: Ledger, model: str) -> list[LedgerRecord]:
    """Intent records with no completing record: a crash in the middle of an alias move."""
    if not ledger.path.exists():
        return []
    completed = {
        record.data.get("intent")
        for record in ledger.records()
        if record.action in ("promote", "rollback")
    }
    return [
        record
        for record in ledger.records()
        if record.action.endswith(".intent")
        and record.data.get("model") == model
        and record.seq not in completed
    ]


def _read_back(registry: Registry, alias: str, version: str) -> None:
    seen = registry.by_alias(alias)
    if seen is None or seen.version != version:
        raise RegistryError(
            f"{registry.model}@{alias}: read back {seen.version if seen else 'nothing'} "
            f"after setting v{version}; another process moved it"
        )
