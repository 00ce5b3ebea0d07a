"""The canary controller: traffic steps, a statistical judge after each batch, rollback.

A step sends its share of traffic to the candidate and keeps collecting batches until the
judge, looking at everything seen since the canary began, decides: *pass* moves to the next
step, *fail* sends all traffic back to production at once and records why, and a step whose
traffic budget runs out undecided *holds* at its weight until a human approves or aborts.
A metrics source that raises, or a step that saw no traffic, is inconclusive — never a pass.
Passing the last step (100 %) records a passing canary and promotes the candidate through the
same locked, journaled path as ``mlci promote``.

A step passes only once it has also seen its minimum number of candidate requests and lasted
its minimum time (``[tool.mlci.canary] min_samples``, ``min_seconds``); a step whose traffic
ends before that is inconclusive. A fail may come at any moment: rolling back early is the
point.

Every step, judgement and outcome is a ledger record, so a controller killed mid-rollout
leaves the weight it had set on record: ``mlci status`` shows it and the next ``mlci canary``
(or ``mlci run`` with the same candidate) resumes from that step; a run with a different
candidate aborts it first. A held canary resumes at the step it held; if a human recorded
``mlci approve`` for the version after the hold, the held step counts as passed and the
canary goes on from the next one. ``mlci canary --abort`` rolls a held canary back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from mlci_local.ledger import LedgerBase, LedgerRecord
from mlci_local.registry import Registry
from pytest_mlci.config import DEFAULT_CANARY_STEPS, MlciConfig
from pytest_mlci.errors import PromotionRefused
from pytest_mlci.registry_read import RegisteredVersion

DEFAULT_STEPS = DEFAULT_CANARY_STEPS
ENDED = ("pass", "fail", "aborted")  # verdicts of a canary record that closes a rollout


class TrafficSource(Protocol):
    """Where observations come from: live router logs, or a replayed request log."""

    def batches(self, weight: float) -> Iterator[tuple[Any, Any]]:
        """Yield (control, canary) ArmObservations batches at ``weight`` until exhausted."""


@dataclass(frozen=True)
class CanaryPolicy:
    """Steps, what each step needs before it may pass, and the per-step traffic budget.

    ``min_samples`` and ``min_seconds`` are one number for every step or one per step.
    """

    steps: tuple[float, ...] = DEFAULT_STEPS
    max_batches_per_step: int = 20
    judge: Any = None  # JudgeSettings; None: the judge's defaults
    min_samples: int | tuple[int, ...] = 0
    min_seconds: float | tuple[float, ...] = 0.0
    clock: Callable[[], float] = time.monotonic

    def minimums(self, index: int) -> tuple[int, float]:
        """(candidate requests, seconds) step ``index`` needs before it may pass."""
        samples, seconds = self.min_samples, self.min_seconds
        return (
            samples if isinstance(samples, int) else samples[index],
            seconds if isinstance(seconds, (int, float)) else seconds[index],
        )


def policy_from_config(config: MlciConfig, **overrides: Any) -> CanaryPolicy:
    """The configured canary of ``config``'s tier (``[tool.mlci.canary]``); a regression
    model's quality is judged on its mean error, a classifier's on accuracy."""
    from mlci_local.rollout.judge import JudgeSettings

    settings = config.canary
    return CanaryPolicy(
        steps=settings.steps_for(config.tier),
        judge=JudgeSettings(**settings.judge, regression=config.task == "regression"),
        min_samples=settings.min_samples,
        min_seconds=settings.min_seconds,
        **overrides,
    )


@dataclass(frozen=True)
class StepResult:
    """What happened at one traffic weight."""

    weight: float
    verdict: str
    summary: str
    batches: int
    canary_requests: int = 0  # requests the candidate answered during this step
    # (criterion, verdict with its detail) of the last judgement, e.g. ("quality", "pass
    # (absolute error -2.1%)") or ("quality", "not judged: no labels")
    criteria: tuple[tuple[str, str], ...] = ()

    def line(self) -> str:
        """One line: the step's verdict, its criteria, how much traffic it took."""
        shown = ", ".join(f"{name} {verdict}" for name, verdict in self.criteria)
        looks = f"{self.batches} look{'s' if self.batches != 1 else ''}"
        return (
            f"step {self.weight:>4.0%}: {self.verdict.upper():<12} "
            f"{shown + '; ' if shown else ''}{self.canary_requests:,} candidate requests, {looks}"
        )


@dataclass(frozen=True)
class CanaryOutcome:
    """The canary's end: passed (and promoted), rolled back, or held at a weight."""

    verdict: str  # pass | fail | inconclusive
    version: str
    steps: tuple[StepResult, ...]
    weight: float
    promoted: bool = False
    messages: tuple[str, ...] = field(default_factory=tuple)
    resumed_at: int = 0  # the step index this run started from (0: a new canary)
    control: str | None = None  # the production version the canary was judged against


