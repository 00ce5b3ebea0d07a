"""Where a model came from: the git commit, the DVC lock entries, the params.

The ``dvc.lock`` entries are copied verbatim (the text of the lock file), because that is
DVC's own record of which data and code hashes produced the artifact.

"Dirty" means the tree holds changes the commit does not: code or params a reviewer never
saw. A run's own outputs are not such changes: a project that tracks ``dvc.lock`` in git sees
it rewritten by the very ``dvc repro`` that trained the model, so a file whose content is
exactly what this run wrote (``own_outputs``) is reported apart, never as dirty.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
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
    # tracked files that differ from the commit only by what this run wrote (e.g. dvc.lock)
    run_outputs: tuple[str, ...] = ()

    def tags(self) -> dict[str, str]:
        return {
            "mlci.git.commit": self.commit,
            "mlci.git.branch": self.branch,
            "mlci.git.dirty": "unknown" if self.dirty is None else str(self.dirty).lower(),
            "mlci.git.author": self.author,
        }


def git_state(root: Path, *, own_outputs: Mapping[Path, str] | None = None) -> GitState:
    """Read HEAD, the branch and the dirty flag; 'none' outside a git repository.

    ``own_outputs`` maps files this run wrote to the sha256 of what it wrote; a modified
    tracked file among them that still holds exactly that content does not make the tree
    dirty (it is listed in ``run_outputs``). Any other change, or the same file edited
    since, does.
    """

    def git(*args: str, strip: bool = True) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0:
            return None
        return done.stdout.strip() if strip else done.stdout

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return GitState("none", "none", None)
    # -z: paths verbatim (no quoting) and relative to the repository root; not stripped,
    # since an entry starts with a space when only the worktree changed
    status = git("status", "--porcelain", "-z", "--untracked-files=no", strip=False)
    changed = None if status is None else _changed_paths(status)
    ours: list[str] = []
    if changed and own_outputs:
        top = git("rev-parse", "--show-toplevel")
        written = {Path(p).resolve(): digest for p, digest in own_outputs.items()}
        for relative in list(changed):
            path = (Path(top) / relative).resolve() if top else None
            if path is not None and path in written and sha256_of(path) == written[path]:
                changed.remove(relative)
                ours.append(relative)
    return GitState(
        commit=commit,
        branch=git("rev-parse", "--abbrev-ref", "HEAD") or "unknown",
        dirty=None if changed is None else bool(changed),
        author=git("log", "-1", "--format=%ae") or "unknown",
        run_outputs=tuple(ours),
    )


def _changed_paths(porcelain_z: str) -> list[str]:
    """Paths (relative to the repository root) in ``git status --porcelain -z`` output.

    Each entry is ``XY path``; a rename or copy is followed by its source path as a separate
    NUL-terminated field, which is skipped (the old name is gone from the tree).
    """
    fields = porcelain_z.split("\0")
    paths: list[str] = []
    index = 0
    while index < len(fields):
        entry = fields[index]
        index += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":
            index += 1
    return paths


def sha256_of(path: Path) -> str | None:
    """The sha256 of a file's bytes (None when it is absent or unreadable)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


@dataclass(frozen=True)
class DvcLineage:
    """The lock file's text and the hash of every output and dependency it records."""

    lock_text: str
    hashes: dict[str, str] = field(default_factory=dict)

    sha256: str | None = None  # of the file's bytes, to compare with what a run wrote


def dvc_lineage(root: Path) -> DvcLineage:
    """Parse ``dvc.lock``: path → md5 of every stage's deps and outs (empty if absent)."""
    import yaml

    lock = root / "dvc.lock"
    if not lock.is_file():
        return DvcLineage("")
    data = lock.read_bytes()
    text = data.decode("utf-8")
    document: dict[str, Any] = yaml.safe_load(text) or {}
    hashes: dict[str, str] = {}
    for stage in (document.get("stages") or {}).values():
        for entry in [*(stage.get("deps") or []), *(stage.get("outs") or [])]:
            digest = entry.get("md5") or entry.get("hash") or entry.get("etag")
            if entry.get("path") and digest:
                hashes[entry["path"]] = str(digest)
    return DvcLineage(text, hashes, hashlib.sha256(data).hexdigest())


def read_params(root: Path) -> dict[str, Any]:
    """``params.yaml`` as a dict (empty when there is none)."""
    import yaml

    params = root / "params.yaml"
    if not params.is_file():
        return {}
    return yaml.safe_load(params.read_text(encoding="utf-8")) or {}
