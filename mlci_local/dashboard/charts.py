"""Charts as inline SVG strings: no JavaScript library, no CDN, no font beyond the page's.

Why hand-made SVG and not matplotlib: the dashboard must build a thousand versions in
seconds and open offline in any browser; a few hundred SVG elements per chart are smaller
than PNGs, stay sharp when zoomed, and every mark carries a ``<title>`` a person can hover
and a test can read. Numbers always appear as text beside or below a chart as well.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

#: Colours by outcome or verdict, chosen to stay apart for the common colour-vision types
#: (blue / orange / grey / purple rather than only red against green).
COLOURS = {
    "passed": "#2b6cb0", "held": "#805ad5", "stopped": "#dd6b20", "misconfigured": "#d69e2e",
    "infrastructure": "#c53030", "lost": "#742a2a", "interrupted": "#a0aec0",
    "running": "#cbd5e0",
}  # fmt: skip
OUTCOME_ORDER = tuple(COLOURS)


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{body}</svg>"
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 11,
          cls: str = "") -> str:  # fmt: skip
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{klass}>'
        f"{escape(text)}</text>"
    )


def stacked_bars(buckets: Sequence[tuple[str, Mapping[str, int]]], label: str) -> str:
    """Runs per time bucket stacked by outcome, with a legend of the outcomes present."""
    width, height, left, bottom, top = 760, 200, 36, 28, 10
    present = [o for o in OUTCOME_ORDER if any(counts.get(o) for _, counts in buckets)]
    peak = max((sum(counts.values()) for _, counts in buckets), default=0) or 1
    plot_w, plot_h = width - left - 10, height - bottom - top - 18
    step = plot_w / max(len(buckets), 1)
    bar = max(1.0, step * 0.8)
    parts = [f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
             'stroke="#888"/>', _text(left - 4, top + 8, str(peak), anchor="end"),
             _text(left - 4, top + plot_h, "0", anchor="end")]  # fmt: skip
    for i, (name, counts) in enumerate(buckets):
        x = left + i * step
        y = top + plot_h
        for outcome in present:
            count = counts.get(outcome, 0)
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[outcome]}"><title>{escape(name)}: {count} {outcome}</title></rect>'
            )
    if buckets:
        parts.append(_text(left, height - bottom + 14, buckets[0][0]))
        parts.append(_text(width - 10, height - bottom + 14, buckets[-1][0], anchor="end"))
    x = left
    for outcome in present:
        parts.append(f'<rect x="{x}" y="{height - 12}" width="10" height="10" '
                     f'fill="{COLOURS[outcome]}"/>')  # fmt: skip
        parts.append(_text(x + 13, height - 3, outcome))
        x += 20 + 7 * len(outcome)
    return _svg(width, height, "".join(parts), label)


def interval_chart(
    points: Sequence[tuple[str, float, float, float, str]],
    label: str,
    *,
    threshold: float | None = None,
) -> str:
    """One metric across versions: each version's estimate with its interval. ``points`` are
    (version, value, low, high, state) with state "production", "rolled back" or ""."""
    width, height, left, bottom, top = 760, 190, 52, 24, 10
    if not points:
        return _svg(width, 40, _text(8, 24, "no version recorded this metric"), label)
    lows = [p[2] for p in points] + ([threshold] if threshold is not None else [])
    highs = [p[3] for p in points] + ([threshold] if threshold is not None else [])
    low, high = min(lows), max(highs)
    if math.isclose(low, high):
        low, high = low - 0.01, high + 0.01
    pad = (high - low) * 0.08
    low, high = low - pad, high + pad
    plot_w, plot_h = width - left - 10, height - bottom - top

    def y(value: float) -> float:
        return top + plot_h * (high - value) / (high - low)

    step = plot_w / max(len(points), 1)
    parts = [_text(left - 4, top + 8, f"{high:.3f}", anchor="end"),
             _text(left - 4, top + plot_h, f"{low:.3f}", anchor="end"),
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
             'stroke="#888"/>']  # fmt: skip
    if threshold is not None:
        ty = y(threshold)
        parts.append(f'<line x1="{left}" y1="{ty:.1f}" x2="{width - 10}" y2="{ty:.1f}" '
                     'stroke="#c53030" stroke-dasharray="4 3"/>')  # fmt: skip
        parts.append(_text(width - 12, ty - 3, f"gate {threshold:g}", anchor="end", size=10))
    radius = max(1.5, min(4.0, step / 3))
    for i, (version, value, lo, hi, state) in enumerate(points):
        x = left + step * (i + 0.5)
        colour = "#c53030" if state == "rolled back" else "#2b6cb0"
        fill = colour if state else "#fff"
        parts.append(
            f'<g class="point" data-version="{escape(version)}"><title>v{escape(version)}: '
            f"{value:.4f} [{lo:.4f}, {hi:.4f}]{' ' + state if state else ''}</title>"
            f'<line x1="{x:.1f}" y1="{y(lo):.1f}" x2="{x:.1f}" y2="{y(hi):.1f}" '
            f'stroke="{colour}"/><circle cx="{x:.1f}" cy="{y(value):.1f}" r="{radius:.1f}" '
            f'fill="{fill}" stroke="{colour}"/></g>'
        )
    parts.append(_text(left, height - 6, f"v{points[0][0]}"))
    parts.append(_text(width - 10, height - 6, f"v{points[-1][0]}", anchor="end"))
    return _svg(width, height, "".join(parts), label)


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Mapping[tuple[str, str], tuple[float, str]],
    label: str,
) -> str:
    """Rows (dataset/column) by columns (runs over time); each cell's colour is the drift
    score over its threshold (white 0, deep orange at or over the limit), a failing cell
    outlined. ``cells`` maps (row, column) to (score / threshold, title)."""
    cell_w = max(3.0, min(24.0, 600 / max(len(columns), 1)))
    cell_h, left, top = 16, 170, 6
    width = int(left + cell_w * len(columns) + 10)
    height = int(top + cell_h * len(rows) + 22)
    parts = []
    for r, row in enumerate(rows):
        parts.append(_text(left - 6, top + r * cell_h + 12, row, anchor="end"))
        for c, column in enumerate(columns):
            found = cells.get((row, column))
            if found is None:
                continue
            ratio, title = found
            shade = min(max(ratio, 0.0), 1.0)
            red, green, blue = 255, int(255 - 150 * shade), int(255 - 230 * shade)
            stroke = ' stroke="#742a2a" stroke-width="1.5"' if ratio >= 1 else ""
            parts.append(
                f'<rect x="{left + c * cell_w:.1f}" y="{top + r * cell_h}" '
                f'width="{cell_w - 1:.1f}" height="{cell_h - 1}" '
                f'fill="rgb({red},{green},{blue})"{stroke}><title>{escape(title)}</title></rect>'
            )
    if columns:
        parts.append(_text(left, height - 4, columns[0]))
        parts.append(_text(width - 10, height - 4, columns[-1], anchor="end"))
    return _svg(width, height, "".join(parts), label)


def sparkline(values: Sequence[float | None], label: str, *, target: float | None = None) -> str:
    """A small trend line (gaps where a week had nothing to measure), the target dashed."""
    width, height, pad = 160, 36, 3
    known = [v for v in values if v is not None]
    if not known:
        return _svg(width, height, _text(2, 22, "no data yet", size=10), label)
    low = min(known + ([target] if target is not None else []))
    high = max(known + ([target] if target is not None else []))
    if math.isclose(low, high):
        low, high = low - 1, high + 1
    step = (width - 2 * pad) / max(len(values) - 1, 1)

    def y(value: float) -> float:
        return pad + (height - 2 * pad) * (high - value) / (high - low)

    segments, current = [], []
    for i, value in enumerate(values):
        if value is None:
            if current:
                segments.append(current)
            current = []
            continue
        current.append(f"{pad + i * step:.1f},{y(value):.1f}")
    if current:
        segments.append(current)
    parts = []
    if target is not None:
        parts.append(f'<line x1="0" y1="{y(target):.1f}" x2="{width}" y2="{y(target):.1f}" '
                     'stroke="#999" stroke-dasharray="3 3"/>')  # fmt: skip
    for segment in segments:
        if len(segment) == 1:
            x, yy = segment[0].split(",")
            parts.append(f'<circle cx="{x}" cy="{yy}" r="2" fill="#2b6cb0"/>')
        else:
            parts.append(f'<polyline points="{" ".join(segment)}" fill="none" '
                         'stroke="#2b6cb0" stroke-width="1.5"/>')  # fmt: skip
    return _svg(width, height, "".join(parts), label)


def duration_bars(items: Sequence[tuple[str, float, float]], label: str) -> str:
    """Per stage: median seconds as a bar and the 90th percentile as a tick."""
    width, row, left = 560, 20, 110
    height = row * len(items) + 8
    peak = max((p90 for _, _, p90 in items), default=0) or 1
    scale = (width - left - 90) / peak
    parts = []
    for i, (stage, median, p90) in enumerate(items):
        y = 4 + i * row
        parts.append(_text(left - 6, y + 13, stage, anchor="end"))
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{max(median * scale, 1):.1f}" '
                     f'height="12" fill="#2b6cb0"><title>{escape(stage)}: median '
                     f"{median:.1f} s, p90 {p90:.1f} s</title></rect>")  # fmt: skip
        px = left + p90 * scale
        parts.append(f'<line x1="{px:.1f}" y1="{y + 1}" x2="{px:.1f}" y2="{y + 17}" '
                     'stroke="#1a202c" stroke-width="2"/>')  # fmt: skip
        parts.append(_text(px + 6, y + 13, f"{median:.1f} s / p90 {p90:.1f} s", size=10))
    return _svg(width, height, "".join(parts), label)
