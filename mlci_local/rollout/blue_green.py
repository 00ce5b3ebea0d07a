"""Blue-green: the new version beside production, then all traffic at once, production hot.

The steps, each in the ledger (``bluegreen.start``, ``bluegreen.switch``, ``bluegreen``):

1. **Warm**: the candidate is loaded beside production on the live router with no traffic;
   production's live answers meanwhile are the control sample the judge compares with.
2. **Smoke**: preview requests (``X-Mlci-Arm: candidate``) reach the candidate through the
   same router; every one must be answered with predictions, else the switch never happens.
3. **Switch**: all traffic to the candidate in one state write. Production stays loaded, so a
   request the candidate fails is answered by production (the router), and switching back
   is one more state write, no load.
4. **Soak**: the candidate's answers are judged by the canary's judge against production's
   from before the switch, with the final step's rule (non-inferiority shown). A failure
   switches back at once; a pass after the soak window promotes (the alias moves, journaled,
   as every promotion); no verdict by the end switches back too (fail closed: all traffic
   never stays on an unjudged version).

The outcome is also written as a ``canary`` record (``strategy: blue-green``): the tier
policy's "passing canary" is met by either strategy.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from mlci_local.ledger import LedgerBase
from mlci_local.registry import Registry
from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import PromotionRefused

START, SWITCH, END = "bluegreen.start", "bluegreen.switch", "bluegreen"


@dataclass(frozen=True)
class Preview:
    """What the smoke test saw: requests sent, answered with predictions, and the failures."""

    sent: int
    answered: int
    failures: tuple[str, ...] = ()
    p95_ms: float | None = None


@dataclass(frozen=True)
class BlueGreenOutcome:
    """How a blue-green ended: ``pass`` (promoted), ``fail`` or ``inconclusive`` (switched
    back), with the judge's words and how long the switch back took."""

    verdict: str
    version: str
    control: str
    summary: str
    control_requests: int = 0
    candidate_requests: int = 0
    soak_seconds: float = 0.0
    switched_back_ms: float | None = None
    promoted: bool = False
    phase: str = "soak"  # where it ended: smoke | soak

    def line(self) -> str:
        where = "smoke test" if self.phase == "smoke" else f"soak of {self.soak_seconds:.1f} s"
        return (
            f"blue-green of v{self.version}: {self.verdict} after the {where} "
            f"({self.candidate_requests:,} requests on v{self.version}, "
            f"{self.control_requests:,} on v{self.control} before the switch)"
        )


