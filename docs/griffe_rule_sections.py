"""Render our docstrings as Markdown on the docs site (a griffe extension for mkdocstrings).

Each rule's docstring is written like ruff's (a section title on a line of its own, its body
indented below: *What it does / Why is this bad? / Example / Use instead*) because the same
text is the SARIF rule help and ``tests/rules/test_rules_api.py`` checks those four titles.
Plain Markdown would read an indented body as a paragraph continuation and run the code
examples together, so this griffe extension rewrites the docstring, for the site only:
titles become bold lines, prose bodies are dedented, and the two code sections become fenced
Python blocks. Sphinx roles a few docstrings use (``:class:`~pkg.mod.Name` ``) become code
spans, since mkdocstrings would print them literally. The modules themselves are not changed.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

_CODE_SECTIONS = ("Example", "Use instead")
_SECTIONS = ("What it does", "Why is this bad?", *_CODE_SECTIONS)
_ROLE = re.compile(r":(?:class|func|meth|mod|attr|exc|data|obj):`(~?)([^`]+)`")


def sphinx_roles_to_code(text: str) -> str:
    """``:class:`~a.b.C` `` -> `` `C` ``; without the ``~``, the full dotted name."""
    return _ROLE.sub(lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", text)


def rule_docstring_to_markdown(text: str) -> str:
    """Return ``text`` with each known section turned into Markdown (others left as they are)."""
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.strip() not in _SECTIONS or line != line.lstrip():
            out.append(line)
            index += 1
            continue
        title = line.strip()
        index += 1
        body: list[str] = []
        while index < len(lines) and (not lines[index].strip() or lines[index][:1].isspace()):
            body.append(lines[index])
            index += 1
        while body and not body[-1].strip():
            body.pop()
        block = textwrap.dedent("\n".join(body))
        out += [f"**{title}**", ""]
        if title in _CODE_SECTIONS:
            out += ["```python", block, "```", ""]
        else:
            out += [block, ""]
    return "\n".join(out).rstrip() + "\n"


class RuleSections(griffe.Extension):
    """Rewrite docstrings once griffe has loaded them: rule sections, then Sphinx roles."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None:
            return
        text = obj.docstring.value
        if obj.is_module and obj.path.startswith("pytest_mlci.rules."):
            text = rule_docstring_to_markdown(text)
        obj.docstring.value = sphinx_roles_to_code(text)
