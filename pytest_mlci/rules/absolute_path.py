"""MLC201: an absolute filesystem path is hard-coded.

What it does
    Flags string literals (and the literal start of f-strings) that are absolute paths on a
    developer's machine or a particular server:

    * a home directory: ``~/...``, ``/home/<user>/...``, ``/Users/<user>/...``, ``/root/...``
      (but not a tool's per-user directory such as ``~/.kaggle`` or ``~/.cache/torch``);
    * a Windows drive or share: ``C:\\data\\train.csv``, ``D:/models``, ``\\\\server\\share``;
    * a POSIX path under a mount or data root: ``/mnt``, ``/media``, ``/data``, ``/datasets``,
      ``/opt``, ``/srv``, ``/var``, ``/scratch``, ``/gpfs``, ``/nfs``, ``/Volumes``,
      ``/workspace``, ``/content`` (Colab), ``/kaggle``, ``/dbfs``;
    * the same paths assembled from literal parts: ``os.path.join("/kaggle", "input",
      "train.csv")``, ``os.path.join("C:\\", "Users", "bob")``, ``Path("/mnt") / "data"``,
      ``Path("/Users").joinpath("me")``, ``Path("/scratch", "runs")``, ``"/datasets" +
      "/imagenet"``. The literal parts up to the first variable count:
      ``os.path.join("/kaggle", "input", name)`` is still ``/kaggle/input``.

    A directory only walked (``for root, _, files in os.walk("/kaggle/input"): print(...)``,
    the Kaggle notebook template) is medium confidence: nothing is read from it.

    Docstrings, web routes (``@app.get("/data/latest")``), ``/dev/null``, ``/proc``, ``/etc``,
    ``/usr``, the system temporary directories (``/tmp``, ``/var/tmp``), ``/var/log``,
    ``/var/www`` and other system locations are not flagged: they exist on every machine.
    Neither are paths that start from something configurable (``Path.home() / "data"``,
    ``os.path.join(os.environ["DATA_DIR"], ...)``, ``Path(__file__).parent / ...``,
    ``os.path.join(DATA_ROOT, ...)``) nor literals that follow a value or a URL
    (``f"{root}/data/x.csv"``, ``root + "/data/x.csv"``, ``"https://host" + "/data/x.csv"``).

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

from pytest_mlci.analysis import HIGH, MEDIUM, Analysis, Finding, called_name

CODE = "MLC201"
FAMILY = "hardcoded"
MESSAGE = "absolute filesystem path; make it relative to the project or configurable"

_ROOTS = (
    "home|Users|root|mnt|media|data|datasets|opt|srv|var|scratch|gpfs|nfs|Volumes"
    "|workspace|content|kaggle|dbfs"
)
_POSIX = re.compile(rf"^/(?:{_ROOTS})/[^\s/]")
# `/var/tmp` is a system temporary directory (like `/tmp`), and `/var/log`, `/var/www` & co are
# the standard system locations every Linux machine has: present on every machine.
_SYSTEM_VAR = re.compile(r"^/var/(?:tmp|log|run|lock|www|spool|mail|cache)(?:/|$)")
# `~/.ssh`, `~/.kaggle/kaggle.json`, `~/.cache/torch`: where a tool keeps its per-user files,
# the same on every machine (unlike `~/projects/churn/train.csv`).
_HOME = re.compile(r"^~[\\/][^\s.]")
_WINDOWS = re.compile(r"^(?:[A-Za-z]:[\\/][^\s\\/]|\\\\[\w.$-]+\\[\w.$-]+)")


def looks_absolute(text: str) -> bool:
    """Whether ``text`` is a machine-specific absolute path."""
    if len(text) > 4096 or "\n" in text:
        return False
    if _POSIX.match(text):
        return not _SYSTEM_VAR.match(text)
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
    """String arguments of web routes (``@app.get("/data/latest")``): URLs, not files.

    ``get`` is also ``os.environ.get("DATA_DIR", default)``: a default there, literal or
    built (``join("~", "scikit_learn_data")``), is the configurable path the rule asks for.
    """
    found: set[int] = set()
    for node in nodes:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _ROUTE_METHODS
        ):
            for arg in node.args:
                if isinstance(arg, ast.Constant):
                    found.add(id(arg))
                elif isinstance(arg, ast.Call | ast.BinOp):
                    found.update(id(part) for part in ast.walk(arg))
    return found


# Calls that build a path from parts: os.path.join & co, pathlib's constructors.
_PATH_TYPES = frozenset(
    {"Path", "PurePath", "PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath"}
)
_BUILDERS = frozenset({"join", "joinpath", *_PATH_TYPES})
# Receivers of a path-joining ``join`` (``os.path.join``, ``osp.join``), unlike ``",".join``.
_PATH_MODULES = frozenset({"path", "osp", "ospath", "posixpath", "ntpath"})


# (the leading literal parts, whether the expression is made of nothing else)
_Parts = tuple[list[ast.Constant], bool]


def _literal_parts(node: ast.expr) -> _Parts | None:
    """The leading literal parts a path expression is built from, or None if it is not one.

    ``os.path.join("/mnt", "data", name)`` -> ``"/mnt", "data"``; ``Path("/mnt") / "x"`` ->
    ``"/mnt", "x"``; ``Path("/Users").joinpath("me")`` -> ``"/Users", "me"``;
    ``"/mnt" + "/x"`` -> ``"/mnt", "/x"``. Parts stop at the first part that is not a literal
    (``"~/" + name + "/x"`` is ``"~/"`` only), and a path that does not start with a literal
    (``Path.home()``, ``os.environ[...]``, ``__file__``, a variable) has none.
    """
    if isinstance(node, ast.Constant):
        return ([node], True) if isinstance(node.value, str) else None
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Div):
            if not _is_path(node.left):
                return None
        elif not isinstance(node.op, ast.Add) or not _starts_with_string(node.left):
            return None
        left = _literal_parts(node.left)
        return None if left is None else _extend(left, [node.right])
    if not isinstance(node, ast.Call) or node.keywords:
        return None
    func = node.func
    if isinstance(func, ast.Attribute):
        if func.attr == "joinpath" and _is_path(func.value):
            base = _literal_parts(func.value)
            return None if base is None else _extend(base, node.args)
        if (func.attr == "join" and _path_module(func.value)) or func.attr in _PATH_TYPES:
            return _extend(([], True), node.args)
        return None
    if isinstance(func, ast.Name) and (func.id == "join" or func.id in _PATH_TYPES):
        return _extend(([], True), node.args)
    return None


def _extend(parts: _Parts, more: list[ast.expr]) -> _Parts | None:
    """``parts`` followed by the literal strings that lead ``more`` (a non-literal ends it)."""
    found, complete = parts
    if complete:
        found = list(found)
        for arg in more:
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                complete = False
                break
            found.append(arg)
    return (found, complete) if found else None


def _starts_with_string(node: ast.expr) -> bool:
    """Cheap test before assembling a ``+`` chain: its leftmost operand is a string literal."""
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        node = node.left
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _is_path(node: ast.expr) -> bool:
    """Whether ``node`` builds a pathlib path (so ``/`` on it joins rather than divides)."""
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        node = node.left
    if not isinstance(node, ast.Call):
        return False
    name = called_name(node)
    return name in _PATH_TYPES or (name == "joinpath" and _is_path(node.func.value))


def _suffix(node: ast.BinOp) -> bool:
    """Whether ``node`` appends a literal to something that is not a local path literal.

    ``root + "/data/train.csv"`` and ``"https://host" + "/data/x.csv"`` end in a string
    that looks absolute, but it is relative to the variable, or a URL path.
    """
    if not isinstance(node.op, ast.Add) or not isinstance(node.right, ast.Constant):
        return False
    left = node.left
    while isinstance(left, ast.BinOp) and isinstance(left.op, ast.Add):
        left = left.left
    if isinstance(left, ast.Constant) and isinstance(left.value, str):
        return "://" in left.value
    return True


def _path_module(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "path"  # os.path
    return isinstance(node, ast.Name) and node.id in _PATH_MODULES


def _assembled(node: ast.BinOp | ast.Call, parts: list[ast.Constant]) -> str:
    """The literal parts joined as the OS would: enough to tell whether the path is absolute."""
    texts = [str(part.value) for part in parts]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return "".join(texts)  # "/mnt" + "/data/x.csv"
    text = ""
    for part in texts:
        if not text or part.startswith(("/", "\\")):
            text = part  # os.path.join("/a", "/b") == "/b": an absolute part starts over
        elif text.endswith(("/", "\\")):
            text += part
        else:
            text += ("\\" if "\\" in text else "/") + part
    return text


def _listed(nodes: list[ast.AST]) -> set[int]:
    """Literals a directory walk starts from (``os.walk("/kaggle/input")``): notebook
    templates list what exists there to print it, which reads nothing from it."""
    found: set[int] = set()
    for node in nodes:
        if (
            type(node) is ast.Call
            and node.args
            and type(node.args[0]) is ast.Constant
            and called_name(node) == "walk"
        ):
            found.add(id(node.args[0]))
    return found


def check(analysis: Analysis) -> Iterator[Finding]:
    listed = _listed(analysis.nodes)
    skip = set(analysis.docstrings) | _routes(analysis.nodes)
    joined: set[int] = set()  # first parts already reported as part of a longer expression
    for node in analysis.nodes:
        kind = type(node)
        if kind is ast.Call or kind is ast.BinOp:
            # cheap tests first: a call named like a path builder, a `/` or `+` of a string
            if kind is ast.Call:
                if called_name(node) not in _BUILDERS or not node.args:
                    continue
            else:
                right = node.right
                if type(right) is not ast.Constant or type(right.value) is not str:
                    continue
                if _suffix(node):
                    skip.add(id(right))
                    continue
            built = _literal_parts(node)
            parts = built[0] if built else []
            if (
                len(parts) < 2
                or id(parts[0]) in joined
                or id(parts[0]) in skip
                or any(looks_absolute(str(part.value)) for part in parts)
            ):
                continue  # not built from parts, or a part is flagged on its own below
            path = _assembled(node, parts)
            if looks_absolute(path):
                joined.add(id(parts[0]))
                yield analysis.finding(CODE, _message(path), parts[0])
            continue
        if kind is ast.JoinedStr:
            first = node.values[0] if node.values else None
            # the other literal parts follow a value: f"{root}/data/x.csv" is relative to root
            skip.update(id(value) for value in node.values)
            if (
                isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and looks_absolute(first.value)
            ):
                yield analysis.finding(CODE, _message(first.value), node)
        elif (
            kind is ast.Constant
            and type(node.value) is str
            and id(node) not in skip
            and looks_absolute(node.value)
        ):
            confidence = MEDIUM if id(node) in listed else HIGH
            yield analysis.finding(CODE, _message(node.value), node, confidence)


def _message(path: str) -> str:
    shown = path if len(path) <= 40 else path[:37] + "..."
    return f"absolute path {shown!r} only exists on one machine; make it relative or configurable"
