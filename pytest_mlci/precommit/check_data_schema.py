"""check-data-schema: staged data files of a declared dataset must fit its pandera schema.

A file matches a dataset when it is the dataset's ``path`` or ``reference``, or lies inside
one that is a directory. Files that match nothing are ignored without importing pandas, so
the hook costs nothing on commits that touch no data. Exit status: 0 every matching file fits
(or none matched), 1 a file is unreadable or breaks its schema, 2 the configuration is broken.

Data under DVC is never staged in git: what a commit changes is the ``.dvc`` file or
``dvc.lock`` that points to it. So a staged ``.dvc`` file or ``dvc.lock`` stands for the
outputs it records (``outs[].path``, relative to the file and, in ``dvc.lock``, to the stage's
``wdir``); those that belong to a declared dataset are validated in the workspace. One that is
not checked out is named as not checked (``dvc checkout`` or ``dvc pull`` brings it), not
failed: the hook can only judge data it can read, and CI validates the rest.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from pytest_mlci.config import DatasetConfig, MlciConfig, find_config_file
from pytest_mlci.errors import ConfigError, DataError
from pytest_mlci.project import load_project


def matching_datasets(path: Path, config: MlciConfig) -> list[DatasetConfig]:
    """The declared datasets (with a schema) whose path or reference is, or holds, ``path``."""
    target = path.resolve()
    found: list[DatasetConfig] = []
    for dataset, declared in _declared_files(config):
        if (target == declared or declared in target.parents) and dataset not in found:
            found.append(dataset)
    return found


def _declared_files(config: MlciConfig) -> list[tuple[DatasetConfig, Path]]:
    """(dataset, resolved path) for the path and reference of each dataset with a schema."""
    return [
        (dataset, declared.resolve())
        for dataset in config.datasets.values()
        if dataset.schema
        for declared in (dataset.path, dataset.reference)
        if declared is not None
    ]


def is_dvc_pointer(path: Path) -> bool:
    """Whether ``path`` is a ``.dvc`` file or a ``dvc.lock`` (data it records, not data)."""
    return path.suffix == ".dvc" or path.name == "dvc.lock"


def dvc_outputs(path: Path) -> list[Path]:
    """The workspace paths a ``.dvc`` file or ``dvc.lock`` records as outputs.

    Paths are relative to the file's directory (and the stage's ``wdir`` from the ``dvc.yaml``
    beside a ``dvc.lock``), as DVC writes them. A file that is not valid YAML raises
    :class:`DataError` naming it.
    """
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot be read as a DVC file ({reason})") from None
    if not isinstance(document, dict):
        raise DataError(f"{path}: not a DVC file (expected a mapping with 'outs' or 'stages')")
    base = path.parent
    if path.name != "dvc.lock":
        wdir = base / str(document.get("wdir") or ".")
        return [_clean(wdir / out["path"]) for out in _entries(document.get("outs"))]
    wdirs = _stage_wdirs(base / "dvc.yaml")
    found = []
    for name, stage in (document.get("stages") or {}).items():
        if not isinstance(stage, dict):
            continue
        wdir = base / wdirs.get(str(name).split("@")[0], ".")  # foreach stages: name@key
        found += [_clean(wdir / out["path"]) for out in _entries(stage.get("outs"))]
    return found


def _entries(outs: object) -> Iterator[dict]:
    for out in outs if isinstance(outs, list) else []:
        if isinstance(out, dict) and isinstance(out.get("path"), str):
            yield out


def _stage_wdirs(dvc_yaml: Path) -> dict[str, str]:
    """Stage name -> its ``wdir`` in ``dvc.yaml`` (only stages that declare one)."""
    import yaml

    try:
        document = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    stages = document.get("stages") if isinstance(document, dict) else None
    wdirs = {}
    for name, stage in (stages or {}).items():
        body = stage.get("do", stage) if isinstance(stage, dict) else {}
        if isinstance(body, dict) and body.get("wdir"):
            wdirs[str(name)] = str(body["wdir"])
    return wdirs


def _clean(path: Path) -> Path:
    return Path(os.path.normpath(path))


def tracked_targets(pointer: Path, config: MlciConfig) -> list[tuple[Path, DatasetConfig]]:
    """(data path to validate, dataset) for each output of ``pointer`` that belongs to a
    declared dataset with a schema: the output itself when it is the dataset's file (or
    lies inside its directory), the dataset's file when the output is a directory holding it.
    """
    targets = []
    for out in dvc_outputs(pointer):
        resolved = out.resolve()
        for dataset, declared in _declared_files(config):
            if resolved == declared or declared in resolved.parents:
                targets.append((out, dataset))
            elif resolved in declared.parents:
                targets.append((_relative(declared), dataset))
    return targets


def _relative(path: Path) -> Path:
    """``path`` relative to the working directory where possible, as git names files."""
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def check_file(path: Path, dataset: DatasetConfig, root: Path) -> list[str]:
    """``path: problem`` lines for one staged file (empty when it fits the schema).

    A parquet file the dataset would stream (``stream = "always"``, or larger than the
    streaming threshold) is validated batch by batch, so a commit of a file bigger than
    memory does not load it whole.
    """
    from pytest_mlci.data.loading import read_dataset
    from pytest_mlci.data.schema import MAX_FAILURES_SHOWN, load_schema, validate_frame
    from pytest_mlci.data.validate import guard_parquet, streams

    try:
        schema = load_schema(dataset.schema or "", root=root, dataset=dataset.name)
        if streams([path], dataset.stream):
            from pytest_mlci.data.stats import streamed_schema

            _, failures = guard_parquet(lambda: streamed_schema(path, schema), path)
        elif dataset.loader:  # the file is read by the project's loader, like the checks do
            from pytest_mlci.data.loaded import load_data

            loaded = load_data(dataset, path, root=root)
            if not loaded.is_table:
                raise ConfigError(
                    f"a pandera schema checks a table, and '{dataset.loader}' returns (X, y)",
                    key=f"datasets.{dataset.name}.schema",
                )
            failures = validate_frame(schema, loaded.frame)
        else:
            failures = validate_frame(schema, read_dataset(dataset, path))
    except DataError as exc:  # a ConfigError (broken schema reference) goes to main: exit 2
        message = str(exc)
        return [message if message.startswith(str(path)) else f"{path}: {message}"]
    lines = [f"{path}: [{dataset.name}] {f.describe()}" for f in failures[:MAX_FAILURES_SHOWN]]
    if len(failures) > MAX_FAILURES_SHOWN:
        lines.append(f"{path}: ... and {len(failures) - MAX_FAILURES_SHOWN} more failed checks")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="check-data-schema",
        description="Validate staged data files of declared datasets against their schema; "
        "a staged .dvc file or dvc.lock stands for the data it records.",
    )
    parser.add_argument("filenames", nargs="*", help="staged files (pre-commit passes them)")
    args = parser.parse_args(argv)
    try:
        source = find_config_file()
        if source is None:
            return 0  # no configuration, no declared datasets: nothing to check
        # every model of a many-model repository declares its own datasets
        configs = list(load_project(source).models.values())
    except ConfigError as exc:
        print(f"check-data-schema: configuration error: {exc}", file=sys.stderr)
        return 2
    status = 0
    seen: set[tuple[Path, str, str]] = set()
    for config in configs:
        for name in args.filenames:
            path = Path(name)
            if is_dvc_pointer(path):
                try:
                    targets = tracked_targets(path, config)
                except DataError as exc:
                    print(exc)
                    status = 1
                    continue
            else:
                targets = [(path, dataset) for dataset in matching_datasets(path, config)]
            for target, dataset in targets:
                key = (target.resolve(), config.label, dataset.name)
                if key in seen:
                    continue  # the data file and its .dvc file staged together: checked once
                seen.add(key)
                if target != path and not target.exists():
                    print(
                        f"{target}: [{dataset.name}] tracked by {path} but not in the "
                        "workspace; not checked (`dvc checkout` or `dvc pull` brings it)"
                    )
                    continue
                try:
                    problems = check_file(target, dataset, config.root)
                except ConfigError as exc:
                    print(f"check-data-schema: configuration error: {exc}", file=sys.stderr)
                    return 2
                for line in problems:
                    print(line)
                status = status or (1 if problems else 0)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
