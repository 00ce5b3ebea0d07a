"""What ``mlci init`` finds in an existing project, and what it proposes from it.

Why a survey before writing anything: adopting pytest-mlci must not cost a project its own
files. ``dvc.yaml``, CI workflows, ``pyproject.toml`` and a pre-commit config are the user's;
``mlci init`` keeps them and reads them instead: the model file a ``dvc.yaml`` stage writes is
the ``artifact``, the test split it writes (or its evaluation stage reads) is the evaluation
data, an existing CI file gets a snippet to paste rather than a second workflow.

Everything here reads files only (YAML and TOML, no DVC, no MLflow), so it is cheap and
cannot change the project.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mlci_local.scaffold import written_by_init
from pytest_mlci.errors import ConfigError
from pytest_mlci.flavours import PICKLE_SUFFIXES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

#: Model files the flavours load (pytest_mlci/flavours.py); ``.txt``/``.json`` only when the
#: name says "model", since data and metrics use those suffixes too.
MODEL_SUFFIXES = (".skops", ".pkl", ".pickle", ".joblib", ".ubj", ".xgb", ".bst", ".lgb")
AMBIGUOUS_MODEL_SUFFIXES = (".txt", ".json", ".model")
DATA_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".jsonl", ".npz")
_EVAL_WORDS = ("test", "eval", "holdout")
_VALID_WORDS = ("valid", "val")
_TRAIN_WORDS = ("train",)
#: CI systems and the files that mean the project already has CI there.
CI_PATTERNS = {
    "github": (".github/workflows/*.yml", ".github/workflows/*.yaml"),
    "gitlab": (".gitlab-ci.yml",),
    "jenkins": ("Jenkinsfile",),
}
IGNORED_DIRS = {".git", ".dvc", ".venv", "venv", ".mlci", "node_modules", "__pycache__", "mlruns"}
#: Lines of .gitignore that already keep ``.mlci/`` out of git.
MLCI_IGNORES = {".mlci", ".mlci/", "/.mlci", "/.mlci/", ".mlci/*", "/.mlci/*", ".mlci/**"}


@dataclass(frozen=True)
class Proposal:
    """A value ``mlci init`` proposes, and where it read it (said in its output)."""

    value: str
    source: str


@dataclass(frozen=True)
class Survey:
    """The project as ``mlci init`` found it."""

    root: Path
    config_file: str | None  # mlci.toml or pyproject.toml already holding the config
    pyproject: bool  # pyproject.toml exists (the config is appended there)
    dvc_yaml: bool
    ci: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # system -> files found
    artifact: Proposal | None = None
    eval_data: Proposal | None = None


def survey(root: Path) -> Survey:
    """Read ``root``'s existing files; raise :class:`ConfigError` for ones that cannot be read."""
    config_file = None
    if (root / "mlci.toml").is_file():
        config_file = "mlci.toml"
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"not valid TOML ({exc}); fix it before `mlci init` appends [tool.mlci]",
                file="pyproject.toml",
            ) from None
        if config_file is None and isinstance(document.get("tool", {}).get("mlci"), dict):
            config_file = "pyproject.toml"
    ci = {}
    for system, patterns in CI_PATTERNS.items():
        found = sorted(
            {
                p.relative_to(root).as_posix()
                for pattern in patterns
                for p in root.glob(pattern)
                if not written_by_init(p)
            }
        )
        if found:
            ci[system] = tuple(found)
    artifact = eval_data = None
    dvc_yaml = (root / "dvc.yaml").is_file() and not written_by_init(root / "dvc.yaml")
    if dvc_yaml:
        artifact, eval_data = from_dvc_yaml(root)
    if eval_data is None:
        eval_data = _eval_among(_data_files(root), "the project's files")
    return Survey(
        root=root,
        config_file=config_file,
        pyproject=pyproject.is_file(),
        dvc_yaml=dvc_yaml,
        ci=ci,
        artifact=artifact,
        eval_data=eval_data,
    )


