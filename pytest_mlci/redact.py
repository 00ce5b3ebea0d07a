"""One redaction for every address the product prints, logs, records or puts in a report.

Registry, database, object-store and anchor addresses arrive from configuration and CI
secrets (``MLCI_REGISTRY=http://user:password@host``); they end up in status lines, error
messages, ledger records, model cards and evidence packages. Every one of those goes through
:func:`redact_text` (text that may *contain* addresses) or :func:`redact_uri` (one address),
so a secret is never written anywhere a reader of the output could see it.

What counts as secret:

* the password of a URL's user info (the user name is kept, it says *who* connects);
* libpq keyword values (``password=...``, ``password = '...'``, ``sslpassword=...``) and
  ``NAME_PASSWORD=`` / ``NAME_SECRET=`` / ``NAME_TOKEN=`` assignments in text;
* URL query parameters whose name says they carry a credential (``password``, ``token``,
  ``secret``, ``key``, ``sig``, ``X-Amz-Signature``, ``X-Goog-Credential``, ...).

Host, port, path, database and user names are kept: they are what a reader needs to fix a
connection problem. Redacting twice gives the same text as redacting once.

Standard library only: the CLI's error path imports it.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "redact_text", "redact_uri"]

MASK = "***"

# scheme://user:password@host  ->  scheme://user:***@host. A password holds '/', '@' or
# whitespace only percent-encoded, as URLs require; an unencoded '@' is tolerated (the match
# runs to the last '@' before the host part, which cannot contain '/').
_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s'\"]*):(?P<pw>[^/\s]*)@"
)

# Words that make a parameter a credential, as a whole name or its last part
# (``aws_secret_access_key`` ends in ``key``, ``X-Amz-Signature`` in ``signature``).
_SECRET_WORDS = (
    r"password|passwd|pwd|pass|passphrase|token|secret|key|apikey|sig|signature|sas|"
    r"credential|credentials|auth|authorization"
)
_SECRET_NAME = rf"(?:[A-Za-z0-9]+[_.\-])*(?:{_SECRET_WORDS})"

# In a URL query (after '?', '&' or ';'): any credential-named parameter.
_QUERY_SECRET = re.compile(
    rf"(?P<lead>[?&;])(?P<name>{_SECRET_NAME})=(?P<value>[^&\s;#'\"]*)", re.IGNORECASE
)
# In free text (a libpq keyword DSN, an environment assignment): only names that cannot be
# ordinary words in a message, so "key=roc_auc" in prose stays as it is; a glued prefix
# counts (``sslpassword``, ``PGPASSWORD``), and so does any name holding ``password`` or
# ``secret`` (``AWS_SECRET_ACCESS_KEY``).
_TEXT_SECRET_WORDS = (
    r"[A-Za-z0-9_.\-]*?(?:password|passwd|secret)[A-Za-z0-9_.\-]*|"
    r"[A-Za-z0-9_.\-]*?(?:pwd|passphrase|token|signature|credentials?)"
)
_TEXT_SECRET = re.compile(
    rf"(?P<lead>(?<![\w.\-])(?:{_TEXT_SECRET_WORDS}))"
    r"(?P<eq>[ \t]*=[ \t]*)"
    # A value never starts with '=': base64 padding ("...Token==") is not an assignment.
    r"(?:'(?P<quoted>(?:[^'\\]|\\.)*)'|(?P<value>[^\s'\"&;,)=][^\s'\"&;,)]*))",
    re.IGNORECASE,
)


def redact_uri(uri: str) -> str:
    """``uri`` with its password and credential parameters masked; anything else kept."""
    return redact_text(uri)


def redact_text(text: str) -> str:
    """``text`` with every embedded address's secrets masked (see the module docstring)."""
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m['lead']}{m['name']}={MASK}", text)
    return _TEXT_SECRET.sub(_mask_assignment, text)


def _mask_assignment(match: re.Match[str]) -> str:
    if (match["value"] or "").startswith(MASK):
        return match[0]  # a query value masked already: keep what follows it (#fragment)
    quoted = match["quoted"] is not None
    value = f"'{MASK}'" if quoted else MASK
    return f"{match['lead']}{match['eq']}{value}"
