"""MLC202: a secret (API key, token, password, credentials) is written into the code.

What it does
    Flags string literals that are credentials:

    * assigned to, passed as, or stored under a name that means a secret: ``password``,
      ``passwd``, ``secret``, ``api_key``, ``access_key``, ``private_key``, ``client_secret``,
      ``token`` / ``auth_token`` / ``hf_token`` ..., including ``os.environ["API_KEY"] = "..."``
      and dict entries;
    * shaped like a well-known credential anywhere: AWS access keys (``AKIA...``), GitHub
      (``ghp_``, ``github_pat_``), OpenAI / Anthropic (``sk-...``), Slack (``xox?-``), Hugging
      Face (``hf_...``), Google (``AIza...``), private key blocks;
    * passwords in URLs: ``postgresql://user:pass@host/db``.

    Look-alikes are deliberately not flagged: tokenizer settings (``pad_token="[PAD]"``,
    ``eos_token``, ``max_tokens``, ``token_pattern``), names of environment variables
    (``api_key = "OPENAI_API_KEY"``), references (``"${DB_PASSWORD}"``, ``"{password}"``,
    ``"%(password)s"``), date formats, regexes, text with spaces, values shorter than 6
    characters, and placeholders: ``<your-key>``, ``xxx...``, ``***``, ``changeme``,
    ``your_api_key``, ``dummy``, ``example``, ``placeholder``, ``test``, ``secret``,
    ``password``, ``redacted``, ``todo``, ``none``/``null``.

Why is this bad?
    Anything committed is readable by everyone with access to the repository and its
    history, its CI logs and every fork; a leaked key is usable until someone notices and
    revokes it.

Example
    client = OpenAI(api_key="sk-proj-Xq9...")
    engine = create_engine("postgresql://ml:hunter2@db.internal/features")

Use instead
    client = OpenAI(api_key=os.environ["OPENAI_API_KEY"])
    engine = create_engine(os.environ["FEATURES_DB_URL"])
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from pytest_mlci.analysis import Analysis, Finding
from pytest_mlci.analysis.values import words

CODE = "MLC202"
FAMILY = "hardcoded"
MESSAGE = "secret written into the code; read it from the environment or a secret store"

_TOKEN_SHAPES = re.compile(
    r"(?:\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}"
    r"|\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|\bxox[abposr]-[A-Za-z0-9-]{10,}"
    r"|\bhf_[A-Za-z0-9]{30,}|\bAIza[0-9A-Za-z_-]{35}|-----BEGIN [A-Z ]*PRIVATE KEY-----)"
)
_URL_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:(?P<password>[^/\s@]+)@", re.I)
_SECRET_WORDS = frozenset({"password", "passwd", "pwd", "secret", "token", "apikey", "credentials"})
_KEY_PREFIXES = frozenset(
    {"api", "access", "private", "secret", "auth", "client", "signing", "encryption"}
)
# Words that turn a secret-sounding name into a look-alike (tokenizer and config settings).
_NOT_SECRET = frozenset(
    {
        "pad",
        "eos",
        "bos",
        "unk",
        "sep",
        "cls",
        "mask",
        "special",
        "max",
        "min",
        "num",
        "n",
        "count",
        "len",
        "length",
        "type",
        "types",
        "id",
        "ids",
        "limit",
        "file",
        "path",
        "dir",
        "env",
        "var",
        "name",
        "field",
        "prompt",
        "start",
        "end",
        "vocab",
        "pattern",
        "regex",
        "input",
        "label",
        "prefix",
        "suffix",
        "index",
        "position",
        "budget",
        "usage",
        "per",
        "tokens",
        "expiry",
        "expires",
        "ttl",
        "url",
        "header",
        "column",
        "col",
        "hash",
        "policy",
        "reset",
        "requirements",
        "rules",
        "format",
        "kind",
        "level",
        "page",
        "next",
        "cursor",
        "continuation",
    }
)
_NAMES_OF_THINGS = frozenset({"key", "keys", "name", "names", "field", "header", "param"})
_PLACEHOLDER = re.compile(
    r"^(?:<.*>|\{.*\}|\$\{?.*\}?|%\(.*\)s|x{3,}.*|.*x{4,}.*|\*+|\.{3,}|-+|_+)$"
    r"|changeme|change[_-]me|your[_-]?(?:api|secret|token|key|password|pass)|placeholder"
    r"|dummy|example|redacted|^todo$|^none$|^null$|^test$|^secret$|^password$|^token$"
    r"|^fake|^sample|^my[_-]?(?:key|secret|token|password)|^insert|^replace|^enter",
    re.I,
)
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")


def secret_name(name: str) -> bool:
    """Whether an identifier or key names a credential (and not a tokenizer setting)."""
    parts = words(name)
    if not parts or _NOT_SECRET.intersection(parts):
        return False
    if parts[-1] in _NAMES_OF_THINGS and not (len(parts) > 1 and parts[-2] in _KEY_PREFIXES):
        return False  # TOKEN_KEY = "llm.token_count": the name of a key, not a key
    if _SECRET_WORDS.intersection(parts) or "apikey" in name.lower().replace("_", ""):
        return True
    return parts[-1] == "key" and len(parts) > 1 and parts[-2] in _KEY_PREFIXES


def _character_classes(text: str) -> int:
    """Lower case, upper case, digits, symbols (separators ``-_.`` do not count)."""
    return sum(
        (
            any(c.islower() for c in text),
            any(c.isupper() for c in text),
            any(c.isdigit() for c in text),
            any(not c.isalnum() and c not in "-_." for c in text),
        )
    )


def secret_value(text: str) -> bool:
    """Whether a literal under a secret-sounding name is plausibly a real credential.

    Real keys and passwords mix character classes; names, identifiers and words
    (``"api_key"``, ``"unused"``, ``"mlflow-gateway-auth"``) use one.
    """
    if len(text) < 6 or len(text) > 512 or any(c.isspace() for c in text):
        return False
    if _PLACEHOLDER.search(text) or _ENV_NAME.match(text):
        return False
    if "%" in text or "\\" in text or text.startswith(("/", "./", "http://", "https://")):
        return False  # date formats, regexes, paths and plain URLs
    return _character_classes(text) >= 2


def _target_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        key = node.slice.value
        return key if isinstance(key, str) else None
    return None


def _string(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _named_literals(nodes: list[ast.AST]) -> Iterator[tuple[str, ast.Constant]]:
    """(name, literal) pairs: assignments, keyword arguments, dict entries, env writes."""
    for node in nodes:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if isinstance(node.value, ast.Constant):
                for target in targets:
                    name = _target_name(target)
                    if name:
                        yield name, node.value
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg and isinstance(keyword.value, ast.Constant):
                    yield keyword.arg, keyword.value
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("setdefault", "putenv")
                and len(node.args) == 2
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                yield node.args[0].value, node.args[1]
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and isinstance(key.value, str)
                    and isinstance(value, ast.Constant)
                ):
                    yield key.value, value
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            spec = node.args
            positional = [*spec.posonlyargs, *spec.args]
            for arg, default in zip(
                positional[len(positional) - len(spec.defaults) :], spec.defaults, strict=True
            ):
                if isinstance(default, ast.Constant):
                    yield arg.arg, default


def check(analysis: Analysis) -> Iterator[Finding]:
    reported: set[int] = set()
    for name, literal in _named_literals(analysis.nodes):
        text = _string(literal)
        if (
            text is not None
            and id(literal) not in reported
            and secret_name(name)
            and secret_value(text)
        ):
            reported.add(id(literal))
            yield analysis.finding(
                CODE,
                f"{name!r} is set to a literal secret; read it from the environment or a "
                "secret store",
                literal,
            )
    docstrings = analysis.docstrings
    for node in analysis.nodes:
        text = _string(node) if isinstance(node, ast.Constant) else None
        if text is None or id(node) in reported or id(node) in docstrings:
            continue
        if any(_character_classes(m.group()) >= 2 for m in _TOKEN_SHAPES.finditer(text)):
            reported.add(id(node))
            yield analysis.finding(
                CODE,
                "literal looks like an API key or private key; revoke it and load it "
                "from the environment",
                node,
            )
            continue
        match = _URL_CREDENTIALS.match(text)
        if match and secret_value(match.group("password")):
            reported.add(id(node))
            yield analysis.finding(
                CODE, "URL carries a password; take credentials from the environment", node
            )
