"""MLC201: an absolute filesystem path is hard-coded.

What it does
    Flags string literals (and the literal start of f-strings) that are absolute paths on a
    developer's machine or a particular server:

    * a home directory: ``~/...``, ``/home/<user>/...``, ``/Users/<user>/...``, ``/root/...``;
    * a Windows drive or share: ``C:\\data\\train.csv``, ``D:/models``, ``\\\\server\\share``;
    * a POSIX path under a mount or data root: ``/mnt``, ``/media``, ``/data``, ``/datasets``,
      ``/opt``, ``/srv``, ``/var``, ``/scratch``, ``/gpfs``, ``/nfs``, ``/Volumes``,
      ``/workspace``, ``/content`` (Colab), ``/kaggle``, ``/dbfs``.

    Docstrings, web routes (``@app.get("/data/latest")``), ``/dev/null``, ``/proc``, ``/etc``,
    ``/usr``, the system temporary directories (``/tmp``, ``/var/tmp``) and other system
    locations are not flagged: they exist on every machine.

Why is this bad?
    The pipeline only runs on the machine it was written on. In CI, a teammate's laptop or a
    container the path does not exist (or points at stale data), so the job fails or,
    worse, silently reads a different file.

Example
    df = pd.read_csv("/home/alice/projects/churn/data/train.csv")

Use instead
    DATA_DIR = Path(os.environ.get("DATA_DIR", "data"))
    df = pd.read_csv(DATA_DIR / "train.csv")
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from pytest_mlci.analysis import Analysis, Finding

CODE = "MLC201"
FAMILY = "hardcoded"
MESSAGE = "absolute filesystem path; make it relative to the project or configurable"

_ROOTS = (
    "home|Users|root|mnt|media|data|datasets|opt|srv|var|scratch|gpfs|nfs|Volumes"
    "|workspace|content|kaggle|dbfs"
)
_POSIX = re.compile(rf"^/(?:{_ROOTS})/[^\s/]")
# `/var/tmp` is a system temporary directory (like `/tmp`): present on every machine.
_SYSTEM_TEMP = re.compile(r"^/var/tmp(?:/|$)")
_HOME = re.compile(r"^~[\\/][^\s]")
_WINDOWS = re.compile(r"^(?:[A-Za-z]:[\\/][^\s\\/]|\\\\[\w.$-]+\\[\w.$-]+)")


def looks_absolute(text: str) -> bool:
    """Whether ``text`` is a machine-specific absolute path."""
    if len(text) > 4096 or "\n" in text:
        return False
    if _POSIX.match(text):
        return not _SYSTEM_TEMP.match(text)
    return bool(_HOME.match(text) or _WINDOWS.match(text))


_ROUTE_METHODS = frozenset(
    {
        "route",
        "get",
        "post",
        "put",
        "patch",
        "delete",
        "head",
        "options",
        "websocket",
        "api_route",
        "add_url_rule",
        "add_api_route",
        "include_router",
        "mount",
    }
)


def _routes(nodes: list[ast.AST]) -> set[int]:
    """String arguments of web routes (``@app.get("/data/latest")``): URLs, not files."""
    found: set[int] = set()
    for node in nodes:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _ROUTE_METHODS
        ):
            found.update(id(arg) for arg in node.args if isinstance(arg, ast.Constant))
    return found


def check(analysis: Analysis) -> Iterator[Finding]:
    skip = set(analysis.docstrings) | _routes(analysis.nodes)
    for node in analysis.nodes:
        if isinstance(node, ast.JoinedStr):
            first = node.values[0] if node.values else None
            if isinstance(first, ast.Constant):
                skip.add(id(first))
                if isinstance(first.value, str) and looks_absolute(first.value):
                    yield analysis.finding(CODE, _message(first.value), node)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and looks_absolute(node.value)
        ):
            yield analysis.finding(CODE, _message(node.value), node)


def _message(path: str) -> str:
    shown = path if len(path) <= 40 else path[:37] + "..."
    return f"absolute path {shown!r} only exists on one machine; make it relative or configurable"
