"""An MLflow ``MLproject`` file turned into the ``dvc.yaml`` stage and ``params.yaml`` it implies.

Why: an MLflow project already says how it is trained (``entry_points.<name>.command`` with
``{param}`` placeholders) and with which values (``parameters`` with defaults). `mlci run`
trains through ``dvc repro``, so ``mlci init`` writes the one stage that runs that command,
reading the values from ``params.yaml`` with DVC's templating (``${train.alpha}``): changing a
value there retrains, and ``dvc.lock`` records it. The training script stays as it is; since
an MLflow project logs its model with MLflow, the candidate is that logged model
(``[tool.mlci.training] mlflow_model``, see :mod:`mlci_local.mlflow_training`).

The MLproject format (https://mlflow.org/docs/latest/projects.html): ``entry_points`` maps a
name to ``command`` and ``parameters``; a parameter is either a type name (``alpha: float``,
no default) or a table ``{type: float, default: 0.1}``.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mlci.errors import ConfigError

FILE = "MLproject"
STAGE = "train"
#: What ``mlflow.autolog()`` names the model it logs.
AUTOLOG_NAME = "model"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_\-]*)\}")


@dataclass(frozen=True)
class TrainingStage:
    """The stage and parameter file derived from one MLproject entry point."""

    entry_point: str
    command: str  # the dvc.yaml cmd, with ${train.<param>} for every placeholder
    params: Mapping[str, Any]  # the defaults, written to params.yaml under `train`
    deps: tuple[str, ...]  # scripts and existing files the command reads
    model_name: str  # the name the script logs its model with (what mlflow_model must say)
    model_name_found: bool  # False: no literal name in the scripts; "model" is a guess

    def dvc_yaml(self) -> str:
        """The ``dvc.yaml`` text: one stage, no ``outs`` (the model goes to MLflow)."""
        lines = [
            f"# Written by `mlci init` from {FILE} (entry point '{self.entry_point}'): the",
            "# command MLflow would run, with its parameters read from params.yaml. The model",
            "# is logged to MLflow by the script itself, so the stage has no outs; mlci turns",
            "# the logged model into the candidate ([tool.mlci.training] mlflow_model).",
            "stages:",
            f"  {STAGE}:",
            f"    cmd: {_yaml_scalar(self.command)}",
        ]
        if self.deps:
            lines.append("    deps:")
            lines.extend(f"      - {_yaml_scalar(dep)}" for dep in self.deps)
        if self.params:
            lines.append("    params:")
            lines.extend(f"      - {STAGE}.{name}" for name in self.params)
        return "\n".join(lines) + "\n"

    def params_yaml(self) -> str:
        """``params.yaml``: the MLproject defaults, edited here from now on."""
        import yaml

        header = (
            f"# Written by `mlci init` from the defaults in {FILE}; dvc.yaml reads them, so a\n"
            "# change here retrains on the next `mlci run`.\n"
        )
        return header + yaml.safe_dump({STAGE: dict(self.params)}, sort_keys=False)


def read_mlproject(root: Path) -> TrainingStage | None:
    """The training stage for the MLproject file in ``root``; None when there is none.

    Raises :class:`ConfigError` naming the file and key when the file cannot be used.
    """
    import yaml

    path = next((root / name for name in (FILE, "mlproject") if (root / name).is_file()), None)
    if path is None:
        return None
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=path.name) from None
    points = document.get("entry_points") if isinstance(document, dict) else None
    if not isinstance(points, dict) or not points:
        raise ConfigError(
            "has no entry_points; add one, e.g. entry_points: {main: {command: python train.py}}",
            file=path.name,
            key="entry_points",
        )
    name = "main" if "main" in points else next(iter(points)) if len(points) == 1 else None
    if name is None:
        raise ConfigError(
            f"has no 'main' entry point and several others ({', '.join(map(str, points))}); "
            "rename the training one to 'main'",
            file=path.name,
            key="entry_points",
        )
    point = points[name]
    command = point.get("command") if isinstance(point, dict) else None
    if not isinstance(command, str) or not command.strip():
        raise ConfigError(
            "needs a command, e.g. command: python train.py --alpha {alpha}",
            file=path.name,
            key=f"entry_points.{name}.command",
        )
    params = _defaults(point.get("parameters") or {}, path.name, name)
    used = _PLACEHOLDER.findall(command)
    for param in used:
        if param not in params:
            raise ConfigError(
                f"uses {{{param}}}, which is not among its parameters; declare it with a "
                "default under parameters",
                file=path.name,
                key=f"entry_points.{name}.command",
            )
    templated = _PLACEHOLDER.sub(lambda m: "${" + f"{STAGE}.{m.group(1)}" + "}", command)
    templated = " ".join(templated.split())  # MLproject commands are often folded YAML
    deps = _deps(root, command, params)
    model_name, found = _logged_model_name(root, deps)
    return TrainingStage(
        entry_point=name,
        command=templated,
        params={k: v for k, v in params.items() if k in used},
        deps=deps,
        model_name=model_name,
        model_name_found=found,
    )


def _defaults(parameters: Any, file: str, entry: str) -> dict[str, Any]:
    """Parameter name -> default; a parameter without one cannot be run by DVC."""
    if not isinstance(parameters, dict):
        raise ConfigError(
            "must be a mapping of name -> {type, default}",
            file=file,
            key=f"entry_points.{entry}.parameters",
        )
    defaults: dict[str, Any] = {}
    for name, spec in parameters.items():
        if not isinstance(spec, dict) or "default" not in spec:
            raise ConfigError(
                "has no default, and dvc.yaml needs a value to run the command; add "
                f"'default:' to it in {file} (e.g. {name}: {{type: float, default: 0.1}})",
                file=file,
                key=f"entry_points.{entry}.parameters.{name}",
            )
        defaults[str(name)] = spec["default"]
    return defaults


def _deps(root: Path, command: str, params: Mapping[str, Any]) -> tuple[str, ...]:
    """Scripts named in the command (``x.py``, ``-m pkg.mod``) and path defaults that exist."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    found: list[str] = []
    for i, word in enumerate(words):
        if _PLACEHOLDER.search(word):
            continue
        if word.endswith(".py"):
            found.append(word)
        elif i > 0 and words[i - 1] == "-m":
            module = Path(*word.split("."))
            for candidate in (module.with_suffix(".py"), module / "__main__.py"):
                if (root / candidate).is_file():
                    found.append(candidate.as_posix())
    for value in params.values():
        if isinstance(value, str) and value and (root / value).exists():
            found.append(value)
    return tuple(dict.fromkeys(p for p in found if (root / p).exists()))


def _logged_model_name(root: Path, deps: tuple[str, ...]) -> tuple[str, bool]:
    """The literal name the scripts pass to ``*.log_model`` ("model" for autolog), if any.

    Read with ``ast``, never run. ``name=`` is MLflow 3's keyword, ``artifact_path=`` and the
    second positional argument MLflow 2's.
    """
    for dep in deps:
        if not dep.endswith(".py"):
            continue
        try:
            tree = ast.parse((root / dep).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        autolog = False
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr == "autolog":
                autolog = True
            if node.func.attr != "log_model":
                continue
            for keyword in node.keywords:
                if keyword.arg in ("name", "artifact_path") and _literal(keyword.value):
                    return keyword.value.value, True  # type: ignore[attr-defined]
            if len(node.args) >= 2 and _literal(node.args[1]):
                return node.args[1].value, True  # type: ignore[attr-defined]
        if autolog:
            return AUTOLOG_NAME, True
    return AUTOLOG_NAME, False


def _literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(node.value)


def _yaml_scalar(text: str) -> str:
    """A YAML plain scalar when safe, else a double-quoted one (json is valid YAML)."""
    import json

    import yaml

    try:
        if yaml.safe_load(text) == text and not text.startswith(("-", "?", "[", "{")):
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text)
