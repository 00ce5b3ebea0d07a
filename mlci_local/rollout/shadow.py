"""Shadow mode: start it, end it, and compare the candidate's logged answers with production's.

In shadow mode (``mlci canary --shadow``) the router answers every request with production
and scores a copy with the candidate after the answer is sent; the candidate's answer is only
logged, beside production's, in ``requests.jsonl``. Nothing is judged: a shadow is for a
person to read, so :func:`shadow_summary` says how often the two agree, how far their scores
are apart, and what the candidate's errors and costs were.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlci_local.rollout.router import REQUEST_LOG
from mlci_local.rollout.state import RolloutState, read_state, rollout_dir, write_state
from pytest_mlci.errors import PromotionRefused


@dataclass(frozen=True)
class ShadowSummary:
    """Production's answers against the shadow's, over one shadow period."""

    version: str
    requests: int  # requests production answered while the shadow ran
    compared: int  # of those, how many the shadow also answered
    agreement: float | None  # share of compared requests with the same predicted label
    mean_abs_diff: float | None  # mean |candidate score - production score|
    max_abs_diff: float | None
    errors: int  # copies the shadow failed on
    skipped: int  # copies not scored (queue full)
    production_p95_ms: float | None  # per request
    candidate_ms_per_row: float | None  # the shadow scores copies in batches

    def lines(self) -> list[str]:
        """What ``mlci status`` and ``mlci canary --abort`` print."""
        if not self.requests:
            return [f"shadow of v{self.version}: no requests yet"]
        agree = "-" if self.agreement is None else f"{self.agreement:.1%}"
        diff = (
            "-"
            if self.mean_abs_diff is None
            else f"mean {self.mean_abs_diff:.4f}, max {self.max_abs_diff:.4f}"
        )
        cost = (
            "-"
            if self.candidate_ms_per_row is None
            else f"{self.candidate_ms_per_row:.2f} ms per row in batches"
        )
        prod = "-" if self.production_p95_ms is None else f"p95 {self.production_p95_ms:.2f} ms"
        return [
            f"shadow of v{self.version}: {self.compared:,} of {self.requests:,} requests "
            f"compared; candidate errors {self.errors:,}, skipped {self.skipped:,}",
            f"  label agreement {agree}; score difference {diff}",
            f"  model time: production {prod} per request, candidate {cost}",
        ]


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except ValueError:
                continue  # a line still being written


def shadow_summary(config: Any, state: RolloutState | None = None) -> ShadowSummary | None:
    """The summary of the shadow period ``state`` describes (default: the current state)."""
    import numpy as np

    state = state or read_state(config)
    if state.mode != "shadow" or not state.candidate_version:
        return None
    version = state.candidate_version
    requests = compared = errors = skipped = agree = labelled = 0
    diffs: list[float] = []
    production_ms: list[float] = []
    per_row: list[float] = []
    for record in _lines(rollout_dir(config) / REQUEST_LOG):
        if record.get("mode") != "shadow" or record.get("step") != state.step:
            continue
        if str(record.get("time", "")) < state.updated:
            continue  # an earlier shadow period that had the same step number
        shadow = record.get("shadow")
        if record.get("arm") is None or not isinstance(shadow, dict):
            continue
        if str(shadow.get("version")) != version:
            continue
        requests += 1
        if record.get("latency_ms") is not None:
            production_ms.append(float(record["latency_ms"]))
        if shadow.get("error"):
            if "skipped" in str(shadow["error"]):
                skipped += 1
            else:
                errors += 1
            continue
        if record.get("error") or record.get("predictions") is None:
            continue
        compared += 1
        rows = int(shadow.get("batch_rows") or 1)
        if shadow.get("latency_ms") is not None:
            per_row.append(float(shadow["latency_ms"]) / rows)
        ours, theirs = record.get("predictions") or [], shadow.get("predictions") or []
        for a, b in zip(ours, theirs, strict=False):
            if _number(a) and _number(b):
                diffs.append(abs(float(b) - float(a)))
        mine, its = record.get("labels") or ours, shadow.get("labels") or theirs
        if mine and its:
            labelled += 1
            agree += int(list(mine) == list(its))
    return ShadowSummary(
        version=version,
        requests=requests,
        compared=compared,
        agreement=agree / labelled if labelled else None,
        mean_abs_diff=float(np.mean(diffs)) if diffs else None,
        max_abs_diff=float(np.max(diffs)) if diffs else None,
        errors=errors,
        skipped=skipped,
        production_p95_ms=float(np.quantile(production_ms, 0.95)) if production_ms else None,
        candidate_ms_per_row=float(np.mean(per_row)) if per_row else None,
    )


def _number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _now() -> str:
    # The router's format, so the request log's times compare with it as strings.
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def start_shadow(config: Any, ledger: Any, version: Any) -> RolloutState:
    """Mirror traffic to ``version`` (a RegisteredVersion); refuses during a canary."""
    current = read_state(config)
    if current.mode == "canary" and current.weight > 0:
        raise PromotionRefused(
            f"{config.model}: a canary of v{current.candidate_version} holds "
            f"{current.weight:.0%} of traffic; finish it or `mlci canary --abort` first"
        )
    from mlci_local.rollout.local_target import production_binding

    production, move = production_binding(config)  # the router obeys it only against these
    state = RolloutState(config.model, version.version, 0.0, "shadow", current.step + 1, _now(),
                         production, move)  # fmt: skip
    write_state(config, state)
    ledger.append("shadow.start", {"model": config.model, "version": version.version,
                                   "digest": version.digest, "step": state.step})  # fmt: skip
    return state


def stop_shadow(config: Any, ledger: Any) -> ShadowSummary | None:
    """End shadow mode; the period's summary goes to the ledger and is returned."""
    from dataclasses import asdict

    state = read_state(config)
    summary = shadow_summary(config, state)
    if summary is None:
        return None
    write_state(config, RolloutState(config.model, None, 0.0, "none", state.step + 1, _now()))
    ledger.append("shadow.end", {"model": config.model, **asdict(summary)})
    return summary
