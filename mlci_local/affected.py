"""Which models of a many-model repository a change touches.

A model's inputs are what can change its verdict: the ``dvc.yaml`` stages that make its
artifact and datasets, with every stage upstream of them (their dependencies, their
definitions, the parameter values they read), its own code paths (``paths``, ``tests``, the
static checks' ``paths``), its data files, and its configuration as merged over the shared
defaults. A model runs when one of them differs between the base and the working tree.

The base: on a branch, its merge base with the default branch (what a pull request
changes); on the default branch itself, per model, the commit of its last passed run in the
ledger (what landed since it was last proven); ``--since REF`` overrides both. A model that
never passed a run always runs. ``dvc.lock`` is an output (lineage), never an input.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import ConfigError

#: Refs tried, in order, for the default branch a branch's merge base is taken with.
DEFAULT_BRANCHES = ("origin/HEAD", "origin/main", "origin/master", "main", "master")


@dataclass(frozen=True)
class Affected:
    """Why a model runs (``reason``), or why not (``reason`` None: its inputs are unchanged
    since ``base``)."""

    model: str
    base: str | None
    reason: str | None

    @property
    def runs(self) -> bool:
        return self.reason is not None


def affected_models(
    project: Any, *, since: str | None = None, ledger: Any = None
) -> dict[str, Affected]:
    """Each model of ``project`` (by table name) with whether and why it must run."""
    root = project.root
    if not _git(root, "rev-parse", "--git-dir", check=False):
        return {name: Affected(name, None, "not a git repository") for name in project.models}
    head = _git(root, "rev-parse", "HEAD", check=False)
    if since is not None:
        base = _git(root, "rev-parse", "--verify", f"{since}^{{commit}}", check=False)
        if not base:
            raise ConfigError(f"--since {since!r} is not a commit of this repository")
        bases = dict.fromkeys(project.models, base)
    else:
        branch_base = _branch_base(root, head)
        if branch_base is not None:
            bases = dict.fromkeys(project.models, branch_base)
        else:  # on the default branch: each model since its last passed run
            bases = {
                name: _last_passed_commit(ledger, config.model) if ledger is not None else None
                for name, config in project.models.items()
            }
    changed_cache: dict[str, list[str]] = {}
    now = _Now(_dvc_document(root), _tables(project.source))
    found = {}
    for name, config in project.models.items():
        base = bases[name]
        if base is None:
            found[name] = Affected(name, None, "no passed run yet")
            continue
        if _git(root, "cat-file", "-e", f"{base}^{{commit}}", check=False) is None:
            found[name] = Affected(name, base, f"its base {base[:8]} is not in this clone")
            continue
        if base not in changed_cache:
            changed_cache[base] = changed_files(root, base)
        found[name] = Affected(name, base, _reason(config, base, changed_cache[base], now))
    return found


def changed_files(root: Path, base: str) -> list[str]:
    """Paths (relative to ``root``, POSIX) that differ between ``base`` and the working tree,
    untracked files included."""
    tracked = _git(root, "diff", "--name-only", "--relative", base, "--", ".") or ""
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "--", ".") or ""
    return sorted({line for line in (tracked + "\n" + untracked).splitlines() if line.strip()})


def model_inputs(config: MlciConfig, document: Mapping[str, Any] | None = None) -> InputSet:
    """What ``config``'s model is built and judged from (see the module docstring)."""
    root = config.root
    document = _dvc_document(root) if document is None else document
    stages = document.get("stages") or {}
    wanted = [config.artifact]
    for dataset in config.datasets.values():
        wanted += [dataset.path] + ([dataset.reference] if dataset.reference else [])
    closure = _upstream(root, stages, _producers(root, stages, wanted))
    paths: set[str] = set()
    for name in closure:
        stage = stages[name]
        wdir = root / stage.get("wdir", ".")
        for dep in stage.get("deps") or []:
            paths.add(_relative(root, wdir / (dep if isinstance(dep, str) else next(iter(dep)))))
    for path in wanted[1:]:  # data no stage makes is an input itself
        if not _producers(root, stages, [path]):
            paths.add(_relative(root, Path(path)))
    for own in (*config.paths, *config.tests, *config.static.paths):
        paths.add(PurePosixPath(own).as_posix().rstrip("/"))
    return InputSet(frozenset(p for p in paths if p and not p.startswith("..")), closure)