def _merge(first: Any, second: Any) -> Any:
    """Cumulative observations of one arm: the judge sees everything since the start."""
    if first is None:
        return second

    def joined(name: str) -> list[Any] | None:
        before, after = getattr(first, name), getattr(second, name)
        if before is None and after is None:
            return None
        return list(before or []) + list(after or [])

    return replace(
        first,
        requests=first.requests + second.requests,
        errors=first.errors + second.errors,
        latency_ms=list(first.latency_ms) + list(second.latency_ms),
        labelled_correct=joined("labelled_correct"),
        labelled_residual=joined("labelled_residual"),
    )


def run_canary(
    config: MlciConfig,
    registry: Registry,
    ledger: LedgerBase,
    version: str,
    source: TrafficSource,
    *,
    policy: CanaryPolicy | None = None,
    manager: Any = None,
    promote_on_pass: bool = True,
) -> CanaryOutcome:
    """Run the canary of ``version`` against production, step by step."""
    from mlci_local.hookspec import plugin_manager
    from mlci_local.rollout.judge import JudgeSettings, judge

    policy = policy or CanaryPolicy()
    settings = policy.judge or JudgeSettings()
    hooks = manager or plugin_manager()
    production = registry.by_alias("production")
    if production is None:
        raise PromotionRefused(
            f"{config.model}: no production version to compare the canary with; a model "
            "that has never been in production needs no canary: `mlci promote VERSION` once "
            "its tier's approvals are in"
        )
    target = registry.by_version(version)
    facts = {"model": config.model, "version": target.version, "digest": target.digest,
             "control": production.version}  # fmt: skip
    start = resume_step(
        ledger, config.model, target.version, approval_counts(config, ledger, target)
    )
    control_seen = canary_seen = None
    results: list[StepResult] = []
    last = len(policy.steps) - 1
    for index, weight in enumerate(policy.steps):
        if index < start:
            continue
        hooks.hook.mlci_set_weights(config=config, candidate_version=target.version, weight=weight)
        ledger.append("canary.step", {**facts, "step": index, "weight": weight})
        verdict, summary, used, seen_here = "inconclusive", "no traffic reached this step", 0, 0
        criteria: tuple[tuple[str, str], ...] = ()
        need_samples, need_seconds = policy.minimums(index)
        began = policy.clock()
        try:
            for control, canary in source.batches(weight):
                used += 1
                seen_here += int(canary.requests)
                control_seen = _merge(control_seen, control)
                canary_seen = _merge(canary_seen, canary)
                # Below 100 %, "no evidence of harm, estimate within the margin" advances;
                # the last step must show non-inferiority before anything is promoted.
                step_settings = replace(settings, interim=index < last)
                judgement = judge(control_seen, canary_seen, step_settings)
                verdict, summary = judgement.verdict, judgement.summary()
                criteria = tuple((c.name, c.short()) for c in judgement.criteria)
                short = _short_of(seen_here, need_samples, policy.clock() - began, need_seconds)
                if verdict == "pass" and short:
                    verdict = "inconclusive"  # the judge is satisfied, the step is not over yet
                    summary = f"{summary}\n  step: {short}"
                if verdict != "inconclusive" or used >= policy.max_batches_per_step:
                    break
        except Exception as exc:  # a broken metrics source decides nothing
            verdict, criteria = "inconclusive", ()
            summary = f"the metrics source failed: {type(exc).__name__}: {exc}"
        results.append(StepResult(weight, verdict, summary, used, seen_here, criteria))
        ledger.append("canary.judgement", {**facts, "step": index, "weight": weight,
                                           "verdict": verdict, "summary": summary})  # fmt: skip
        if verdict == "fail":
            message = _end(config, registry, ledger, hooks, {**facts, "passed": False,
                           "verdict": "fail", "step": index, "weight": weight,
                           "summary": summary})  # fmt: skip
            return CanaryOutcome("fail", target.version, tuple(results), 0.0,
                                 messages=(message or "",), resumed_at=start,
                                 control=production.version)  # fmt: skip
        if verdict != "pass":
            ledger.append("canary", {**facts, "passed": False, "verdict": "inconclusive",
                                     "step": index, "weight": weight,
                                     "summary": summary})  # fmt: skip
            return CanaryOutcome("inconclusive", target.version, tuple(results), weight,
                                 resumed_at=start, control=production.version)  # fmt: skip
    approved = start > last  # every step passed earlier; the held last one a human approved
    ledger.append("canary", {**facts, "passed": True, "verdict": "pass", "weight": 1.0,
                             "step": last, "approved_hold": approved})  # fmt: skip
    from mlci_local.promotion import _fault, promote

    _fault("canary.after_pass")
    promoted = False
    messages: list[str] = []
    if promote_on_pass:
        # Traffic follows the alias inside the promotion's own locked, journaled step.
        move = promote(config, registry, ledger, target.version, manager=hooks)
        promoted = move.changed
        messages.append(move.traffic)
    return CanaryOutcome("pass", target.version, tuple(results), 1.0, promoted, tuple(messages),
                         resumed_at=start, control=production.version)  # fmt: skip


