"""Gate floors proposed from a measured evaluation, not guessed before any data was seen.

Why: a fixed floor such as ``r2 >= 0.50`` means nothing for data nobody has looked at; it
either fails a good first model or lets a poor one through. ``mlci init`` therefore writes
floors that assume nothing (chance, predicting the mean) and a "not worse than production"
gate; once ``mlci run --until evaluate`` has measured the candidate, this module proposes
each absolute floor just below the measured confidence interval: the model that was measured
would pass it, a clearly worse one would not.

It reads the evaluation report that run wrote (``.mlci/reports/evaluation-<digest>.json``);
it computes nothing and loads no model.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import ConfigError


@dataclass(frozen=True)
class Suggestion:
    """One metric: what was measured, and the gate lines proposed for it."""

    metric: str
    measured: str  # "0.8544 [0.8468, 0.8619]"
    floor: str | None  # ">= 0.84"; None when the metric has no known direction
    expressions: tuple[str, ...]  # the proposed value of `metric = ...` in [gates]


@dataclass(frozen=True)
class Suggestions:
    report: Path
    data: str
    rows: int | None
    candidate: str
    items: tuple[Suggestion, ...]

    def toml(self, table: str) -> str:
        """The ``[gates]`` table to paste, with what each floor came from."""
        lines = [f"[{table}]"]
        for item in self.items:
            value = item.expressions[0] if len(item.expressions) == 1 else list(item.expressions)
            lines.append(f"{item.metric} = {json.dumps(value)}  # measured {item.measured}")
        return "\n".join(lines)


def latest_report(config: MlciConfig) -> Path:
    """The newest evaluation report of this project; a usage error when there is none."""
    folder = config.state_dir / "reports"
    reports = sorted(folder.glob("evaluation-*.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        raise ConfigError(
            f"no evaluation has been measured yet (no report in {folder}); run "
            "`mlci run --until evaluate` once, then `mlci gates --suggest`"
        )
    return reports[-1]


def suggest(config: MlciConfig, report_path: Path | None = None) -> Suggestions:
    """Floors for every gated metric the report measured; baseline/best gates are kept."""
    from pytest_mlci.evaluation.metrics import METRICS

    path = report_path or latest_report(config)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the evaluation report ({exc})", file=str(path)) from None
    measured: dict[str, dict[str, Any]] = {}
    for row in report.get("gates", []):
        if row.get("candidate") and row["metric"] not in measured:
            measured[row["metric"]] = row["candidate"]
    if not measured:
        raise ConfigError(
            "the last evaluation measured no gate metric (did it crash?); fix what `mlci run` "
            "reported and run `mlci run --until evaluate` again",
            file=str(path),
        )
    configured: dict[str, list[str]] = {}
    for spec in config.gates:
        configured.setdefault(spec.metric, []).append(spec.expression)
    items = []
    for metric, estimate in measured.items():
        known = METRICS.get(metric)
        shown = _describe(estimate)
        relative = [e for e in configured.get(metric, []) if "baseline" in e or "best" in e]
        if known is None:
            items.append(Suggestion(metric, shown, None, tuple(configured.get(metric, []))))
            continue
        floor = _floor(estimate, greater_is_better=known.greater_is_better)
        items.append(Suggestion(metric, shown, floor, (floor, *relative)))
    data = report.get("data", {})
    shown_data = Path(str(data.get("path", "?")))
    if shown_data.is_absolute() and shown_data.is_relative_to(config.root):
        shown_data = shown_data.relative_to(config.root)
    return Suggestions(
        report=path,
        data=shown_data.as_posix(),
        rows=data.get("rows"),
        candidate=str(report.get("candidate", {}).get("sha256", "?"))[:12],
        items=tuple(items),
    )


def _describe(estimate: dict[str, Any]) -> str:
    value, low, high = estimate.get("value"), estimate.get("low"), estimate.get("high")
    if low is None or high is None:
        return f"{value:.4f}"
    return f"{value:.4f} [{low:.4f}, {high:.4f}]"


def _floor(estimate: dict[str, Any], *, greater_is_better: bool) -> str:
    """Just outside the interval, rounded outward to two significant decimals.

    A gate passes only when the whole interval clears it, so the floor lies below the lower
    bound (above the upper bound for errors): the measured model passes, a worse one fails.
    """
    if greater_is_better:
        bound = estimate.get("low")
        bound = estimate["value"] if bound is None else bound
        return f">= {_round(bound, down=True)}"
    bound = estimate.get("high")
    bound = estimate["value"] if bound is None else bound
    return f"<= {_round(bound, down=False)}"


def _round(number: float, *, down: bool) -> str:
    """``number`` rounded outward to 2 significant digits (3 from 10 up: 1234.5 -> 1240)."""
    if number == 0 or not math.isfinite(number):
        return format(number, "g")
    magnitude = math.floor(math.log10(abs(number)))
    digits = 2 if abs(number) < 10 else 3
    decimals = digits - 1 - magnitude
    scale = 10.0**decimals
    rounded = (math.floor if down else math.ceil)(round(number * scale, 9)) / scale
    return f"{rounded:.{max(decimals, 0)}f}"