@dataclass(frozen=True)
class InputSet:
    """A model's input paths (files or folders, relative to the root) and its DVC stages."""

    paths: frozenset[str]
    stages: tuple[str, ...]

    def touched_by(self, changed: Iterable[str]) -> list[str]:
        """The changed paths that are, or lie inside, one of the inputs."""
        return [
            path
            for path in changed
            if any(path == own or path.startswith(own + "/") or own == "." for own in self.paths)
        ]


@dataclass(frozen=True)
class _Now:
    """The working tree's dvc.yaml and merged model tables, read once for every model."""

    document: Mapping[str, Any]
    tables: Mapping[str, Any] | None


def _reason(config: MlciConfig, base: str, changed: list[str], now: _Now) -> str | None:
    root = config.root
    document = now.document
    inputs = model_inputs(config, document)
    touched = inputs.touched_by(c for c in changed if PurePosixPath(c).name != "dvc.lock")
    if touched:
        more = f" and {len(touched) - 3} more" if len(touched) > 3 else ""
        return f"{', '.join(touched[:3])}{more} changed since {base[:8]}"
    old_stages = _dvc_document_at(root, base).get("stages") or {}
    new_stages = document.get("stages") or {}
    redefined = [n for n in inputs.stages if old_stages.get(n) != new_stages.get(n)]
    if redefined:
        return f"dvc.yaml stage {', '.join(redefined)} changed since {base[:8]}"
    params = _changed_params(root, base, [new_stages[n] for n in inputs.stages], changed)
    if params:
        return f"parameter {', '.join(params[:3])} changed since {base[:8]}"
    relative = config.source.relative_to(root).as_posix()
    old = _tables_at(root, relative, base)
    if now.tables is None or old is None or old.get(config.label) != now.tables.get(config.label):
        return f"its configuration changed since {base[:8]}"
    return None


def _changed_params(
    root: Path, base: str, stages: list[Mapping[str, Any]], changed: list[str]
) -> list[str]:
    """The parameters the stages read whose value differs at ``base``."""
    import yaml

    keys_by_file: dict[str, set[str]] = {}
    for stage in stages:
        for entry in stage.get("params") or []:
            if isinstance(entry, str):
                keys_by_file.setdefault("params.yaml", set()).add(entry)
            elif isinstance(entry, dict):
                for file, keys in entry.items():
                    keys_by_file.setdefault(file, set()).update(keys or [])
    found = []
    for file, keys in keys_by_file.items():
        if file not in changed:
            continue
        here = root / file
        now = yaml.safe_load(here.read_text(encoding="utf-8")) if here.is_file() else {}
        before = yaml.safe_load(_git(root, "show", f"{base}:./{file}", check=False) or "") or {}
        for key in sorted(keys):
            if _dotted(now, key) != _dotted(before, key):
                found.append(key)
    return found


