"""Turn a ``.py`` file or an ``.ipynb`` notebook into one Python source with a position map.

A notebook is analysed as its code cells concatenated in order, because that is the order a
reader runs them in and values flow from cell to cell. Each cell is first turned into the
Python IPython would run (``ipython_cells``: magics, ``!shell`` lines, ``obj?`` help and
whole-cell indentation, with the same line count). Each line of the combined source
remembers its cell and its line inside the cell, so findings point where the user will look.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pytest_mlci.analysis.ipython_cells import cell_to_python

_NOQA = re.compile(r"#\s*noqa(?P<sep>\s*:\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)
_CELL_NOQA = re.compile(r"^\s*#\s*mlci\s*:\s*noqa(?:\s*:\s*(?P<codes>[A-Z0-9,\s]+))?\s*$", re.I)
ALL = "*"


class NotebookError(ValueError):
    """The notebook is not valid JSON or not shaped like an nbformat 4 document."""


@dataclass
class SourceUnit:
    """Source text to parse plus what is needed to map positions and honour ``noqa``.

    ``cells[i]`` is ``(cell_number, line_in_cell)`` for line ``i + 1`` of ``text``; it is empty
    for plain ``.py`` files, whose lines map to themselves.
    """

    path: str
    text: str
    cells: list[tuple[int, int]] = field(default_factory=list)
    cell_noqa: dict[int, frozenset[str]] = field(default_factory=dict)
    _line_noqa: dict[int, frozenset[str]] | None = None

    @property
    def is_notebook(self) -> bool:
        return bool(self.cells) or self.path.endswith(".ipynb")

    def locate(self, line: int) -> tuple[int | None, int]:
        """``(cell, line)`` as the user sees it for a line of the combined source."""
        if not self.cells:
            return None, line
        if 1 <= line <= len(self.cells):
            return self.cells[line - 1]
        return self.cells[-1][0], line

    def suppressed(self, code: str, line: int) -> bool:
        """True when ``# noqa`` on the line or ``# mlci: noqa`` heading the cell covers ``code``."""
        if self._line_noqa is None:
            self._line_noqa = _scan_noqa(self.text)
        codes = self._line_noqa.get(line)
        if codes is not None and (ALL in codes or code in codes):
            return True
        if self.cell_noqa:
            cell, _ = self.locate(line)
            codes = self.cell_noqa.get(cell) if cell is not None else None
            if codes is not None and (ALL in codes or code in codes):
                return True
        return False


def _scan_noqa(text: str) -> dict[int, frozenset[str]]:
    found: dict[int, frozenset[str]] = {}
    if "noqa" not in text.lower():
        return found
    for number, line in enumerate(text.splitlines(), start=1):
        if "#" not in line:
            continue
        match = _NOQA.search(line)
        if match is None:
            continue
        if match.group("codes"):
            found[number] = frozenset(re.split(r"[\s,]+", match.group("codes").upper().strip()))
        elif not match.group("sep"):
            found[number] = frozenset({ALL})
    return found


def python_unit(path: str, text: str) -> SourceUnit:
    """A plain Python file: nothing to map."""
    return SourceUnit(path=path, text=text)


def notebook_unit(path: str, raw: str) -> SourceUnit:
    """Concatenate the code cells of a notebook; raise NotebookError if corrupt.

    nbformat 4 keeps cells in ``cells`` with their code in ``source``; nbformat 3 (still
    common in older course repositories) keeps them in ``worksheets[*].cells`` with the code
    of a code cell in ``input``. Both are read, so an old notebook is checked, not skipped.
    """
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"notebook is not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    cells = document.get("cells") if isinstance(document, dict) else None
    code_key = "source"
    if (
        cells is None
        and isinstance(document, dict)
        and isinstance(document.get("worksheets"), list)
    ):
        cells = [
            cell
            for sheet in document["worksheets"]
            if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list)
            for cell in sheet["cells"]
        ]
        code_key = "input"
    if not isinstance(cells, list):
        raise NotebookError(
            "notebook has no 'cells' list (nbformat 4) nor 'worksheets' (nbformat 3)"
        )
    lines: list[str] = []
    mapping: list[tuple[int, int]] = []
    cell_noqa: dict[int, frozenset[str]] = {}
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get(code_key, "")
        if isinstance(source, list):
            source = "".join(str(part) for part in source)
        if not isinstance(source, str):
            raise NotebookError(f"cell {number} has a source that is not text")
        cell_lines = source.splitlines() or [""]
        header = _CELL_NOQA.match(cell_lines[0])
        if header:
            codes = header.group("codes")
            cell_noqa[number] = (
                frozenset(c for c in re.split(r"[\s,]+", codes.upper()) if c)
                if codes and codes.strip()
                else frozenset({ALL})
            )
        cell_lines = cell_to_python(source)
        for offset, line in enumerate(cell_lines, start=1):
            lines.append(line)
            mapping.append((number, offset))
    return SourceUnit(path=path, text="\n".join(lines) + "\n", cells=mapping, cell_noqa=cell_noqa)
