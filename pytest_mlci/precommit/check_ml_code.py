"""check-ml-code: the static ML checks (leakage, nondeterminism, hard-coded values) on files.

Exit status: 0 no findings, 1 findings, 2 the configuration is broken. Settings come from
the nearest ``mlci.toml`` or ``pyproject.toml`` with ``[tool.mlci]`` (only its
``[tool.mlci.static]`` part matters here); without one, the defaults apply.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_mlci.config import StaticSettings, find_config_file
from pytest_mlci.errors import ConfigError
from pytest_mlci.project import load_project
from pytest_mlci.report.static_formats import FORMATS, format_findings
from pytest_mlci.rules import check_paths


def load_settings(start: Path | None = None) -> StaticSettings:
    """The static settings of the nearest configuration, or the defaults when there is none."""
    source = find_config_file(start)
    if source is None:
        return StaticSettings()
    # a many-model repository: the static settings are the template's (every model's paths
    # are checked by `mlci check`; a hook checks the files it is given)
    return next(iter(load_project(source).models.values())).static


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="check-ml-code",
        description="Static ML checks (MLC rules) on the given .py and .ipynb files.",
    )
    parser.add_argument("filenames", nargs="*", help="files or directories to check")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format")
    parser.add_argument(
        "--confidence",
        choices=("high", "medium"),
        help="least certain findings to report (default: [tool.mlci.static] confidence, else high)",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"check-ml-code: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.confidence:
        settings = dataclasses.replace(settings, confidence=args.confidence)
    findings = check_paths(args.filenames, settings)
    output = format_findings(findings, args.format)
    if output:
        print(output)
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