def _short_of(samples: int, need_samples: int, seconds: float, need_seconds: float) -> str:
    """Why a step whose judgement passed may not end yet ("" when it may)."""
    missing = []
    if samples < need_samples:
        missing.append(f"{samples:,} of the {need_samples:,} candidate requests it needs")
    if seconds < need_seconds:
        missing.append(f"{seconds:.0f} of the {need_seconds:g} s it must last")
    return "not over yet: " + " and ".join(missing) if missing else ""


def abort_canary(
    config: MlciConfig,
    registry: Registry,
    ledger: LedgerBase,
    version: str,
    *,
    reason: str,
    manager: Any = None,
) -> str:
    """Send all traffic back to production and close ``version``'s canary as aborted."""
    from mlci_local.hookspec import plugin_manager

    hooks = manager or plugin_manager()
    target = registry.by_version(version)
    return _end(config, registry, ledger, hooks, {"model": config.model,
                "version": target.version, "digest": target.digest, "passed": False,
                "verdict": "aborted", "weight": 0.0, "summary": reason})  # fmt: skip


def _end(config: MlciConfig, registry: Registry, ledger: LedgerBase, hooks: Any,
         record: dict[str, Any]) -> str:  # fmt: skip
    """All traffic back to production, then the canary's closing record, under the promotion
    lock so no alias move interleaves. Traffic first: a crash between the two leaves users on
    production and the canary open (resumable), never traffic on a canary the ledger closed."""
    from mlci_local.locks import model_lock
    from mlci_local.promotion import _fault, reconcile

    with model_lock(config, "promotion"):
        reconcile(config, registry, ledger, manager=hooks)  # production first settled
        production = registry.by_alias("production")
        control = production.version if production is not None else None
        message = hooks.hook.mlci_rollback(config=config, version=control) or ""
        _fault("canary.after_rollback_traffic")
        ledger.append("canary", {"control": control, **record})
    return message


@dataclass(frozen=True)
class InFlight:
    """A canary that has started and not ended (held, or its controller stopped)."""

    version: str
    step: int
    weight: float
    held: bool  # True: the judge held it; False: the controller stopped mid-step
    approved: bool  # a human approved the version after the hold


def in_flight(
    ledger: LedgerBase, model: str, counts: Callable[[LedgerRecord], bool] | None = None
) -> InFlight | None:
    """The model's unfinished canary according to the ledger, if any.

    ``counts`` decides whether an ``approve`` record releases a hold; without it every
    approval record does (fine for display). The controller passes the approvals rule of the
    tier, so on tier high only a verified signature lets a held step go on.
    """
    if not ledger.exists():
        return None
    current: dict[str, Any] | None = None
    for record in ledger.find(("canary.step", "canary", "approve"), model=model):
        data = record.data
        version = str(data.get("version"))
        if record.action == "canary.step":
            current = {"version": version, "step": int(data.get("step", 0)),
                       "weight": float(data.get("weight", 0.0)), "held": False,
                       "approved": False}  # fmt: skip
        elif record.action == "canary" and current and current["version"] == version:
            if data.get("verdict") in ENDED:
                current = None
            else:
                current.update(held=True, approved=False)
        elif (
            record.action == "approve"
            and current
            and current["version"] == version
            and (counts is None or counts(record))
        ):
            current["approved"] = current["held"]
    return InFlight(**current) if current else None


def resume_step(
    ledger: LedgerBase,
    model: str,
    version: str,
    counts: Callable[[LedgerRecord], bool] | None = None,
) -> int:
    """The step to continue from: where a stopped controller was, the step after a held one
    that a human approved (an approval ``counts`` accepts), the held step otherwise, else 0
    (a new canary)."""
    found = in_flight(ledger, model, counts)
    if found is None or found.version != version:
        return 0
    return found.step + 1 if found.held and found.approved else found.step


def approval_counts(
    config: MlciConfig, ledger: LedgerBase, target: RegisteredVersion
) -> Callable[[LedgerRecord], bool] | None:
    """Which approval records may release a held step: those the tier's approvals rule
    accepts (a verified signature for this digest on tier high). Judged only when a held,
    approved canary of this version is on record, so an ordinary run asks git nothing."""
    found = in_flight(ledger, config.model)
    if found is None or found.version != target.version or not (found.held and found.approved):
        return None
    from mlci_local.approvals import tally

    accepted = set(tally(config, ledger, target).accepted)
    return lambda record: record.seq in accepted
