"""Where a model came from: the git commit, the DVC lock entries, the params.

The ``dvc.lock`` entries are copied verbatim (the text of the lock file), because that is
DVC's own record of which data and code hashes produced the artifact.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GitState:
    """The commit a run was made from, and whether the tree had uncommitted changes."""

    commit: str
    branch: str
    dirty: bool | None
    author: str = "unknown"  # the commit author's email: may not approve its own release

    def tags(self) -> dict[str, str]:
        return {
            "mlci.git.commit": self.commit,
            "mlci.git.branch": self.branch,
            "mlci.git.dirty": "unknown" if self.dirty is None else str(self.dirty).lower(),
            "mlci.git.author": self.author,
        }


def git_state(root: Path) -> GitState:
    """Read HEAD, the branch and the dirty flag; 'none' outside a git repository."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return GitState("none", "none", None)
    status = git("status", "--porcelain", "--untracked-files=no")
    return GitState(
        commit=commit,
        branch=git("rev-parse", "--abbrev-ref", "HEAD") or "unknown",
        dirty=None if status is None else bool(status),
        author=git("log", "-1", "--format=%ae") or "unknown",
    )


@dataclass(frozen=True)
class DvcLineage:
    """The lock file's text and the hash of every output and dependency it records."""

    lock_text: str
    hashes: dict[str, str] = field(default_factory=dict)


def dvc_lineage(root: Path) -> DvcLineage:
    """Parse ``dvc.lock``: path → md5 of every stage's deps and outs (empty if absent)."""
    import yaml

    lock = root / "dvc.lock"
    if not lock.is_file():
        return DvcLineage("")
    text = lock.read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text) or {}
    hashes: dict[str, str] = {}
    for stage in (document.get("stages") or {}).values():
        for entry in [*(stage.get("deps") or []), *(stage.get("outs") or [])]:
            digest = entry.get("md5") or entry.get("hash") or entry.get("etag")
            if entry.get("path") and digest:
                hashes[entry["path"]] = str(digest)
    return DvcLineage(text, hashes)


def read_params(root: Path) -> dict[str, Any]:
    """``params.yaml`` as a dict (empty when there is none)."""
    import yaml

    params = root / "params.yaml"
    if not params.is_file():
        return {}
    return yaml.safe_load(params.read_text(encoding="utf-8")) or {}