def _dotted(document: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def _tables(source: Path) -> dict[str, Any] | None:
    """Each model's table merged over the template; None when it cannot be read."""
    from pytest_mlci.project import model_tables, read_table

    try:
        table, prefix = read_table(source)
        if "models" not in table:
            return None
        return model_tables(table, source=source, prefix=prefix)
    except ConfigError:
        return None


@functools.lru_cache(maxsize=64)
def _tables_at(root: Path, relative: str, base: str) -> dict[str, Any] | None:
    """:func:`_tables` of the configuration file as commit ``base`` holds it (a commit
    never changes, so this is read once per process)."""
    import tempfile

    text = _git(root, "show", f"{base}:./{relative}", check=False)
    if text is None:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        old_source = Path(scratch) / Path(relative).name
        old_source.write_text(text, encoding="utf-8")
        return _tables(old_source)


def _producers(root: Path, stages: Mapping[str, Any], paths: list[Path]) -> list[str]:
    wanted = {Path(p).resolve() for p in paths}
    names = []
    for name, stage in stages.items():
        wdir = root / stage.get("wdir", ".")
        for out in _outs(stage):
            resolved = (wdir / out).resolve()
            if resolved in wanted or any(resolved in w.parents for w in wanted):
                names.append(name)
                break
    return names


def _upstream(root: Path, stages: Mapping[str, Any], start: list[str]) -> tuple[str, ...]:
    """``start`` and every stage whose outputs they (transitively) depend on."""
    outputs = {
        name: {(root / stage.get("wdir", ".") / out).resolve() for out in _outs(stage)}
        for name, stage in stages.items()
    }
    seen: list[str] = []
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen or name not in stages:
            continue
        seen.append(name)
        stage = stages[name]
        wdir = root / stage.get("wdir", ".")
        for dep in stage.get("deps") or []:
            path = (wdir / (dep if isinstance(dep, str) else next(iter(dep)))).resolve()
            for other, outs in outputs.items():
                if any(path == out or out in path.parents or path in out.parents for out in outs):
                    todo.append(other)
    return tuple(sorted(seen))


def _outs(stage: Mapping[str, Any]) -> list[str]:
    found = []
    for key in ("outs", "metrics", "plots"):
        for out in stage.get(key) or []:
            found.append(out if isinstance(out, str) else next(iter(out)))
    return found


def _relative(root: Path, path: Path) -> str:
    resolved = (root / path).resolve() if not path.is_absolute() else path.resolve()
    try:
        return resolved.relative_to(root.resolve()).as_posix()
    except ValueError:
        return ""


def lock_entries(text: str, stages: Iterable[str]) -> dict[str, Any]:
    """The entries of ``stages`` in a dvc.lock's text (missing ones as None)."""
    import yaml

    document = (yaml.safe_load(text) if text.strip() else None) or {}
    found = document.get("stages") or {}
    return {name: found.get(name) for name in stages}


def _dvc_document(root: Path) -> dict[str, Any]:
    import yaml

    path = root / "dvc.yaml"
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


@functools.lru_cache(maxsize=64)
def _dvc_document_at(root: Path, base: str) -> dict[str, Any]:
    import yaml

    text = _git(root, "show", f"{base}:./dvc.yaml", check=False)
    return (yaml.safe_load(text) or {}) if text else {}


def _branch_base(root: Path, head: str | None) -> str | None:
    """The merge base with the default branch, or None on the default branch itself (or a
    detached HEAD on its history, as CI checks out a pushed commit)."""
    for ref in DEFAULT_BRANCHES:
        if not _git(root, "rev-parse", "--verify", "--quiet", ref, check=False):
            continue
        base = _git(root, "merge-base", "HEAD", ref, check=False)
        if base and base != head:
            return base
        if ref == "origin/HEAD":
            ref = (
                _git(root, "symbolic-ref", "--short", "refs/remotes/origin/HEAD", check=False)
                or ref
            )
        current = _git(root, "symbolic-ref", "--short", "-q", "HEAD", check=False)
        default = ref.removeprefix("origin/")
        if base and current and current != default:  # a new branch, nothing committed yet
            return base
        return None
    return None


def _last_passed_commit(ledger: Any, model: str) -> str | None:
    """The commit the model's newest passed run started from (its ``run.start`` record)."""
    if not ledger.exists():
        return None
    ends = ledger.find("run", model=model)
    passed = [r.data.get("run") for r in ends if r.data.get("outcome") == "passed"]
    if not passed:
        return None
    for record in reversed(ledger.find("run.start", model=model)):
        if record.data.get("run") == passed[-1] and record.data.get("commit"):
            return str(record.data["commit"])
    return None


def _git(root: Path, *args: str, check: bool = True) -> str | None:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if check:
            raise ConfigError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return None
    return done.stdout.strip()