def from_dvc_yaml(root: Path) -> tuple[Proposal | None, Proposal | None]:
    """The model out and the evaluation data of ``dvc.yaml``'s stages (None when unclear)."""
    import yaml

    try:
        document = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file="dvc.yaml") from None
    stages = document.get("stages") if isinstance(document, dict) else None
    if not isinstance(stages, dict):
        return None, None
    models: list[tuple[int, str, str]] = []
    data: list[tuple[str, str]] = []
    for name, stage in stages.items():
        if not isinstance(stage, dict) or "foreach" in stage or "matrix" in stage:
            continue  # templated stages: their paths are only known to DVC
        outs = _paths(stage.get("outs"))
        for path in outs:
            rank = _model_rank(root, path, str(name))
            if rank:
                models.append((rank, path, f"dvc.yaml stage '{name}' outs"))
            data.append((path, f"dvc.yaml stage '{name}' outs"))
        if stage.get("metrics"):  # an evaluation stage: the data it reads is the test split
            data.extend((p, f"dvc.yaml stage '{name}' deps") for p in _paths(stage.get("deps")))
    artifact = None
    if models:
        _, path, source = max(models, key=lambda m: m[0])
        artifact = Proposal(path, source)
    expanded = []
    for path, source in data:
        if (root / path).is_dir():  # a split directory such as data/prepared/
            expanded.extend((p, source) for p in _data_files(root / path, relative_to=root))
        else:
            expanded.append((path, source))
    return artifact, _eval_among_sourced(expanded)


def _paths(entries: Any) -> list[str]:
    """``outs``/``deps``/``metrics`` entries (plain strings or one-key mappings) -> paths."""
    paths = []
    for entry in entries or []:
        path = next(iter(entry), None) if isinstance(entry, dict) else entry
        if isinstance(path, str) and "${" not in path:
            paths.append(PurePosixPath(path).as_posix())
    return paths


def _model_rank(root: Path, path: str, stage: str) -> int:
    """How much ``path`` looks like the trained model (0: not at all)."""
    pure = PurePosixPath(path)
    suffix, named = pure.suffix.lower(), "model" in pure.name.lower()
    rank = 0
    if suffix in MODEL_SUFFIXES:
        rank = 3
    elif suffix in AMBIGUOUS_MODEL_SUFFIXES and named:
        rank = 2
    elif (root / path / "MLmodel").is_file() or (not suffix and named):
        rank = 2  # an MLflow model directory
    if rank and "train" in stage.lower():
        rank += 1
    return rank


def _data_files(directory: Path, *, relative_to: Path | None = None) -> list[str]:
    """Data files under ``directory`` (two levels deep, tool folders skipped)."""
    base = relative_to or directory
    found = []
    for depth in ("*", "*/*", "*/*/*"):
        for path in sorted(directory.glob(depth)):
            parts = set(path.relative_to(directory).parts)
            if parts & IGNORED_DIRS or not path.is_file():
                continue
            if path.suffix.lower() in DATA_SUFFIXES:
                found.append(path.relative_to(base).as_posix())
    return found[:500]


def _eval_among(paths: Iterable[str], source: str) -> Proposal | None:
    return _eval_among_sourced((p, source) for p in paths)


def _eval_among_sourced(paths: Iterable[tuple[str, str]]) -> Proposal | None:
    """The best evaluation split: "test"/"eval"/"holdout" before "valid", never "train"."""
    best: tuple[int, str, str] | None = None
    for path, source in paths:
        pure = PurePosixPath(path)
        if pure.suffix.lower() not in DATA_SUFFIXES:
            continue
        name = pure.name.lower()
        if any(word in name for word in _TRAIN_WORDS):
            continue
        if any(word in name for word in _EVAL_WORDS):
            rank = 3
        elif any(word in name for word in _VALID_WORDS):
            rank = 2
        elif "deps" in source:
            rank = 1  # read by the stage that writes metrics
        else:
            continue
        if best is None or rank > best[0]:
            best = (rank, path, source)
    return Proposal(best[1], best[2]) if best else None


def is_pickle(artifact: str) -> bool:
    """A pickle-based artifact needs ``allow_pickle = true`` (said in init's output)."""
    return PurePosixPath(artifact).suffix.lower() in PICKLE_SUFFIXES


def mlci_is_ignored(root: Path) -> bool:
    """Whether ``.gitignore`` at ``root`` already keeps ``.mlci/`` out of git.

    git itself answers in a repository (any pattern, any ignore file); else the usual lines.
    """
    import shutil
    import subprocess

    git = shutil.which("git")
    if git and (root / ".git").exists():
        done = subprocess.run(
            [git, "check-ignore", "-q", ".mlci/x"], cwd=root, capture_output=True, check=False
        )
        if done.returncode in (0, 1):
            return done.returncode == 0
    ignore = root / ".gitignore"
    if not ignore.is_file():
        return False
    lines = {line.strip() for line in ignore.read_text(encoding="utf-8").splitlines()}
    return bool(lines & MLCI_IGNORES)


