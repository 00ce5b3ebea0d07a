"""MLC202: a secret (API key, token, password, credentials) is written into the code.

What it does
    Flags string literals that are credentials:

    * assigned to, passed as, or stored under a name that means a secret: ``password``,
      ``passwd``, ``DB_PASS``, ``secret``, ``api_key``, ``access_key``,
      ``aws_access_key_id``, ``private_key``, ``client_secret``, ``token`` / ``auth_token`` /
      ``hf_token`` ..., as a variable, attribute (``openai.api_key = "..."``), keyword
      argument (``comet_ml.Experiment(api_key=...)``, ``neptune.init_run(api_token=...)``,
      ``boto3.client(aws_secret_access_key=...)``, ``Minio(..., secret_key=...)``), default
      value or dict entry;
    * written into the environment in any of the usual ways: ``os.environ["X"] = "..."``,
      ``os.environ.update({...})`` / ``update(X="...")``, ``os.environ.setdefault``,
      ``os.putenv``, and ``%env X=...`` / ``%set_env`` in the form a notebook exported to a
      script carries (``get_ipython().run_line_magic("env", "X=...")``). There a
      service's ``*_KEY`` (``KAGGLE_KEY``, ``ROBOFLOW_KEY``) counts too when its value looks
      generated (16+ letters and digits), so ``PARTITION_KEY="customer_id"`` stays silent;
    * where the position says it is a credential: a bare ``key=`` on a call named for
      signing in (``wandb.login(key=...)``, ``ApiClient(key=...)``,
      ``Task.set_credentials(key=...)``, unlike ``sorted(key=...)`` or
      ``pd.Grouper(key=...)``), the ``"key"`` next to a ``"username"`` (kaggle.json), the
      password in ``smtp.login(user, password)``, ``auth=("user", "password")`` and
      ``HTTPBasicAuth(user, password)``, and a generated-looking token in ``login("...")``;
    * shaped like a well-known credential anywhere: AWS access keys (``AKIA...``), GitHub
      (``ghp_``, ``github_pat_``), OpenAI / Anthropic (``sk-...``), Slack (``xox?-``), Hugging
      Face (``hf_...``), Google (``AIza...``), Azure storage (``AccountKey=...``), private
      key blocks;
    * passwords in URLs: ``postgresql://user:pass@host/db``.

    Look-alikes are deliberately not flagged: tokenizer settings (``pad_token="[PAD]"``,
    ``eos_token``, ``max_tokens``, ``token_pattern``), names of environment variables
    (``api_key = "OPENAI_API_KEY"``), references (``"${DB_PASSWORD}"``, ``"{password}"``,
    ``"%(password)s"``), date formats, regexes, text with spaces, values shorter than 6
    characters, and placeholders: ``<your-key>``, ``xxx...``, ``***``, ``changeme``,
    ``your_api_key``, ``dummy``, ``example``, ``placeholder``, ``test``, ``secret``,
    ``password``, ``redacted``, ``todo``, ``none``/``null``; names of files that hold the
    credentials (``GOOGLE_APPLICATION_CREDENTIALS = "sa-key.json"``).

    Not seen: ``%env`` and ``!echo ... > kaggle.json`` lines inside an ``.ipynb``, which the
    notebook reader turns into ``pass`` before any rule runs.

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
    r"|\bhf_[A-Za-z0-9]{30,}|\bAIza[0-9A-Za-z_-]{35}|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\bAccountKey=[A-Za-z0-9+/]{40,})"
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
# A value that spells out what it stands for (``"TESTACCESSKEY12345"``, ``"my-api-key-1"``) is
# a stand-in: generated keys never contain these words.
_NAMES_ITSELF = re.compile(r"(?:access|secret|api)[_-]?key|access[_-]?token", re.I)
# Where only the position says "credential" (``auth=("user", "password1")``), a value that
# names a credential is a demo value, not one.
_DEMO_VALUE = re.compile(r"passw(?:or)?d|secret|token|key", re.I)
# A file that holds the credentials (GOOGLE_APPLICATION_CREDENTIALS="sa-Key1.json"), not one.
_FILE_NAME = re.compile(r"\.(?:json|pem|key|p12|pfx|crt|cer|txt|ya?ml|toml|ini|cfg|env)$", re.I)


def secret_name(name: str) -> bool:
    """Whether an identifier or key names a credential (and not a tokenizer setting)."""
    parts = words(name)
    if not parts:
        return False
    if "access_key_id" in "_".join(parts):
        return True  # aws_access_key_id: the public half, but only ever written with the secret
    if _NOT_SECRET.intersection(parts):
        return False
    if parts[-1] == "pass" and len(parts) > 1:
        return True  # DB_PASS, smtp_pass (a lone "pass" is a verdict or a state, not a key)
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
    if _PLACEHOLDER.search(text) or _ENV_NAME.match(text) or _FILE_NAME.search(text):
        return False
    if _NAMES_ITSELF.search(text):
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


# How a literal's position says it is a secret (see ``_is_secret``).
_BY_NAME = 0  # the name it is stored under must mean a secret (``api_key = ...``)
_ENV = 1  # an environment variable: also ``KAGGLE_KEY`` & co when the value looks generated
_SLOT = 2  # the position itself holds a credential (``wandb.login(key=...)``)
_GENERATED_SLOT = 3  # the position may hold one: only a generated-looking value counts

# Calls whose name says they sign in; their bare ``key=`` is an API key (``wandb.login``,
# ``ApiClient``, ``Task.set_credentials``), unlike ``sorted(key=...)`` or ``cache.get(key=...)``.
_SIGN_IN_WORDS = frozenset(
    {
        "login",
        "logon",
        "signin",
        "auth",
        "authenticate",
        "authorize",
        "api",
        "client",
        "credentials",
    }
)
_USER_WORDS = frozenset({"user", "username", "login"})
# An API key as services generate it: long, one run of letters, digits and base64 symbols.
# No ``/``: ``datasets/train2024/part0001`` is an object key, not an API key.
_GENERATED = re.compile(r"^[A-Za-z0-9+=_-]{16,}$")
_ENV_MAGICS = frozenset({"env", "set_env"})
_BASIC_AUTH = frozenset({"HTTPBasicAuth", "HTTPDigestAuth", "BasicAuth"})
# Calls whose positional arguments can hold a credential (the others only by keyword).
_POSITIONAL_CALLS = frozenset({"setdefault", "putenv", "run_line_magic", "login", *_BASIC_AUTH})
# (name it is stored under, the literal node, its text, how its position counts)
_Literal = tuple[str, ast.Constant, str | None, int]


def _generated(text: str) -> bool:
    """Whether ``text`` looks like a generated key: long, letters and digits, no separators."""
    return (
        _GENERATED.match(text) is not None
        and any(c.isdigit() for c in text)
        and any(c.isalpha() for c in text)
    )


def _is_environ(node: ast.expr) -> bool:
    """``os.environ`` or a bare ``environ`` (``from os import environ``)."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _env_magic(node: ast.Call) -> tuple[str, ast.Constant, str] | None:
    """``get_ipython().run_line_magic('env', 'NAME=value')``: ``%env`` as IPython runs it.

    A ``.py`` exported from a notebook (nbconvert, jupytext) carries ``%env`` in this form.
    """
    if len(node.args) != 2 or _string(node.args[0]) not in _ENV_MAGICS:
        return None
    argument = node.args[1]
    text = _string(argument)
    if text is None or not isinstance(argument, ast.Constant):
        return None
    name, _, value = text.strip().partition("=")
    if " " in name.strip():  # `%env NAME value`
        name, _, value = text.strip().partition(" ")
    name, value = name.strip(), value.strip()
    if not name or not value:
        return None
    return name, argument, value


