"""Turn one notebook cell into the Python IPython would run, keeping its line count.

IPython accepts more than Python: ``%line`` and ``%%cell`` magics, ``!shell`` lines (also as
``files = !ls``), ``obj?`` / ``??obj`` help, ``/autocall`` escapes and a cell indented as a
whole. A linter that parses the raw cell reports those as syntax errors, which are noise
about the notebook, not findings about the user's ML code. IPython's own transformer
(``IPython.core.inputtransformer2``) would do this, but it is not a dependency and importing it
costs far more than the pre-commit hook's budget, so this is a small stdlib equivalent.

Every IPython-only line becomes a harmless Python line at the same indentation (``pass``, or
``lhs = None`` for a captured shell/magic) and continuation lines become blank, so the result
has exactly as many lines as the cell and findings keep their line numbers. ``%time`` /
``%timeit`` keep the statement they time, and ``%%time`` / ``%%timeit`` / ``%%capture`` cells
keep their body, because that is Python the notebook really runs. Other cell magics
(``%%bash``, ``%%sql`` ...) are not Python: the whole cell becomes blank lines.
"""

from __future__ import annotations

import ast
import re

# Cell magics whose body is Python that IPython executes.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
# Line magics whose argument is a Python statement that IPython executes.
_TIMING_MAGICS = frozenset({"time", "timeit", "prun"})
# `%timeit` options that take a value (`-n 10 -r 3`); the others are flags (`-q -o`).
_OPTIONS_WITH_VALUE = frozenset({"-n", "-r", "-p", "-s", "-l", "-T", "-D"})

_CELL_MAGIC = re.compile(r"^%%(?P<name>\w+)")
_LINE_MAGIC = re.compile(r"^%{1,2}(?P<name>\w+)(?P<rest>.*)$", re.S)
_ESCAPE_START = ("%", "!", "?", "/", ",", ";")
# `%env NAME=value` / `%set_env NAME value`: an environment variable set from the notebook.
_ENV_MAGIC = re.compile(r"^%(?P<name>env|set_env)\s+(?P<rest>\S.*)$")
# `lhs = !ls`, `out = %sx ls`, `t = %time f()`: a capture of a shell or magic.
_TARGET = r"[A-Za-z_][\w.\[\]'\"]*"
_CAPTURE = re.compile(rf"^(?P<lhs>{_TARGET}(?:\s*,\s*{_TARGET})*\s*=\s*)(?P<rhs>[!%].*)$")
# `obj?`, `obj.attr??`, `pd.*read*?`, `%magic?`, `?obj`, `??obj` (IPython's help forms).
_NAME = r"%{0,2}[A-Za-z_*][\w*]*(?:\.[A-Za-z_*][\w*]*|\[-?\d+\])*"
_HELP = re.compile(rf"^(?:\?{{1,2}}\s*{_NAME}\s*\??\??|{_NAME}\s*\?{{1,2}})\s*$")
# Anything IPython could transform; a cell without it is plain Python (the common case, kept
# cheap: no second compile).
_MAYBE_IPYTHON = re.compile(r"^\s*[%!?/,;]|\?\s*$|=\s*[!%]", re.M)


