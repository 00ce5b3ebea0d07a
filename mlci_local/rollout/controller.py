"""The canary controller: traffic steps, a statistical judge after each batch, rollback.

A step sends its share of traffic to the candidate and keeps collecting batches until the
judge, looking at everything seen since the canary began, decides: *pass* moves to the next
step, *fail* sends all traffic back to production at once and records why, and a step whose
traffic budget runs out undecided *holds* at its weight until a human approves or aborts.
A metrics source that raises, or a step that saw no traffic, is inconclusive — never a pass.
Passing the last step (100 %) records a passing canary and promotes the candidate through the
same locked, journaled path as ``mlci promote``.

Every step, judgement and outcome is a ledger record, so a controller killed mid-rollout
leaves the weight it had set on record: ``mlci status`` shows it and the next ``mlci canary``
resumes from that step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from mlci_local.ledger import Ledger
from mlci_local.registry import Registry
from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import PromotionRefused

DEFAULT_STEPS = (0.05, 0.25, 0.5, 1.0)


class TrafficSource(Protocol):
    """Where observations come from: live router logs, or a replayed request log."""

    def batches(self, weight: float) -> Iterator[tuple[Any, Any]]:
        """Yield (control, canary) ArmObservations batches at ``weight`` until exhausted."""


@dataclass(frozen=True)
class CanaryPolicy:
    """Steps and the per-step traffic budget."""

    steps: tuple[float, ...] = DEFAULT_STEPS
    max_batches_per_step: int = 20
    judge: Any = None  # JudgeSettings; None: the judge's defaults


@dataclass(frozen=True)
class StepResult:
    """What happened at one traffic weight."""

    weight: float
    verdict: str
    summary: str
    batches: int


@dataclass(frozen=True)
class CanaryOutcome:
    """The canary's end: passed (and promoted), rolled back, or held at a weight."""

    verdict: str  # pass | fail | inconclusive
    version: str
    steps: tuple[StepResult, ...]
    weight: float
    promoted: bool = False
    messages: tuple[str, ...] = field(default_factory=tuple)


def _merge(first: Any, second: Any) -> Any:
    """Cumulative observations of one arm: the judge sees everything since the start."""
    from dataclasses import replace

    if first is None:
        return second
    labels = None
    if first.labelled_correct is not None or second.labelled_correct is not None:
        labels = list(first.labelled_correct or []) + list(second.labelled_correct or [])
    return replace(
        first,
        requests=first.requests + second.requests,
        errors=first.errors + second.errors,
        latency_ms=list(first.latency_ms) + list(second.latency_ms),
        labelled_correct=labels,
    )


def run_canary(
    config: MlciConfig,
    registry: Registry,
    ledger: Ledger,
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
            f"{config.model}: no production version to compare the canary with; the first "
            "model is promoted without a canary only by `mlci promote --force --reason`"
        )
    target = registry.by_version(version)
    facts = {"model": config.model, "version": target.version, "digest": target.digest,
             "control": production.version}  # fmt: skip
    start = _resume_step(ledger, config.model, target.version)
    control_seen = canary_seen = None
    results: list[StepResult] = []
    for index, weight in enumerate(policy.steps):
        if index < start:
            continue
        hooks.hook.mlci_set_weights(config=config, candidate_version=target.version, weight=weight)
        ledger.append("canary.step", {**facts, "step": index, "weight": weight})
        verdict, summary, used = "inconclusive", "no traffic reached this step", 0
        try:
            for control, canary in source.batches(weight):
                used += 1
                control_seen = _merge(control_seen, control)
                canary_seen = _merge(canary_seen, canary)
                # Below 100 %, "no evidence of harm, estimate within the margin" advances;
                # the last step must show non-inferiority before anything is promoted.
                step_settings = replace(settings, interim=weight < 1.0)
                judgement = judge(control_seen, canary_seen, step_settings)
                verdict, summary = judgement.verdict, judgement.summary()
                if verdict != "inconclusive" or used >= policy.max_batches_per_step:
                    break
        except Exception as exc:  # a broken metrics source decides nothing
            verdict = "inconclusive"
            summary = f"the metrics source failed: {type(exc).__name__}: {exc}"
        results.append(StepResult(weight, verdict, summary, used))
        ledger.append("canary.judgement", {**facts, "step": index, "weight": weight,
                                           "verdict": verdict, "summary": summary})  # fmt: skip
        if verdict == "fail":
            message = hooks.hook.mlci_rollback(config=config, version=production.version)
            ledger.append("canary", {**facts, "passed": False, "verdict": "fail",
                                     "weight": weight, "summary": summary})  # fmt: skip
            return CanaryOutcome("fail", target.version, tuple(results), 0.0,
                                 messages=(message or "",))  # fmt: skip
        if verdict != "pass":
            ledger.append("canary", {**facts, "passed": False, "verdict": "inconclusive",
                                     "weight": weight, "summary": summary})  # fmt: skip
            return CanaryOutcome("inconclusive", target.version, tuple(results), weight)
    ledger.append("canary", {**facts, "passed": True, "verdict": "pass", "weight": 1.0})
    promoted = False
    messages: list[str] = []
    if promote_on_pass:
        from mlci_local.promotion import promote

        move = promote(config, registry, ledger, target.version)
        promoted = move.changed
        messages.append(hooks.hook.mlci_promote(config=config, version=target.version) or "")
    return CanaryOutcome("pass", target.version, tuple(results), 1.0, promoted, tuple(messages))


def _resume_step(ledger: Ledger, model: str, version: str) -> int:
    """The step to continue from when a previous controller stopped mid-rollout."""
    if not ledger.path.exists():
        return 0
    last_step = None
    for record in ledger.records():
        if record.data.get("model") != model or record.data.get("version") != version:
            continue
        if record.action == "canary":
            last_step = None  # that canary ended; a new one starts from the first step
        elif record.action == "canary.step":
            last_step = int(record.data.get("step", 0))
    return last_step or 0