def _call_literals(node: ast.Call) -> Iterator[_Literal]:
    """Literals a call passes where a credential goes (see ``_named_literals``)."""
    func = node.func
    called = _call_name(func)
    receiver = func.value if isinstance(func, ast.Attribute) else None
    environ_call = receiver is not None and _is_environ(receiver)
    for keyword in node.keywords:
        value = keyword.value
        if keyword.arg and isinstance(value, ast.Constant):
            if environ_call:  # os.environ.update(KAGGLE_KEY="...")
                yield keyword.arg, value, _string(value), _ENV
            elif keyword.arg == "key" and _SIGN_IN_WORDS.intersection(words(called)):
                yield "key", value, _string(value), _SLOT
            else:
                yield keyword.arg, value, _string(value), _BY_NAME
        elif keyword.arg == "auth" and isinstance(value, ast.Tuple) and len(value.elts) == 2:
            user, password = value.elts  # requests.get(url, auth=("alice", "p4ss..."))
            if isinstance(user, ast.Constant) and isinstance(password, ast.Constant):
                yield "password", password, _string(password), _SLOT
    args = node.args
    if called in ("setdefault", "putenv") and len(args) == 2:
        name = _string(args[0])
        if name is not None and isinstance(args[1], ast.Constant):
            env = called == "putenv" or (receiver is not None and _is_environ(receiver))
            yield name, args[1], _string(args[1]), _ENV if env else _BY_NAME
    elif called == "run_line_magic":
        magic = _env_magic(node)
        if magic is not None:
            yield magic[0], magic[1], magic[2], _ENV
    elif called in _BASIC_AUTH and len(args) == 2 and isinstance(args[1], ast.Constant):
        yield "password", args[1], _string(args[1]), _SLOT
    elif called == "login" and args and all(isinstance(a, ast.Constant) for a in args):
        if len(args) == 2:  # smtp.login("me@example.org", "p4ss..."): user, then password
            yield "password", args[1], _string(args[1]), _SLOT
        elif len(args) == 1:  # huggingface_hub.login("..."): a token, if it looks like one
            yield "token", args[0], _string(args[0]), _GENERATED_SLOT


