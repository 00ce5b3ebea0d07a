"""The standard-library-only engine the static ML rules share.

``analyse(unit)`` parses a :class:`SourceUnit` (a ``.py`` file, or a notebook turned into one
source with a cell map) and runs the def-use :class:`Flow` over it once; rules then read
events off the returned :class:`Analysis` and report :class:`Finding` objects through it, so
that notebook positions are mapped back to cells in one place.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pytest_mlci.analysis.finding import HIGH, MEDIUM, Finding
from pytest_mlci.analysis.flow import CallSite, FitEvent, Flow, Leak, SplitEvent, Value
from pytest_mlci.analysis.seeds import Seeds
from pytest_mlci.analysis.source import NotebookError, SourceUnit, notebook_unit, python_unit

__all__ = [
    "HIGH",
    "MEDIUM",
    "Analysis",
    "CallSite",
    "Finding",
    "FitEvent",
    "Flow",
    "Leak",
    "NotebookError",
    "Seeds",
    "SourceUnit",
    "SplitEvent",
    "Value",
    "analyse",
    "called_name",
    "notebook_unit",
    "python_unit",
]


_WITH_DOCSTRINGS = frozenset({ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef})
_PLACEHOLDER = re.compile(r"#.*\b(?:YOUR CODE|TODO|FIXME|FILL (?:IN|ME))\b", re.IGNORECASE)


@dataclass
class Analysis:
    """One parsed module, its flow, and the means to report a finding at a node."""

    unit: SourceUnit
    tree: ast.Module

    @cached_property
    def nodes(self) -> list[ast.AST]:
        """Every node of the tree, walked once and shared by all rules (walking is the cost)."""
        return walk(self.tree)

    @cached_property
    def docstrings(self) -> frozenset[int]:
        """ids of the docstring constants of the module, its classes and its functions."""
        found = set()
        for node in self.nodes:
            if type(node) in _WITH_DOCSTRINGS:  # exact types: cheaper than isinstance here
                body = node.body  # type: ignore[attr-defined]
                if (
                    body
                    and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                ):
                    found.add(id(body[0].value))
        return frozenset(found)

    @cached_property
    def flow(self) -> Flow:
        name = Path(self.unit.path).name
        pytest_module = (
            name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
        )
        return Flow(self.tree, name_roles=not pytest_module, nodes=self.nodes)

    @cached_property
    def seeds(self) -> Seeds:
        return Seeds(self.flow)

    @cached_property
    def _lines(self) -> list[str]:
        return self.unit.text.split("\n")

    def _unfinished(self, first: int, last: int) -> bool:
        """Whether lines ``first..last`` hold a placeholder the author left for someone to
        fill in (``# YOUR CODE``, ``# TODO``): an exercise, not the code that will run."""
        for text in self._lines[first - 1 : min(last, first + 20)]:
            if "#" in text and _PLACEHOLDER.search(text):
                return True
        return False

    def finding(self, code: str, message: str, node: ast.AST, confidence: str = HIGH) -> Finding:
        """A finding at ``node``, mapped to the cell and line a notebook user sees."""
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0) + 1
        if confidence == HIGH and self._unfinished(line, getattr(node, "end_lineno", line)):
            confidence = MEDIUM
        cell, line_in_cell = self.unit.locate(line)
        return Finding(code, message, self.unit.path, line_in_cell, col, cell, confidence)


def called_name(call: ast.Call) -> str:
    """The last name of what ``call`` calls: ``os.walk(...)`` -> ``walk``, ``f(...)`` -> ``f``."""
    func = call.func
    return func.attr if type(func) is ast.Attribute else getattr(func, "id", "")


def walk(tree: ast.AST) -> list[ast.AST]:
    """All nodes, breadth first, like ``ast.walk`` but about twice as fast (no generators)."""
    found = [tree]
    index = 0
    while index < len(found):
        node = found[index]
        index += 1
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                found.extend(item for item in value if isinstance(item, ast.AST))
            elif isinstance(value, ast.AST):
                found.append(value)
    return found


def analyse(unit: SourceUnit) -> Analysis:
    """Parse ``unit``; raises SyntaxError for the caller to turn into an MLC000 finding."""
    flags = ast.PyCF_ONLY_AST
    if unit.is_notebook:
        flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT  # IPython runs `await` at the top of a cell
    return Analysis(unit, compile(unit.text, unit.path, "exec", flags, dont_inherit=True))