def parses(source: str) -> bool:
    """Whether ``source`` is Python as IPython compiles it (top-level ``await`` allowed)."""
    try:
        compile(source, "<cell>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except (SyntaxError, ValueError):
        return False
    return True


def cell_to_python(source: str) -> list[str]:
    """The lines of ``source`` as Python, one output line per input line.

    A cell that already parses is returned unchanged (``print('%d' \\n % 3)`` is Python even
    though a line starts with ``%``); otherwise IPython's transformations are applied. The
    result may still not parse: then the cell is broken Python and the caller reports it.
    """
    lines = source.splitlines() or [""]
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return lines
    magic = _CELL_MAGIC.match(lines[first].lstrip())
    if magic:
        if magic.group("name") not in PYTHON_CELL_MAGICS:
            return [""] * len(lines)  # %%bash, %%sql, %%html ...: not Python
        rest = lines[first + 1 :]
        body = cell_to_python("\n".join(rest))[: len(rest)] if rest else []
        return [""] * (first + 1) + body + [""] * (len(rest) - len(body))
    indented = lines[first][:1].isspace()
    if not indented and not _MAYBE_IPYTHON.search(source):
        return lines
    if parses(source):
        return lines
    lines = _dedent(lines, first)
    if parses("\n".join(lines)):
        return lines
    return _rewrite(lines)


def _dedent(lines: list[str], first: int) -> list[str]:
    """IPython strips the first line's indentation from every line that starts with it."""
    line = lines[first]
    indent = line[: len(line) - len(line.lstrip())]
    if not indent:
        return lines
    return [text[len(indent) :] if text.startswith(indent) else text for text in lines]


def _rewrite(lines: list[str]) -> list[str]:
    out: list[str] = []
    scanner = _LogicalLines()
    magic_continues = False
    keep_continuation = False
    for line in lines:
        if magic_continues:
            # The rest of a `%magic \` or `!shell \` line: blank, unless it continues the
            # Python statement kept from `%time`.
            out.append(line if keep_continuation else "")
            magic_continues = line.rstrip().endswith("\\")
            if keep_continuation:
                scanner.feed(line)
            continue
        if not scanner.at_start():
            out.append(line)
            scanner.feed(line)
            continue
        python, keep_continuation = _python_line(line)
        out.append(python)
        if python != line:
            magic_continues = line.rstrip().endswith("\\")
            if keep_continuation:
                scanner.feed(python)
        else:
            scanner.feed(line)
    return out


def _python_line(line: str) -> tuple[str, bool]:
    """``(replacement, keeps_python)`` for one line at the start of a logical line."""
    stripped = line.lstrip()
    if not stripped or stripped.startswith("#"):
        return line, False
    indent = line[: len(line) - len(stripped)]
    if _HELP.match(stripped):
        return indent + "pass", False
    capture = _CAPTURE.match(stripped)
    if capture:
        timed = _timed_statement(capture.group("rhs"))
        if timed is not None:
            return indent + capture.group("lhs") + timed, True
        return indent + capture.group("lhs") + "None", False
    if stripped.startswith(_ESCAPE_START):
        timed = _timed_statement(stripped)
        if timed is not None:
            return indent + timed, True
        environment = _ENV_MAGIC.match(stripped)
        if environment:
            # `%env WANDB_API_KEY=...` sets an environment variable, as IPython runs it:
            # kept as the call IPython makes, so a credential written there is still seen
            call = f"get_ipython().run_line_magic({environment.group('name')!r}, "
            return indent + call + f"{environment.group('rest').strip()!r})", False
        return indent + "pass", False
    return line, False


def _timed_statement(text: str) -> str | None:
    """The statement of ``%time stmt`` / ``%timeit -n 3 stmt``, or None for other magics."""
    magic = _LINE_MAGIC.match(text)
    if magic is None or magic.group("name") not in _TIMING_MAGICS:
        return None
    words = magic.group("rest").split(" ")
    index = 0
    while index < len(words):
        word = words[index]
        if not word:
            index += 1
        elif word in _OPTIONS_WITH_VALUE:
            index += 2
        elif word.startswith("-") and len(word) > 1 and word[1].isalpha():
            index += 1
        else:
            break
    statement = " ".join(words[index:]).strip()
    return statement or None


class _LogicalLines:
    """Tracks whether the next physical line starts a logical Python line.

    IPython only recognises ``%`` / ``!`` / ``?`` at the start of a logical line; inside
    brackets, a triple-quoted string or after a backslash they are ordinary Python.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.quote: str | None = None  # the open triple quote, if any
        self.continued = False

    def at_start(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued

    def feed(self, line: str) -> None:
        index, end = 0, len(line)
        comment = False
        while index < end:
            if self.quote is not None:
                close = line.find(self.quote, index)
                while close > 0 and _escaped(line, close):
                    close = line.find(self.quote, close + 1)
                if close < 0:
                    index = end
                    break
                index = close + 3
                self.quote = None
                continue
            char = line[index]
            if char == "#":
                comment = True
                break
            if char in "\"'":
                triple = line[index : index + 3]
                if triple in ('"""', "'''"):
                    self.quote = triple
                    index += 3
                    continue
                index = _end_of_string(line, index)
                continue
            if char in "([{":
                self.depth += 1
            elif char in ")]}":
                self.depth = max(self.depth - 1, 0)
            index += 1
        self.continued = not comment and self.quote is None and line.rstrip().endswith("\\")


def _escaped(line: str, index: int) -> bool:
    backslashes = 0
    while index - 1 - backslashes >= 0 and line[index - 1 - backslashes] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _end_of_string(line: str, start: int) -> int:
    """Index just past the one-line string opening at ``start`` (end of line if unclosed)."""
    quote = line[start]
    index = start + 1
    while index < len(line):
        if line[index] == "\\":
            index += 2
            continue
        if line[index] == quote:
            return index + 1
        index += 1
    return len(line)