def ignore_lines(root: Path, entries: Iterable[str]) -> list[str]:
    """Append ``entries`` missing from ``.gitignore`` (created if absent); returns the added."""
    ignore = root / ".gitignore"
    text = ignore.read_text(encoding="utf-8") if ignore.is_file() else ""
    present = {line.strip() for line in text.splitlines()}
    added = [entry for entry in entries if entry not in present]
    if not added:
        return []
    if text and not text.endswith("\n"):
        text += "\n"
    text += "# pytest-mlci (mlci init)\n" if text else ""
    ignore.write_text(text + "".join(f"{entry}\n" for entry in added), encoding="utf-8")
    return added


# --------------------------------------------------------------------------- init


@dataclass
class InitResult:
    """What ``mlci init`` did, for its output: every file it wrote, kept, or left to the user."""

    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    appended: list[str] = field(default_factory=list)  # "pyproject.toml: [tool.mlci]"
    proposals: list[str] = field(default_factory=list)  # "artifact = ... (from ...)"
    snippets: list[tuple[str, str]] = field(default_factory=list)  # (where to paste, text)
    next_steps: list[str] = field(default_factory=list)


def initialise(
    root: Path,
    *,
    model: str,
    task: str,
    target: str,
    ci: tuple[str, ...],
    force: bool = False,
    gpu_runner: str | None = None,
) -> InitResult:
    """``mlci init`` as a plain function: survey ``root``, then write only what is missing.

    Every file that could stop it (pyproject.toml, dvc.yaml, MLproject) is read and every
    text rendered and parsed before the first write, so a refusal leaves the project as it was.
    """
    from mlci_local.mlproject import read_mlproject
    from mlci_local.scaffold import ARTIFACT, DEFAULT_EVAL, ScaffoldOptions, render, snippets
    from mlci_local.scaffold import write as write_files

    found = survey(root)
    stage = None if found.dvc_yaml else read_mlproject(root)
    result = InitResult()
    if stage is not None:
        artifact = "models/model"
        result.proposals.append(
            f"dvc.yaml stage 'train' runs MLproject entry point '{stage.entry_point}': "
            f"{stage.command}"
        )
        named = "" if stage.model_name_found else " (no log_model name found in the scripts)"
        result.proposals.append(
            f"training.mlflow_model = {stage.model_name!r}: the model the script logs{named}"
        )
    elif found.artifact is not None:
        artifact = found.artifact.value
        result.proposals.append(f"artifact = {artifact!r} (from {found.artifact.source})")
    else:
        artifact = ARTIFACT
    if found.eval_data is not None:
        eval_path = found.eval_data.value
        result.proposals.append(
            f"datasets.eval.path = {eval_path!r} (from {found.eval_data.source})"
        )
    else:
        eval_path = DEFAULT_EVAL
    allow_pickle = is_pickle(artifact) or stage is not None
    if allow_pickle:
        result.proposals.append(
            "allow_pickle = true: "
            + (
                "MLflow saves scikit-learn models with cloudpickle by default"
                if stage is not None
                else f"{artifact} is a pickle"
            )
            + "; loading runs code from the file, so only your own pipeline's output"
        )
    options = ScaffoldOptions(
        model=model,
        task=task,
        target=target,
        ci=() if found.ci else ci,
        artifact=artifact,
        eval_path=eval_path,
        allow_pickle=allow_pickle,
        mlflow_model=stage.model_name if stage is not None else None,
        config_in_pyproject=found.pyproject and found.config_file is None,
        dvc_stub=not found.dvc_yaml and stage is None,
        gpu_runner=gpu_runner,
    )
    files = render(options)
    appended_pyproject = None
    if found.config_file == "pyproject.toml":  # mlci.toml is left to write(): kept unless ours
        files.pop("mlci.toml", None)
        result.kept.append(found.config_file)
    elif options.config_in_pyproject:
        appended_pyproject = _appended(root / "pyproject.toml", files.pop("pyproject.toml"))
    if stage is not None:
        files["dvc.yaml"] = stage.dvc_yaml()
        files["params.yaml"] = stage.params_yaml()

    written, kept = write_files(root, files, force=force)
    result.written.extend(written)
    result.kept.extend(kept)
    if appended_pyproject is not None:
        _replace_keeping_mode(root / "pyproject.toml", appended_pyproject)
        result.appended.append("pyproject.toml: [tool.mlci] (the rest of the file untouched)")
    if found.dvc_yaml:
        result.kept.append("dvc.yaml")
    if stage is not None and "params.yaml" in kept:
        result.next_steps.append(
            "params.yaml was kept: make sure it has the section `train:` with "
            + ", ".join(f"{k}: {v!r}" for k, v in stage.params.items())
        )

    pasted = snippets(options)
    pre_commit = root / ".pre-commit-config.yaml"
    if ".pre-commit-config.yaml" in kept and "check-ml-code" not in pre_commit.read_text(
        encoding="utf-8"
    ):
        result.snippets.append(("under `repos:` in .pre-commit-config.yaml", pasted["pre-commit"]))
    for system, paths in found.ci.items():
        result.kept.extend(paths)
        where = {
            "github": f"under `jobs:` in {paths[0]}",
            "gitlab": f"at the top level of {paths[0]}",
            "jenkins": f"inside `stages {{ }}` of {paths[0]}",
        }[system]
        result.snippets.append((where, pasted[system]))

    ignores = [] if mlci_is_ignored(root) else ["/.mlci/"]
    if stage is not None:
        ignores.append(f"/{artifact}/")
    added = ignore_lines(root, ignores)
    if added:
        result.appended.append(f".gitignore: {', '.join(added)}")
    if stage is not None and not (root / ".dvc").is_dir():
        result.written.extend(_dvc_init(root, result))

    if found.eval_data is None and not options.dvc_stub:
        result.next_steps.append(
            f"set datasets.eval.path (now {DEFAULT_EVAL!r}) to your evaluation split: none "
            "was found in dvc.yaml or the project"
        )
    if options.dvc_stub:
        result.next_steps.append("edit the commands in dvc.yaml (a stub) to run your scripts")
    result.next_steps.append(
        f"check target = {target!r} (the label column) and task = {task!r} in the config"
    )
    if result.snippets:
        result.next_steps.append("paste the snippets printed above where they say")
    result.next_steps.append(
        "`pre-commit install` (pre-commit comes with `pip install 'pytest-mlci[hooks]'`), "
        "then `git add` the new files and commit"
    )
    result.next_steps.append(
        "`mlci run --until evaluate`, then `mlci gates --suggest` proposes gate floors from "
        "what it measured; then `mlci run`"
    )
    return result