def run_blue_green(
    config: MlciConfig,
    registry: Registry,
    ledger: LedgerBase,
    version: str,
    source: Any,
    preview: Callable[[int], Preview],
    *,
    judge_settings: Any = None,
    manager: Any = None,
    promote_on_pass: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> BlueGreenOutcome:
    """Blue-green ``version`` against production (module docstring). ``source`` is a
    :class:`~mlci_local.rollout.controller.TrafficSource`; ``preview(n)`` sends ``n``
    preview requests to the loaded candidate."""
    from mlci_local.hookspec import plugin_manager
    from mlci_local.promotion import _fault, promote
    from mlci_local.rollout.controller import _merge
    from mlci_local.rollout.judge import JudgeSettings, judge

    settings = config.blue_green
    base = judge_settings or JudgeSettings()
    # the final step's rule; latency with the wider before/after threshold (BlueGreenSettings)
    final = replace(
        base, interim=False, latency_effect=max(base.latency_effect, settings.latency_effect)
    )
    hooks = manager or plugin_manager()
    production = registry.by_alias("production")
    if production is None:
        raise PromotionRefused(
            f"{config.model}: no production version to switch from; the first model is "
            "promoted directly (`mlci promote VERSION`)"
        )
    target = registry.by_version(version)
    facts = {"model": config.model, "version": target.version, "digest": target.digest,
             "control": production.version, "strategy": "blue-green"}  # fmt: skip
    # who runs it: a state left by a controller that died is stale (promotion.rollout_problem)
    ledger.append(START, {**facts, "pid": os.getpid(), "host": socket.gethostname()})
    hooks.hook.mlci_blue_green(config=config, candidate_version=target.version, phase="warm")

    control_seen: Any = None
    # Production's answers before the switch: one step's worth of traffic (synthetic: its
    # request budget; live: its step time), as much as the soak will see, so neither side
    # of the comparison is the one that leaves the judge undecided.
    for control, _ in source.batches(0.0):
        control_seen = _merge(control_seen, control)
    control_requests = control_seen.requests if control_seen is not None else 0

    smoke = preview(settings.warm_requests)
    if smoke.failures or smoke.answered < smoke.sent:
        summary = "smoke test failed: " + "; ".join(smoke.failures[:3] or ("unanswered",))
        return _switch_back(config, ledger, hooks, facts, "fail", summary, control_requests,
                            0, 0.0, phase="smoke")  # fmt: skip

    ledger.append(SWITCH, {**facts, "preview": smoke.answered, "preview_p95_ms": smoke.p95_ms})
    hooks.hook.mlci_blue_green(config=config, candidate_version=target.version, phase="switch")
    _fault("bluegreen.after_switch")
    began = clock()
    canary_seen: Any = None
    verdict, summary = "inconclusive", "no traffic reached the new version"
    for control, canary in source.batches(1.0):
        # late labels of production's answers from before the switch still join its sample
        control_seen = _merge(control_seen, control)
        canary_seen = _merge(canary_seen, canary)
        if control_seen is None:
            break
        judgement = judge(control_seen, canary_seen, final)
        verdict, summary = judgement.verdict, judgement.summary()
        if verdict == "fail":
            break  # at once: production is hot, switching back costs one state write
        if verdict == "pass" and clock() - began >= settings.soak_seconds:
            break
    soaked = clock() - began
    requests = canary_seen.requests if canary_seen is not None else 0
    ended = bool(getattr(source, "exhausted", False))  # bounded synthetic traffic ran out
    if verdict == "pass" and soaked < settings.soak_seconds and not ended:
        verdict = "inconclusive"
        summary += f"\n  soak: {soaked:.1f} of {settings.soak_seconds:g} s"
    if verdict != "pass":
        return _switch_back(config, ledger, hooks, facts, verdict, summary, control_requests,
                            requests, soaked)  # fmt: skip
    ledger.append("canary", {**facts, "passed": True, "verdict": "pass", "weight": 1.0,
                             "summary": summary})  # fmt: skip
    promoted = False
    if promote_on_pass:  # before the end record: the state is still this live controller's
        promoted = promote(config, registry, ledger, target.version, manager=hooks).changed
    else:
        hooks.hook.mlci_blue_green(config=config, candidate_version=target.version, phase="back")
    ledger.append(END, {**facts, "passed": True, "verdict": "pass", "summary": summary,
                        "soak_seconds": round(soaked, 3), "requests": requests,
                        "promoted": promoted})  # fmt: skip
    return BlueGreenOutcome("pass", target.version, production.version, summary,
                            control_requests, requests, soaked, None, promoted)  # fmt: skip


def _switch_back(
    config: MlciConfig,
    ledger: LedgerBase,
    hooks: Any,
    facts: dict[str, Any],
    verdict: str,
    summary: str,
    control_requests: int,
    requests: int,
    soaked: float,
    *,
    phase: str = "soak",
) -> BlueGreenOutcome:
    """All traffic back to production (still loaded), then the records."""
    started = time.perf_counter()
    hooks.hook.mlci_blue_green(config=config, candidate_version=facts["version"], phase="back")
    switched_ms = 1000 * (time.perf_counter() - started)
    data = {**facts, "passed": False, "verdict": verdict, "summary": summary, "phase": phase,
            "soak_seconds": round(soaked, 3), "requests": requests,
            "switched_back_ms": round(switched_ms, 3)}  # fmt: skip
    ledger.append("canary", {**data, "weight": 0.0})
    ledger.append(END, data)
    return BlueGreenOutcome(
        verdict, facts["version"], facts["control"], summary, control_requests, requests,
        soaked, switched_ms, phase=phase,
    )  # fmt: skip


def stale_reason(ledger: LedgerBase, model: str, version: str | None) -> str | None:
    """Why a blue-green rollout state for ``version`` must not route traffic; None while its
    controller (named in the start record) is alive on this host."""
    records = ledger.find((START, END), model=model) if ledger.exists() else []
    if not records or str(records[-1].data.get("version")) != str(version):
        return f"no blue-green of v{version} is running"
    last = records[-1]
    if last.action == END:
        return f"the blue-green of v{version} ended: {last.data.get('verdict')}"
    pid, host = last.data.get("pid"), last.data.get("host")
    if host == socket.gethostname() and isinstance(pid, int) and _alive(pid):
        return None
    return f"the blue-green of v{version} lost its controller (pid {pid} on {host})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
