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
        from pytest_mlci.rules import source_files

        files = sorted(
            {
                p.resolve()
                for p in source_files(root / e for e in mlci_config.static.paths)
                if p.is_file()
            }
        )
        for path in files:
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


def _state_key() -> Any:
    from pytest_mlci.session import STATE_KEY

    return STATE_KEY
