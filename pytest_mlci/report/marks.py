"""Verdict marks for HTML pages as inline SVG, never emoji.

Why: an emoji is drawn by whatever font the viewer has; headless Chromium on a plain Linux CI
runner (no colour emoji font) draws the report's title and verdict marks as empty boxes. An
inline SVG draws the same everywhere, offline, and carries its meaning as text for screen
readers (``role="img"`` with a ``<title>``) and for anyone copying the page's text (the
verdict word always follows the mark). Markdown for GitHub comments keeps its emoji: GitHub
draws those itself.
"""

from __future__ import annotations

from markupsafe import Markup

_SHAPES = {
    # a tick in a green disc
    "pass": ('#17692a', '<path d="M4.5 8.3l2.3 2.3 4.7-5" stroke="#fff" stroke-width="1.8" '
             'fill="none" stroke-linecap="round" stroke-linejoin="round"/>'),
    # a cross in a red disc
    "fail": ('#a31515', '<path d="M5.2 5.2l5.6 5.6M10.8 5.2l-5.6 5.6" stroke="#fff" '
             'stroke-width="1.8" stroke-linecap="round"/>'),
    # an exclamation mark in an amber disc
    "inconclusive": ('#b26a00', '<path d="M8 4v5" stroke="#fff" stroke-width="1.8" '
                     'stroke-linecap="round"/><circle cx="8" cy="11.6" r="1.1" fill="#fff"/>'),
    # a bar in a grey disc
    "waived": ('#777', '<path d="M4.8 8h6.4" stroke="#fff" stroke-width="1.8" '
               'stroke-linecap="round"/>'),
}  # fmt: skip
#: Verdicts of runs, canaries and targets drawn with the same four shapes.
ALIASES = {"passed": "pass", "ok": "pass", "meets": "pass", "failed": "fail", "stopped": "fail",
           "rolled back": "fail", "misses": "fail", "infrastructure": "fail", "lost": "fail",
           "held": "inconclusive", "interrupted": "waived", "skipped": "waived"}  # fmt: skip


def mark(verdict: str, size: int = 16) -> Markup:
    """An inline SVG mark for ``verdict`` (pass, fail, inconclusive, waived or an alias);
    unknown verdicts get the grey mark. Safe to insert into an autoescaped template."""
    key = ALIASES.get(verdict, verdict)
    colour, inner = _SHAPES.get(key, _SHAPES["waived"])
    return Markup(
        f'<svg class="mark" role="img" width="{size}" height="{size}" viewBox="0 0 16 16" '
        f'aria-label="{verdict}" style="vertical-align:-0.15em"><title>{verdict}</title>'
        f'<circle cx="8" cy="8" r="8" fill="{colour}"/>{inner}</svg>'
    )
