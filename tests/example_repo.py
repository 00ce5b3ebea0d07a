"""A copy of the bundled example as a fresh git + DVC repository, for `mlci run` end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def mlci(root: Path, *args: str, actor: str = "ci@example.com") -> subprocess.CompletedProcess:
    """`mlci ARGS` in ``root`` as ``actor``, captured, plain text, wide columns."""
    return subprocess.run(
        [sys.executable, "-m", "mlci_local", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "MLCI_ACTOR": actor, "NO_COLOR": "1", "COLUMNS": "200"},
    )


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def set_params(root: Path, **changes: dict) -> None:
    params_file = root / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    for section, values in changes.items():
        params[section].update(values)
    params_file.write_text(yaml.safe_dump(params))


def example_repository(root: Path) -> Path:
    """The bundled example in ``root``, committed, with fewer rows and iterations for speed."""
    shutil.copytree(
        REPO / "example", root / "example", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("dvc.yaml", "params.yaml", "pyproject.toml", ".gitignore"):
        shutil.copy(REPO / name, root / name)
    set_params(root, prepare={"rows": 20000}, train={"max_iter": 60})
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "dev@example.com")
    git(root, "config", "user.name", "Dev")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    subprocess.run(
        [sys.executable, "-m", "dvc", "config", "core.analytics", "false"], cwd=root, check=True
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "example")
    return root
