"""The dashboard as three static pages: pipeline health, model quality, version comparison.

Every page is one self-contained HTML file (inline CSS and SVG; the comparison page has a
short inline script and its data as JSON), opened from disk or served by ``mlci serve`` at
``/dashboard``: no CDN, no web font, no network. Each page is written atomically.
"""

from __future__ import annotations

import json
import statistics
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mlci_local.dashboard import charts
from mlci_local.dashboard.data import RECENT_RUNS, DashboardData
from mlci_local.delivery_metrics import TARGET_TEXT, format_duration, parse_time

PAGES = ("index.html", "quality.html", "compare.html")

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}: {{ d.model }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1a202c; }
header { background: #1a365d; color: #fff; padding: .7rem 1.5rem; display: flex; gap: 2rem;
  align-items: baseline; flex-wrap: wrap; }
header h1 { font-size: 1.15rem; margin: 0; }
header a { color: #cfe3ff; text-decoration: none; } header a.here { color: #fff;
  border-bottom: 2px solid #fff; }
main { padding: 1rem 1.5rem; max-width: 80rem; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 .5rem; border-bottom: 1px solid #e2e8f0; }
table { border-collapse: collapse; font-size: .88rem; margin: .4rem 0 1rem; }
th, td { border: 1px solid #e2e8f0; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f7fafc; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; }
.card { border: 1px solid #e2e8f0; border-radius: 6px; padding: .6rem .8rem; min-width: 14rem; }
.card .value { font-size: 1.3rem; font-weight: 600; } .card .target { font-size: .8rem; }
.muted { color: #718096; } .fail { color: #a31515; font-weight: 600; }
.rolledback { background: #fff5f5; } .production { background: #f0fff4; }
code { font-size: .85em; } .chart { max-width: 100%; height: auto; }
#lineage td { word-break: break-all; font-family: ui-monospace, monospace; font-size: .8rem; }
.changed { background: #fefcbf; }
</style></head><body>
<header><h1>pytest-mlci: {{ d.model }}</h1>
<nav>{% for href, name in nav %}<a href="{{ href }}"{% if href == page %} class="here"
 aria-current="page"{% endif %}>{{ name }}</a>{% if not loop.last %} · {% endif %}{% endfor %}</nav>
<span class="muted">built {{ built }} from {{ d.records }} ledger records</span></header>
<main>{% block main %}{% endblock %}</main></body></html>
"""

_HEALTH = """{% extends "base" %}{% block main %}
<h2>Delivery metrics</h2>
<div class="cards">{% for card in cards %}<div class="card" data-metric="{{ card.key }}">
<div>{{ card.name }}</div><div class="value">{{ card.value }}</div>
<div class="target">{{ mark(card.state) }} {{ card.state }}: target {{ card.target }}</div>
{{ card.trend | safe }}<div class="muted">{{ card.detail }}</div></div>{% endfor %}</div>
<h2>Runs over time</h2>
{% if runs_chart %}{{ runs_chart | safe }}{% else %}<p class="muted">No mlci run recorded yet.
</p>{% endif %}
<table><tr><th>outcome</th><th>runs</th></tr>{% for outcome, count in outcome_counts %}
<tr><td>{{ mark(outcome) }} {{ outcome }}</td><td class="num">{{ count }}</td></tr>{% endfor %}
</table>
<h2>Where runs stop</h2>
<table><tr><th>stage</th><th>stopped by a check</th><th>infrastructure</th></tr>
{% for stage, checks, infra in stops %}<tr><td>{{ stage }}</td><td class="num">{{ checks }}</td>
<td class="num">{{ infra }}</td></tr>{% else %}<tr><td colspan="3" class="muted">no run stopped
</td></tr>{% endfor %}</table>
<h2>Stage durations (median, 90th percentile)</h2>
{% if durations %}{{ durations | safe }}{% else %}<p class="muted">No stage timings yet.</p>
{% endif %}
<h2>Recent runs</h2>
<table id="runs"><tr><th>started</th><th>outcome</th><th>exit</th><th>stopped at</th>
<th>reason</th><th>seconds</th><th>commit</th><th>by</th></tr>
{% for r in recent %}<tr data-outcome="{{ r.outcome }}"><td>{{ r.started[:19] }}</td>
<td>{{ mark(r.outcome) }} {{ r.outcome }}{% if r.flaky %} (flaky){% endif %}</td>
<td class="num">{{ r.exit_code if r.exit_code is not none else "-" }}</td>
<td>{{ r.stopped_at or "" }}</td><td>{{ r.reason or "" }}</td>
<td class="num">{{ "%.1f" % r.seconds if r.seconds is not none else "-" }}</td>
<td><code>{{ r.commit[:8] }}</code></td><td>{{ r.actor }}</td></tr>{% endfor %}</table>
{% if hidden %}<p class="muted">{{ hidden }} older runs are counted above, not listed.</p>
{% endif %}
{% endblock %}"""

_QUALITY = """{% extends "base" %}{% block main %}
<h2>Production history</h2>
<table id="moves"><tr><th>time</th><th>change</th><th>version</th><th>replaced</th><th>by</th>
<th>reason</th></tr>{% for m in moves %}<tr class="{{ 'rolledback' if m.action == 'rollback'
 else '' }}" data-action="{{ m.action }}"><td>{{ m.time[:19] }}</td><td>{{ mark('fail' if
 m.action == 'rollback' else 'pass') }} {{ 'rollback' if m.action == 'rollback' else 'promotion'
 }}</td><td>v{{ m.version }}</td><td>{{ 'v' ~ m.replaces if m.replaces else '-' }}</td>
<td>{{ m.actor }}</td><td>{{ m.reason }}</td></tr>{% else %}<tr><td colspan="6" class="muted">
nothing promoted yet</td></tr>{% endfor %}</table>
{% for metric, chart in metric_charts %}<h2>{{ metric }} by version</h2>{{ chart | safe }}
{% endfor %}
<h2>Versions</h2>
<table id="versions"><tr><th>version</th><th>registered</th><th>commit</th>
{% for metric in metrics %}<th>{{ metric }}</th>{% endfor %}<th>largest fairness gap</th>
<th>calibration error</th><th>staging</th><th>canaries</th><th>approvals</th><th>state</th>
<th></th></tr>{% for v in versions %}<tr data-version="{{ v.version }}" class="{{ v.css }}">
<td>v{{ v.version }}</td><td>{{ v.registered[:19] }}</td><td><code>{{ v.commit[:8] }}</code></td>
{% for cell in v.cells %}<td class="num">{{ cell }}</td>{% endfor %}<td>{{ v.gap }}</td>
<td class="num">{{ v.ece }}</td><td>{{ v.staging }}</td><td>{{ v.canaries }}</td>
<td class="num">{{ v.approvals }}</td><td>{{ v.state }}</td>
<td><a href="compare.html#a={{ v.previous }}&amp;b={{ v.version }}">compare</a></td></tr>
{% endfor %}</table>
<h2>Drift by dataset and column</h2>
{% if drift_chart %}{{ drift_chart | safe }}<p class="muted">Each cell is one run's (or, for
"served", one <code>mlci monitor</code> window's) drift score over its threshold: white none,
orange at the limit, outlined when the check failed.</p>
{% else %}<p class="muted">No run measured drift yet (declare a reference for a dataset).</p>
{% endif %}
<h2>Canaries and shadows</h2>
<table id="canaries"><tr><th>time</th><th>version</th><th>verdict</th><th>weight</th>
<th>reason</th></tr>{% for c in canaries %}<tr><td>{{ c.time[:19] }}</td><td>v{{ c.version }}
</td><td>{{ mark(c.verdict or 'waived') }} {{ c.verdict }}</td><td>{{ c.weight }}</td>
<td>{{ c.reason or "" }}</td></tr>{% else %}<tr><td colspan="5" class="muted">no canary yet</td>
</tr>{% endfor %}{% for s in shadows %}<tr><td>{{ s.time[:19] }}</td><td>v{{ s.version }}</td>
<td>{{ s.action }}</td><td></td><td></td></tr>{% endfor %}</table>
<h2>Approvals</h2>
<table id="approvals"><tr><th>time</th><th>version</th><th>approver</th><th>role</th>
<th>identity</th></tr>{% for a in approvals %}<tr><td>{{ a.time[:19] }}</td><td>v{{ a.version }}
</td><td>{{ a.approver }}</td><td>{{ a.role or "" }}</td><td>{{ a.identity or "" }}</td></tr>
{% else %}<tr><td colspan="5" class="muted">no approval recorded</td></tr>{% endfor %}</table>
{% endblock %}"""

_COMPARE = """{% extends "base" %}{% block main %}
<h2>Compare two versions</h2>
<p><label>Version A <select id="a">{% for v in choices %}<option value="{{ v }}">v{{ v }}
</option>{% endfor %}</select></label>
<label>Version B <select id="b">{% for v in choices %}<option value="{{ v }}">v{{ v }}
</option>{% endfor %}</select></label></p>
<div id="comparison"><p class="muted">Choose two versions.</p></div>
<script type="application/json" id="data">{{ data_json | safe }}</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
const byVersion = new Map(data.versions.map(v => [v.version, v]));
const esc = s => String(s ?? "").replace(/[&<>"]/g,
  c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
const num = x => (x === null || x === undefined) ? "-" : Number(x).toFixed(4);
const interval = e => e ? `${num(e[0])} [${num(e[1])}, ${num(e[2])}]` : "not recorded";
function gates(v) {
  const out = new Map();
  // one gate per metric: the one with a paired delta when there is one
  for (const g of ((v.quality || {}).gates || [])) {
    if (!g.candidate) continue;
    const known = out.get(g.metric);
    if (!known || (!known.delta && g.delta)) out.set(g.metric, g);
  }
  return out;
}
function rows(pairs) {
  return pairs.map(([k, a, b]) => `<tr class="${a === b ? "" : "changed"}"><td>${esc(k)}</td>` +
    `<td>${esc(a ?? "-")}</td><td>${esc(b ?? "-")}</td></tr>`).join("");
}
function render() {
  const a = byVersion.get(document.getElementById("a").value);
  const b = byVersion.get(document.getElementById("b").value);
  if (!a || !b) return;
  history.replaceState(null, "", `#a=${a.version}&b=${b.version}`);
  const ga = gates(a), gb = gates(b);
  const metrics = [...new Set([...ga.keys(), ...gb.keys()])];
  let html = `<h3>Metrics</h3><table id="metrics"><tr><th>metric</th><th>v${esc(a.version)}</th>` +
    `<th>v${esc(b.version)}</th><th>difference (B - A)</th></tr>`;
  for (const m of metrics) {
    const x = ga.get(m), y = gb.get(m);
    let delta = "-";
    const paired = y && y.delta && (b.quality || {}).baseline_version === a.version;
    if (paired) delta = `${y.delta[0] >= 0 ? "+" : ""}${interval(y.delta)} paired, ` +
      `recorded when v${esc(b.version)} was evaluated`;
    else if (x && y) delta = `${(y.candidate[0] - x.candidate[0] >= 0 ? "+" : "")}` +
      `${num(y.candidate[0] - x.candidate[0])} (not paired: different evaluations)`;
    html += `<tr data-metric="${esc(m)}"><td>${esc(m)}</td><td>${x ? interval(x.candidate) :
      "not recorded"}</td><td>${y ? interval(y.candidate) : "not recorded"}</td>` +
      `<td class="delta">${delta}</td></tr>`;
  }
  html += "</table><h3>Lineage</h3><table id=\\"lineage\\"><tr><th></th>" +
    `<th>v${esc(a.version)}</th><th>v${esc(b.version)}</th></tr>`;
  const la = a.lineage || {}, lb = b.lineage || {};
  html += rows([["commit", a.commit, b.commit], ["author", a.author, b.author],
                ["data sha256", la.data, lb.data], ["artifact sha256", a.digest, b.digest]]);
  for (const [title, key] of [["params", "params"], ["dvc.lock outputs", "dvc"]]) {
    const pa = la[key] || {}, pb = lb[key] || {};
    const keys = [...new Set([...Object.keys(pa), ...Object.keys(pb)])].sort();
    html += `<tr><th colspan="3">${title}</th></tr>` + rows(keys.map(k => [k, pa[k], pb[k]]));
  }
  html += "</table>";
  document.getElementById("comparison").innerHTML = html;
}
function start() {
  const wanted = new URLSearchParams(location.hash.slice(1));
  const pick = (id, fallback) => {
    const el = document.getElementById(id);
    const value = wanted.get(id) || fallback;
    if (byVersion.has(value)) el.value = value;
    el.addEventListener("change", render);
  };
  pick("a", data.default_a); pick("b", data.default_b);
  render();
}
start();
</script>
{% endblock %}"""


def write_site(data: DashboardData, out: Path) -> list[Path]:
    """Write the three pages into ``out`` (created); returns their paths."""
    import jinja2

    from pytest_mlci.fileio import write_atomically
    from pytest_mlci.report.marks import mark

    environment = jinja2.Environment(
        loader=jinja2.DictLoader(
            {"base": _BASE, "health": _HEALTH, "quality": _QUALITY, "compare": _COMPARE}
        ),
        autoescape=True,
    )
    common = {
        "d": data,
        "mark": mark,
        "built": data.built.strftime("%Y-%m-%d %H:%M UTC"),
        "nav": [
            ("index.html", "Pipeline health"),
            ("quality.html", "Model quality"),
            ("compare.html", "Compare versions"),
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    pages = {
        "index.html": ("health", "Pipeline health", _health(data)),
        "quality.html": ("quality", "Model quality", _quality(data)),
        "compare.html": ("compare", "Compare versions", _compare(data)),
    }
    written = []
    for name, (template, title, context) in pages.items():
        html = environment.get_template(template).render(
            **common, **context, title=title, page=name
        )
        path = out / name
        write_atomically(path, html)
        written.append(path)
    return written


# --------------------------------------------------------------------------- health


def _health(d: DashboardData) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for run in d.runs:
        counts[run.outcome] = counts.get(run.outcome, 0) + 1
    order = [o for o in charts.OUTCOME_ORDER if o in counts]
    stops: dict[str, list[int]] = {}
    for run in d.runs:
        if run.stopped_at and run.outcome in ("stopped", "infrastructure", "misconfigured"):
            entry = stops.setdefault(run.stopped_at, [0, 0])
            entry[1 if run.outcome == "infrastructure" else 0] += 1
    recent = d.runs[-RECENT_RUNS:][::-1]
    return {
        "cards": _cards(d),
        "runs_chart": _runs_chart(d),
        "outcome_counts": [(o, counts[o]) for o in order],
        "stops": [(stage, c, i) for stage, (c, i) in sorted(stops.items())],
        "durations": _durations(d),
        "recent": recent,
        "hidden": max(len(d.runs) - RECENT_RUNS, 0),
    }


def _cards(d: DashboardData) -> list[dict[str, Any]]:
    """The five metric cards: value, target verdict in words, weekly trend."""
    targets = d.metrics.targets()
    weekly = d.weekly

    def trend(key: str, values: list[float | None], target: float | None = None) -> str:
        return charts.sparkline(values, f"{key} by week", target=target)

    def state(key: str) -> str:
        meets = targets[key]
        return "no data" if meets is None else ("meets" if meets else "misses")

    return [
        dict(card, state=state(card["key"]), target=TARGET_TEXT[card["key"]])
        for card in _raw_cards(d.metrics, weekly, trend)
    ]


def _raw_cards(m: Any, weekly: list[Any], trend: Any) -> list[dict[str, Any]]:
    reliability = m.reliability
    rate = None if reliability is None else reliability.rate
    return [
        {"key": "deployment_frequency", "name": "Deployment frequency",
         "value": f"{m.deployments} in {format_duration(m.window_days * 86400)}",
         "detail": "promotions by week",
         "trend": trend("deployments", [w.deployments for w in weekly])},
        {"key": "lead_time", "name": "Lead time for changes",
         "value": format_duration(m.lead_time.median_seconds),
         "detail": "median commit to production (hours by week)",
         "trend": trend("lead time", [_hours(w.lead_time_seconds) for w in weekly], 24)},
        {"key": "change_failure_rate", "name": "Change failure rate",
         "value": "-" if m.change_failure_rate is None else f"{m.change_failure_rate:.1%}",
         "detail": f"{m.failures} failures in {m.deployments} deployments",
         "trend": trend("change failure rate", [w.change_failure_rate for w in weekly], 0.05)},
        {"key": "time_to_restore", "name": "Time to restore",
         "value": format_duration(m.time_to_restore.median_seconds),
         "detail": f"median of {m.time_to_restore.count} restores (minutes by week)",
         "trend": trend("time to restore", [_minutes(w.restore_seconds) for w in weekly], 15)},
        {"key": "pipeline_reliability", "name": "Pipeline reliability",
         "value": "-" if rate is None else f"{rate:.1%}",
         "detail": "" if reliability is None else (
             f"{reliability.unreliable} of {reliability.counted} runs broken by "
             "infrastructure or flaky checks"),
         "trend": trend("reliability", [w.reliability for w in weekly], 0.95)},
    ]  # fmt: skip


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def _runs_chart(d: DashboardData) -> str | None:
    """Runs per day over the last 90 days with runs, per week when the history is longer."""
    times = [(parse_time(r.started), r.outcome) for r in d.runs]
    times = [(t, o) for t, o in times if t is not None]
    if not times:
        return None
    first, last = times[0][0], times[-1][0]
    weekly = (last - first) > timedelta(days=90)
    buckets: dict[str, dict[str, int]] = {}
    for moment, outcome in times:
        day = moment - timedelta(days=moment.weekday()) if weekly else moment
        key = day.strftime("%Y-%m-%d")
        buckets.setdefault(key, {})
        buckets[key][outcome] = buckets[key].get(outcome, 0) + 1
    keys = _calendar(first, last, weekly)
    series = [(key, buckets.get(key, {})) for key in keys]
    label = f"mlci runs per {'week' if weekly else 'day'} by outcome"
    return charts.stacked_bars(series[-120:], label)


def _calendar(first: datetime, last: datetime, weekly: bool) -> list[str]:
    step = timedelta(days=7 if weekly else 1)
    day = first - timedelta(days=first.weekday()) if weekly else first
    keys = []
    while day.date() <= last.date():
        keys.append(day.strftime("%Y-%m-%d"))
        day += step
    return keys


def _durations(d: DashboardData) -> str | None:
    seconds: dict[str, list[float]] = {}
    for run in d.runs[-RECENT_RUNS:]:
        for stage in run.stages:
            if isinstance(stage.get("seconds"), (int, float)) and stage.get("status") != "skipped":
                seconds.setdefault(str(stage.get("stage")), []).append(float(stage["seconds"]))
    if not seconds:
        return None
    from mlci_local.delivery_metrics import percentile
    from mlci_local.pipeline import STAGES

    order = [s for s in STAGES if s in seconds] + [s for s in seconds if s not in STAGES]
    items = [(s, statistics.median(seconds[s]), percentile(sorted(seconds[s]), 0.9)) for s in order]
    return charts.duration_bars(items, "seconds per stage over the recent runs")


# --------------------------------------------------------------------------- quality


def _quality(d: DashboardData) -> dict[str, Any]:
    metrics = d.gate_metrics
    production_now = d.production
    numbers = list(d.versions)
    rows = []
    for index, v in enumerate(d.versions.values()):
        state = (
            "production"
            if v.version == production_now
            else ("rolled back" if v.rolled_back else ("was production" if v.promoted else ""))
        )
        cells = []
        for metric in metrics:
            gate = v.gate(metric)
            cells.append("-" if gate is None else f"{gate['candidate'][0]:.4f}")
        quality = v.quality or {}
        gaps = [
            (gap, f"{attribute} {measure}")
            for attribute, measures in (quality.get("fairness_gaps") or {}).items()
            for measure, gap in measures.items()
        ]
        gap = max(gaps) if gaps else None
        ece = (quality.get("calibration") or {}).get("expected_calibration_error")
        rows.append(
            {
                "version": v.version,
                "registered": v.registered,
                "commit": v.commit,
                "cells": cells,
                "gap": "-" if gap is None else f"{gap[0]:.3f} ({gap[1]})",
                "ece": "-" if ece is None else f"{ece:.4f}",
                "staging": v.staging or "-",
                "canaries": ", ".join(str(c.get("verdict")) for c in v.canaries) or "-",
                "approvals": len(v.approvals),
                "state": state,
                "css": {"production": "production", "rolled back": "rolledback"}.get(state, ""),
                "previous": numbers[index - 1] if index else v.version,
            }
        )
    metric_charts = []
    for metric in metrics:
        points = []
        threshold = None
        for v in d.versions.values():
            gate = v.gate(metric)
            if gate is None:
                continue
            value, low, high = gate["candidate"]
            state = (
                "production"
                if v.promoted and not v.rolled_back
                else ("rolled back" if v.rolled_back else "")
            )
            points.append((v.version, value, low, high, state))
            threshold = _threshold(gate.get("gate")) if threshold is None else threshold
        metric_charts.append(
            (
                metric,
                charts.interval_chart(
                    points, f"{metric} of each version with its interval", threshold=threshold
                ),
            )
        )
    canaries = [dict(c, version=v.version) for v in d.versions.values() for c in v.canaries]
    approvals = [dict(a, version=v.version) for v in d.versions.values() for a in v.approvals]
    return {
        "moves": d.moves[::-1],
        "metrics": metrics,
        "versions": rows[::-1],
        "metric_charts": metric_charts,
        "drift_chart": _drift_chart(d),
        "canaries": sorted(canaries, key=lambda c: c["time"], reverse=True),
        "shadows": [s for s in d.shadows if s.get("action") == "shadow.end"][::-1],
        "approvals": sorted(approvals, key=lambda a: a["time"], reverse=True),
    }


def _threshold(expression: Any) -> float | None:
    """The number of an absolute gate (``roc_auc >= 0.75`` -> 0.75); None for baselines."""
    if not isinstance(expression, str) or "baseline" in expression or "best" in expression:
        return None
    try:
        return float(expression.split()[-1])
    except (ValueError, IndexError):
        return None


def _drift_chart(d: DashboardData) -> str | None:
    pairs = d.drift_columns
    measured = d.drift_series[-150:]
    if not pairs or not measured:
        return None
    rows = [f"{dataset}/{column}" for dataset, column in pairs]
    columns = [f"{when[:16]} #{i}" for i, (when, _) in enumerate(measured)]
    cells: dict[tuple[str, str], tuple[float, str]] = {}
    for (when, found), key in zip(measured, columns, strict=True):
        for dataset, entries in found.items():
            for column, entry in entries.items():
                ratio = abs(entry["score"]) / abs(entry["threshold"])
                title = (
                    f"{dataset}/{column} at {when[:16]}: {entry['test']} "
                    f"{entry['score']:.3g} vs {entry['threshold']:g} ({entry['verdict']})"
                )
                cells[(f"{dataset}/{column}", key)] = (
                    max(ratio, 1.0) if entry["verdict"] == "fail" else ratio,
                    title,
                )
    label = "drift score over threshold per dataset column, by run and monitoring window"
    return charts.heatmap(rows, columns, cells, label)


# --------------------------------------------------------------------------- compare


def _compare(d: DashboardData) -> dict[str, Any]:
    versions = [v.to_json() for v in d.versions.values()]
    numbers = list(d.versions)
    default_b = numbers[-1] if numbers else None
    default_a = (
        d.production
        if d.production and d.production != default_b
        else (numbers[-2] if len(numbers) > 1 else default_b)
    )
    payload = {"versions": versions, "default_a": default_a, "default_b": default_b}
    text = json.dumps(payload, separators=(",", ":"), default=str)
    # inside <script>: "</" must not end the element early
    return {"choices": numbers[::-1], "data_json": text.replace("</", "<\\/")}
