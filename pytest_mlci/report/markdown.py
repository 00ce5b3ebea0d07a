"""The Markdown report, sized for a pull-request comment: the verdict first, details folded.

Built from the JSON report (a plain dict), so ``mlci run`` and ``pytest --mlci`` produce the
same comment from the same facts.
"""

from __future__ import annotations

from typing import Any

MAX_COMMENT = 60_000  # GitHub refuses comments over 65,536 characters
ICON = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️", "waived": "➖"}


def render_markdown(report: dict[str, Any]) -> str:
    """The whole comment; long sections are cut rather than making the comment fail to post."""
    gates = report.get("gates", [])
    counts = {v: sum(1 for g in gates if g["verdict"] == v) for v in ICON}
    verdict = "passed" if report.get("passed") else "did not pass"
    head = f"### {'✅' if report.get('passed') else '❌'} pytest-mlci: `{report.get('model')}` "
    head += f"{verdict}"
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    lines = [head, "", f"Gates: {summary or 'none'}.", ""]
    if report.get("crashed"):
        lines += [f"**The evaluation crashed** in: {', '.join(report['crashed'])}.", ""]
    if gates:
        lines += [
            "| gate | candidate | baseline | delta [interval] | verdict |",
            "|---|---|---|---|---|",
        ]
        for gate in gates:
            lines.append(
                f"| `{gate['gate']}` | {_estimate(gate.get('candidate'))} | "
                f"{_number(gate.get('baseline'))} | {_estimate(gate.get('delta'))} | "
                f"{ICON.get(gate['verdict'], '')} {gate['verdict']} |"
            )
        lines.append("")
        failing = [g for g in gates if g["verdict"] in ("fail", "inconclusive")]
        for gate in failing:
            lines.append(f"- `{gate['gate']}`: {gate['message']}")
        if failing:
            lines.append("")
    data_rows = report.get("data_checks", [])
    if data_rows:
        rows = [
            "| check | column | test | effect | p-value | verdict |",
            "|---|---|---|---|---|---|",
        ]
        for row in data_rows[:200]:
            rows.append(
                f"| {row['check']} | {row['column']} | {row['test']} | "
                f"{_number(row.get('effect_size'))} | {_number(row.get('p_value'))} | "
                f"{ICON.get(row['verdict'], '')} {row['verdict']} |"
            )
        lines += _details("Data checks", rows)
    for table in report.get("slices", []):
        lines += _details(f"Metrics by {table['column']}", _slice_table(table))
    for table in report.get("fairness", []):
        lines += _details(f"Fairness by {table['attribute']}", _group_table(table))
    if report.get("cost"):
        rows = ["| measure | value |", "|---|---|"]
        rows += [f"| {k} | {v:.4g} |" for k, v in sorted(report["cost"].items())]
        lines += _details("Cost", rows)
    lines += _details("Provenance", _provenance(report))
    text = "\n".join(lines)
    if len(text) > MAX_COMMENT:
        text = text[: MAX_COMMENT - 80] + "\n\n… (cut to fit a pull-request comment)\n"
    return text


def _details(title: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{title}</summary>", "", *body, "", "</details>", ""]


def _slice_table(table: dict[str, Any]) -> list[str]:
    names = table["metrics"]
    has_baseline = any(f"baseline.{n}" in row for row in table["rows"] for n in names)
    header = ["value", "rows"] + [
        f"{n} (candidate / production)" if has_baseline else n for n in names
    ]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table["rows"]:
        cells = [row["value"], str(row["rows"])]
        for name in names:
            cell = _number(row.get(name))
            if has_baseline:
                cell += f" / {_number(row.get(f'baseline.{name}'))}"
            cells.append(cell)
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _group_table(table: dict[str, Any]) -> list[str]:
    rows = ["| group | rows | selection rate | accuracy | recall | precision |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for g in table["groups"]:
        note = " (too small, left out of gaps)" if g.get("excluded") else ""
        rows.append(
            f"| {g['group']}{note} | {int(g['count'])} | {g['selection_rate']:.3f} | "
            f"{g['accuracy']:.3f} | {g['recall']:.3f} | {g['precision']:.3f} |"
        )
    return rows


def _provenance(report: dict[str, Any]) -> list[str]:
    candidate = report.get("candidate", {})
    data = report.get("data", {})
    baseline = report.get("baseline", {})
    return [
        f"- candidate: `{candidate.get('path')}` sha256 `{str(candidate.get('sha256'))[:16]}`",
        f"- data: `{data.get('path')}` ({data.get('rows')} rows) sha256 "
        f"`{str(data.get('sha256'))[:16]}`",
        f"- baseline: {baseline.get('status')}"
        + (f" v{baseline['version']}" if baseline.get("version") else "")
        + (f" ({baseline['reason']})" if baseline.get("reason") else ""),
        *(f"- {who} labels: {how}" for who, how in (report.get("scoring") or {}).items()),
    ]


def _estimate(value: dict[str, Any] | None) -> str:
    if not value:
        return "-"
    if value.get("low") is None:
        return _number(value["value"])
    return f"{value['value']:.4f} [{value['low']:.4f}, {value['high']:.4f}]"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
