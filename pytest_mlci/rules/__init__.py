"""The static ML rules: the one code table and the functions that run it.

Codes: MLC0xx leakage, MLC1xx nondeterminism, MLC2xx hard-coded values, MLC9xx opt-in
(reported only when selected). MLC000 is not a rule: it reports a file that could not be
analysed (syntax error, unreadable file, corrupt notebook), so a broken file never passes
silently.

Each rule is a module named after the pattern it flags, with ``CODE``, ``FAMILY``,
``MESSAGE``, a docstring that is its documentation, and ``check(analysis)`` yielding
findings. Everything here is standard library only: pre-commit runs it on every commit.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType

from pytest_mlci.analysis import (
    HIGH,
    MEDIUM,
    Analysis,
    Finding,
    NotebookError,
    SourceUnit,
    analyse,
    notebook_unit,
)
from pytest_mlci.analysis import python_unit as _python_unit
from pytest_mlci.config import StaticSettings
from pytest_mlci.rules import (
    absolute_path,
    cross_validation_over_prefitted,
    estimator_without_seed,
    fit_on_test_data,
    hardcoded_secret,
    magic_threshold,
    nondeterministic_backend,
    preprocessing_before_split,
    set_order_features,
    target_encoding_before_split,
    test_data_used_for_selection,
    unseeded_generator,
    unseeded_global_random,
)

__all__ = [
    "PARSE_ERROR",
    "RULES",
    "Finding",
    "check_file",
    "check_paths",
    "check_source",
    "enabled_codes",
]

PARSE_ERROR = "MLC000"
# which confidences each setting of `confidence` reports
_CONFIDENT_ENOUGH = {HIGH: frozenset({HIGH}), MEDIUM: frozenset({HIGH, MEDIUM})}

RULES: Mapping[str, ModuleType] = {
    module.CODE: module
    for module in (
        preprocessing_before_split,
        fit_on_test_data,
        test_data_used_for_selection,
        cross_validation_over_prefitted,
        target_encoding_before_split,
        estimator_without_seed,
        unseeded_generator,
        unseeded_global_random,
        nondeterministic_backend,
        set_order_features,
        absolute_path,
        hardcoded_secret,
        magic_threshold,
    )
}

_SKIP_DIRS = frozenset({".venv", "venv", "__pycache__", "node_modules", "site-packages"})
_SUFFIXES = (".py", ".ipynb")


def _matches(code: str, selectors: Iterable[str]) -> bool:
    return any(code.startswith(selector.strip().upper()) for selector in selectors if selector)


def enabled_codes(settings: StaticSettings | None = None) -> list[str]:
    """The rule codes that run under ``settings``, in table order.

    ``select`` keeps only codes starting with one of its entries (``"MLC0"``, ``"MLC101"``);
    opt-in MLC9xx rules need an entry that is itself an MLC9 selector, so ``select =
    ["MLC"]`` does not switch them on by accident. ``ignore`` removes codes by prefix.
    """
    settings = settings or StaticSettings()
    codes = []
    for code, rule in RULES.items():
        opt_in = rule.FAMILY == "opt-in"
        if settings.select:
            if not _matches(code, settings.select):
                continue
            if opt_in and not _matches(
                code, [s for s in settings.select if s.upper().startswith("MLC9")]
            ):
                continue
        elif opt_in:
            continue
        if _matches(code, settings.ignore):
            continue
        codes.append(code)
    return codes


def _ignored_for_path(path: str, settings: StaticSettings) -> list[str]:
    """Codes switched off for ``path`` by ``per_file_ignores`` (globs on the cwd-relative path)."""
    if not settings.per_file_ignores:
        return []
    candidates = {Path(path).as_posix()}
    with contextlib.suppress(ValueError):  # ValueError: another drive on Windows
        candidates.add(Path(os.path.relpath(Path(path).resolve(), Path.cwd())).as_posix())
    ignored: list[str] = []
    for pattern, codes in settings.per_file_ignores.items():
        if any(fnmatch.fnmatch(candidate, pattern) for candidate in candidates):
            ignored.extend(codes)
    return ignored


def _run(unit: SourceUnit, settings: StaticSettings | None) -> list[Finding]:
    settings = settings or StaticSettings()
    ignored = [*settings.ignore, *_ignored_for_path(unit.path, settings)]
    analysis, errors = _parse(unit)
    if _matches(PARSE_ERROR, ignored):
        errors = []
    if analysis is None:
        return errors
    findings: dict[tuple[str, int, int, int], Finding] = {}
    for code in enabled_codes(settings):
        if _matches(code, ignored):
            continue
        for finding in RULES[code].check(analysis):
            key = (finding.code, finding.cell or 0, finding.line, finding.col)
            if key in findings and (findings[key].confidence == HIGH or finding.confidence != HIGH):
                continue  # one finding per place: the most certain of them
            line = getattr(finding, "line", 1)
            source_line = _source_line(unit, finding.cell, line)
            if unit.suppressed(finding.code, source_line):
                continue
            findings[key] = finding
    wanted = _CONFIDENT_ENOUGH[settings.confidence]
    return sorted(
        [f for f in (*errors, *findings.values()) if f.confidence in wanted],
        key=Finding.sort_key,
    )


_MAX_BROKEN_CELLS = 20


def _parse(unit: SourceUnit) -> tuple[Analysis | None, list[Finding]]:
    """Parse ``unit``; a notebook cell that does not parse is reported and left out, so one
    broken cell does not switch off the checks for the rest of the notebook."""
    errors: list[Finding] = []
    for _ in range(_MAX_BROKEN_CELLS + 1):
        try:
            return analyse(unit), errors
        except SyntaxError as exc:
            line = exc.lineno or 1
            cell, line_in_cell = unit.locate(line)
            message = (
                f"cannot parse: {exc.msg}; no ML checks ran on this file"
                if cell is None
                else f"cannot parse notebook cell {cell} as Python or IPython: {exc.msg}; "
                f"cell {cell} was skipped (a notebook parse problem, not a finding about the "
                "ML code)"
            )
            errors.append(
                Finding(
                    PARSE_ERROR,
                    message,
                    unit.path,
                    line_in_cell,
                    max(exc.offset or 1, 1),
                    cell,
                    # a cell IPython cannot run either is a homework placeholder or a demo of
                    # a syntax error far more often than a broken pipeline: the rest of the
                    # notebook is still checked, so this is only worth a look on request
                    HIGH if cell is None else MEDIUM,
                )
            )
            if cell is None:
                return None, errors
            unit = _without_cell(unit, cell)
    return None, errors


def _without_cell(unit: SourceUnit, cell: int) -> SourceUnit:
    lines = unit.text.split("\n")
    for index, (number, _) in enumerate(unit.cells):
        if number == cell and index < len(lines):
            lines[index] = ""
    return SourceUnit(unit.path, "\n".join(lines), unit.cells, unit.cell_noqa)


def _source_line(unit: SourceUnit, cell: int | None, line: int) -> int:
    """Back from (cell, line in cell) to a line of the combined source, for ``noqa``."""
    if cell is None:
        return line
    for index, position in enumerate(unit.cells, start=1):
        if position == (cell, line):
            return index
    return line


def check_source(source: str, path: str, settings: StaticSettings | None = None) -> list[Finding]:
    """Run the enabled rules on source text; ``path`` names it in findings and picks the format.

    A ``path`` ending in ``.ipynb`` means ``source`` is the notebook's JSON.
    """
    if path.endswith(".ipynb"):
        try:
            unit = notebook_unit(path, source)
        except NotebookError as exc:
            return _unreadable(path, str(exc), settings)
    else:
        unit = _python_unit(path, source)
    return _run(unit, settings)


def _unreadable(path: str, reason: str, settings: StaticSettings | None) -> list[Finding]:
    settings = settings or StaticSettings()
    ignored = [*settings.ignore, *_ignored_for_path(path, settings)]
    if _matches(PARSE_ERROR, ignored):
        return []
    return [Finding(PARSE_ERROR, f"{reason}; no ML checks ran on this file", path, 1, 1)]


def check_file(path: Path, settings: StaticSettings | None = None) -> list[Finding]:
    """Check one ``.py`` or ``.ipynb`` file; problems reading it become an MLC000 finding."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return _unreadable(name, f"cannot read file ({exc.strerror or exc})", settings)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _unreadable(name, "file is not UTF-8 text", settings)
    return check_source(text, name, settings)


def source_files(paths: Iterable[str | Path]) -> Iterable[Path]:
    """The .py and .ipynb files under ``paths`` (hidden, virtualenv and cache folders skipped);
    a named file is yielded even if missing, so checking it reports it as unreadable."""
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            for directory, subdirs, files in os.walk(path):
                subdirs[:] = sorted(
                    d for d in subdirs if not d.startswith(".") and d not in _SKIP_DIRS
                )
                for name in sorted(files):
                    if name.endswith(_SUFFIXES):
                        yield Path(directory) / name
        elif path.suffix in _SUFFIXES or not path.exists():
            yield path


def check_paths(
    paths: Iterable[str | Path], settings: StaticSettings | None = None
) -> list[Finding]:
    """Check files and directories (expanded to ``*.py`` / ``*.ipynb``, skipping hidden
    directories, virtualenvs and ``__pycache__``); findings sorted by file and position."""
    findings: list[Finding] = []
    seen: set[Path] = set()
    for path in source_files(paths):
        if path in seen:
            continue
        seen.add(path)
        findings.extend(check_file(path, settings))
    return sorted(findings, key=Finding.sort_key)
