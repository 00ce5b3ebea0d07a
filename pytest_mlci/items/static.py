"""One item per source file: the static ML rules, cached by file content.

As pytest-mypy and pytest-ruff do, each checked file is its own item so a report names the
file, ``-m mlci_leakage`` (or ``mlci_nondeterminism``, ``mlci_hardcoded``) selects them, and
``config.cache`` remembers the findings of unchanged files so they cost nothing next run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_mlci import __version__
from pytest_mlci.errors import CheckFailed
from pytest_mlci.items.base import MlciCollector, MlciItem

CACHE_PREFIX = "mlci/static/"


class StaticCollector(MlciCollector):
    """Collects one :class:`StaticFileItem` per .py / .ipynb file under the static paths."""

    def collect(self) -> Iterator[StaticFileItem]:
        mlci_config = self.config.stash[_state_key()].config
        root = mlci_config.root
        for path in _source_files(root, mlci_config.static.paths):
            relative = path.relative_to(root).as_posix()
            yield StaticFileItem.from_parent(self, name=relative, path=path)


class StaticFileItem(MlciItem):
    """Runs every enabled static rule on one file."""

    markers = ("mlci_static", "mlci_leakage", "mlci_nondeterminism", "mlci_hardcoded")

    def runtest(self) -> None:
        findings = self._cached_findings()
        if findings:
            raise CheckFailed("\n".join(finding.format() for finding in findings))

    def _cached_findings(self) -> list[Any]:
        from pytest_mlci.analysis import Finding
        from pytest_mlci.rules import check_file

        settings = self.config.stash[_state_key()].config.static
        cache = getattr(self.config, "cache", None)  # absent under -p no:cacheprovider
        key = CACHE_PREFIX + _content_key(self.path, settings)
        cached = cache.get(key, None) if cache is not None else None
        if cached is not None:
            return [Finding(**entry) for entry in cached]
        findings = check_file(self.path, settings)
        if cache is not None:
            cache.set(key, [dataclasses.asdict(f) for f in findings])
        return findings


def _content_key(path: Path, settings: Any) -> str:
    digest = hashlib.sha256()
    digest.update(path.read_bytes())
    digest.update(json.dumps([str(path), __version__, repr(settings)]).encode())
    return digest.hexdigest()


def _source_files(root: Path, paths: tuple[str, ...]) -> list[Path]:
    skip = {".venv", "venv", "__pycache__", ".git", ".mlci", "node_modules"}
    found: set[Path] = set()
    for entry in paths:
        base = (root / entry).resolve()
        if base.is_file():
            found.add(base)
        elif base.is_dir():
            for candidate in base.rglob("*"):
                parts = candidate.relative_to(base).parts
                if any(part in skip or part.startswith(".") for part in parts):
                    continue
                if candidate.suffix in (".py", ".ipynb") and candidate.is_file():
                    found.add(candidate)
    return sorted(found)


def _state_key() -> Any:
    from pytest_mlci.session import STATE_KEY

    return STATE_KEY
