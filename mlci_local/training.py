"""Stage 3: reproduce the DVC pipeline through DVC's Python API.

``dvc repro`` is the one way a model is trained: it skips stages whose code, params and data
are unchanged, and its ``dvc.lock`` is the lineage we register. We report exactly what DVC
did, so an unchanged pipeline says "up to date", never "trained".
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_mlci.errors import CheckFailed, ConfigError
from pytest_mlci.registry_read import quiet_offline_environment


@dataclass(frozen=True)
class ReproResult:
    """The stages DVC actually ran (empty when everything was up to date)."""

    reproduced: tuple[str, ...]
    log: str = ""

    @property
    def up_to_date(self) -> bool:
        return not self.reproduced

    @property
    def restored(self) -> tuple[str, ...]:
        """Stages DVC did not run but checked out from its run cache (same code, params, data).

        Read from DVC's own log line, the only place it says so; if that wording changes,
        such stages are reported as run, which overstates work but never hides any.
        """
        import re

        cached = set(re.findall(r"Stage '([^']+)' is cached - skipping run", self.log))
        return tuple(name for name in self.reproduced if name in cached)

    @property
    def ran(self) -> tuple[str, ...]:
        """Stages whose commands actually ran."""
        return tuple(name for name in self.reproduced if name not in self.restored)


def reproduce(
    root: Path, targets: Sequence[str] | None = None, *, force: bool = False
) -> ReproResult:
    """Run ``dvc repro`` (for ``targets`` and their upstream, or the whole pipeline).

    ``force``: ``dvc repro -f -s targets``, those stages only, even when up to date.
    """
    quiet_offline_environment()
    if not (root / "dvc.yaml").is_file():
        raise ConfigError(f"{root / 'dvc.yaml'}: not found; training needs a DVC pipeline")
    from dvc.exceptions import DvcException, ReproductionError
    from dvc.repo import Repo

    captured = _CapturedOutput()
    try:
        # One dvc repro at a time per repository: the models of a many-model repository run
        # in parallel, and DVC's own repository lock refuses a second repro instead of waiting.
        with repro_lock(root), _interpreter_first_on_path(), captured, Repo(str(root)) as repo:
            stages = repo.reproduce(
                targets=list(targets) if targets else None,
                force=force,
                single_item=force and bool(targets),
            )
    except ReproductionError as exc:
        raise CheckFailed(
            f"dvc repro failed: {exc} {_cause(exc)}\n--- stage output ---\n{captured.text[-4000:]}"
        ) from None
    except DvcException as exc:
        message = str(exc)
        if "not a dvc repository" in message.lower() or type(exc).__name__ == "NotDvcRepoError":
            raise ConfigError(
                f"{root}: not a DVC repository; run `dvc init` (or `dvc init --no-scm`)"
            ) from None
        raise CheckFailed(f"dvc: {message}") from None
    names = tuple(getattr(stage, "addressing", None) or str(stage) for stage in stages)
    return ReproResult(names, captured.text)


@contextlib.contextmanager
def repro_lock(root: Path) -> Iterator[None]:
    """Wait for any other mlci process's ``dvc repro`` in this repository to finish."""
    from pytest_mlci.config import STATE_DIR
    from pytest_mlci.filelock import exclusive_lock

    with exclusive_lock(root / STATE_DIR / "locks" / "dvc-repro.lock", what="dvc repro lock"):
        yield


class _CapturedOutput:
    """Capture file descriptors 1 and 2, so stage subprocesses' output is kept, not shown.

    The runner shows one line per stage; DVC's and the stage commands' own chatter is kept
    for the error message when a stage fails.
    """

    def __init__(self) -> None:
        self.text = ""

    def __enter__(self) -> _CapturedOutput:
        sys.stdout.flush()
        sys.stderr.flush()
        self._file = tempfile.TemporaryFile(mode="w+b")
        self._saved = (os.dup(1), os.dup(2))
        os.dup2(self._file.fileno(), 1)
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self._file.seek(0)
        self.text = self._file.read().decode("utf-8", errors="replace")
        self._file.close()


@contextlib.contextmanager
def _interpreter_first_on_path() -> Iterator[None]:
    """Stage commands say ``python``: make that the interpreter running mlci.

    Otherwise ``.venv/bin/mlci run`` without an activated virtualenv would train with whatever
    ``python`` the shell finds first, which may lack the project's packages.
    """
    bin_dir = str(Path(sys.executable).parent)
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = bin_dir + os.pathsep + old
    try:
        yield
    finally:
        os.environ["PATH"] = old


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"cause: {cause}" if cause else ""


def stages_producing(root: Path, paths: Sequence[Path]) -> list[str]:
    """Names of the ``dvc.yaml`` stages whose ``outs`` include any of ``paths``."""
    import yaml

    dvc_yaml = root / "dvc.yaml"
    if not dvc_yaml.is_file():
        return []
    document = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}
    wanted = {Path(p).resolve() for p in paths}
    names = []
    for name, stage in (document.get("stages") or {}).items():
        wdir = root / stage.get("wdir", ".")
        for out in stage.get("outs") or []:
            out_path = out if isinstance(out, str) else next(iter(out))
            resolved = (wdir / out_path).resolve()
            if resolved in wanted or any(resolved in w.parents for w in wanted):
                names.append(name)
                break
    return names