def _dict_literals(node: ast.Dict) -> Iterator[_Literal]:
    """Dict entries; ``{"username": ..., "key": ...}`` (kaggle.json) makes ``key`` a secret."""
    entries = [
        (key.value, value)
        for key, value in zip(node.keys, node.values, strict=True)
        if isinstance(key, ast.Constant)
        and isinstance(key.value, str)
        and isinstance(value, ast.Constant)
    ]
    # cheap test first: only a dict with a "...key" entry needs its names split into words
    with_user = any(name[-3:].lower() == "key" for name, _ in entries) and any(
        words(name)[-1:] and words(name)[-1] in _USER_WORDS for name, _ in entries
    )
    for name, value in entries:
        parts = words(name)
        if with_user and parts and parts[-1] == "key":
            yield name, value, _string(value), _SLOT
        else:
            yield name, value, _string(value), _BY_NAME


def _named_literals(nodes: list[ast.AST]) -> Iterator[_Literal]:
    """Literals stored under a name: assignments, keyword arguments, dict entries, env writes."""
    for node in nodes:
        kind = type(node)
        if kind is ast.Assign or kind is ast.AnnAssign:
            targets = node.targets if kind is ast.Assign else [node.target]
            if isinstance(node.value, ast.Constant):
                for target in targets:
                    name = _target_name(target)
                    if name:
                        env = isinstance(target, ast.Subscript) and _is_environ(target.value)
                        yield name, node.value, _string(node.value), _ENV if env else _BY_NAME
        elif kind is ast.Call:
            if node.keywords or _call_name(node.func) in _POSITIONAL_CALLS:
                yield from _call_literals(node)
        elif kind is ast.Dict:
            yield from _dict_literals(node)
        elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
            spec = node.args
            positional = [*spec.posonlyargs, *spec.args]
            for arg, default in zip(
                positional[len(positional) - len(spec.defaults) :], spec.defaults, strict=True
            ):
                if isinstance(default, ast.Constant):
                    yield arg.arg, default, _string(default), _BY_NAME


def _env_key_name(name: str) -> bool:
    """``KAGGLE_KEY``, ``ROBOFLOW_KEY``: an environment variable named as some service's key."""
    parts = words(name)
    return (
        _ENV_NAME.match(name) is not None
        and parts[-1] == "key"
        and not _NOT_SECRET.intersection(parts)
    )


def _is_secret(name: str, text: str, how: int) -> bool:
    """Whether ``text``, stored under ``name`` at a position of kind ``how``, is a secret.

    The name is tested before the value: most literals have a name that is no secret's, and
    that test is the cheaper one.
    """
    if how == _BY_NAME:
        return secret_name(name) and secret_value(text)
    if how == _ENV:
        by_name = secret_name(name) or (_env_key_name(name) and _generated(text))
        return by_name and secret_value(text)
    if _DEMO_VALUE.search(text) or not secret_value(text):
        return False
    return how == _SLOT or _generated(text)


def check(analysis: Analysis) -> Iterator[Finding]:
    reported: set[int] = set()
    for name, literal, text, how in _named_literals(analysis.nodes):
        if text is not None and id(literal) not in reported and _is_secret(name, text, how):
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
