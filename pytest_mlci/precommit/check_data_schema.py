"""check-data-schema: staged data files of a declared dataset must fit its pandera schema.

A file matches a dataset when it is the dataset's ``path`` or ``reference``, or lies inside
one that is a directory. Files that match nothing are ignored without importing pandas, so
the hook costs nothing on commits that touch no data. Exit status: 0 every matching file fits
(or none matched), 1 a file is unreadable or breaks its schema, 2 the configuration is broken.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_mlci.config import DatasetConfig, MlciConfig, find_config_file, load_config
from pytest_mlci.errors import ConfigError, DataError


def matching_datasets(path: Path, config: MlciConfig) -> list[DatasetConfig]:
    """The declared datasets (with a schema) whose path or reference is, or holds, ``path``."""
    target = path.resolve()
    found = []
    for dataset in config.datasets.values():
        if not dataset.schema:
            continue
        for declared in (dataset.path, dataset.reference):
            if declared is None:
                continue
            declared = declared.resolve()
            if target == declared or declared in target.parents:
                found.append(dataset)
                break
    return found


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
        description="Validate staged data files of declared datasets against their schema.",
    )
    parser.add_argument("filenames", nargs="*", help="staged files (pre-commit passes them)")
    args = parser.parse_args(argv)
    try:
        source = find_config_file()
        if source is None:
            return 0  # no configuration, no declared datasets: nothing to check
        config = load_config(source)
    except ConfigError as exc:
        print(f"check-data-schema: configuration error: {exc}", file=sys.stderr)
        return 2
    status = 0
    for name in args.filenames:
        path = Path(name)
        for dataset in matching_datasets(path, config):
            try:
                problems = check_file(path, dataset, config.root)
            except ConfigError as exc:
                print(f"check-data-schema: configuration error: {exc}", file=sys.stderr)
                return 2
            for line in problems:
                print(line)
            status = status or (1 if problems else 0)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