def _replace_keeping_mode(path: Path, text: str) -> None:
    """The user's file replaced whole (never half written), its permissions as they were."""
    from pytest_mlci.fileio import write_atomically

    mode = path.stat().st_mode & 0o7777
    write_atomically(path, text)
    path.chmod(mode)


def _appended(pyproject: Path, block: str) -> str:
    """pyproject.toml with ``block`` appended, parsed before anything is written."""
    text = pyproject.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text += "\n"
    new = f"{text}\n# pytest-mlci, written by `mlci init` (README, Configuration)\n{block}"
    try:
        document = tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"appending [tool.mlci] would make it invalid TOML ({exc}); add the table yourself "
            "or write the same keys to mlci.toml",
            file="pyproject.toml",
        ) from None
    if not isinstance(document.get("tool", {}).get("mlci"), dict):  # pragma: no cover
        raise AssertionError("the appended [tool.mlci] table did not parse as a table")
    return new


def _dvc_init(root: Path, result: InitResult) -> list[str]:
    """``dvc init`` where git already is (DVC needs it to run the stage); else a next step."""
    if not (root / ".git").exists():
        result.next_steps.insert(0, "`git init && dvc init` (DVC runs the training stage)")
        return []
    import logging

    from dvc.repo import Repo

    dvc_logger = logging.getLogger("dvc")  # its "Initialized DVC repository" banner is
    level = dvc_logger.level  # replaced by init's own line
    dvc_logger.setLevel(logging.WARNING)
    try:
        Repo.init(str(root))
    finally:
        dvc_logger.setLevel(level)
    return [".dvc/ (dvc init)"]
