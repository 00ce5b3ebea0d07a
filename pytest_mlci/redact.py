"""One redaction for every address the product prints, logs, records or puts in a report.

Registry, database, object-store and anchor addresses arrive from configuration and CI
secrets (``MLCI_REGISTRY=http://user:password@host``); they end up in status lines, error
messages, ledger records, model cards and evidence packages. Every one of those goes through
:func:`redact_text` (text that may *contain* addresses) or :func:`redact_uri` (one address),
so a secret is never written anywhere a reader of the output could see it.

What counts as secret: the password of a URL's user info (the user name is kept, it says
*who* connects), libpq keyword values (``password=...``), and query parameters whose name
says they carry a credential (``password``, ``token``, ``secret``, ``key``, signatures).

Standard library only: the CLI's error path imports it.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "redact_text", "redact_uri"]

MASK = "***"

# scheme://user:password@host  ->  scheme://user:***@host   (the password may hold ':' or '@'
# only percent-encoded, as URLs require; an unencoded '@' in a password ends at the last '@'
# before the host part, which the greedy-but-slash-free match below handles.)
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^/\s]*)@"
)
# ?password=...&token=...  (URL query) and password=... (libpq keyword DSN)
_SECRET_NAMES = (
    r"password|passwd|pwd|pass|token|access_token|refresh_token|secret|client_secret|"
    r"api[_-]?key|key|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|"
    r"sas|credential|credentials|auth"
)
_QUERY_SECRET = re.compile(
    rf"(?P<lead>[?&;]|\s|^)(?P<name>{_SECRET_NAMES})=(?P<value>[^&\s;#]*)", re.IGNORECASE
)
_QUOTED_KEYWORD = re.compile(
    rf"(?P<lead>\s|^)(?P<name>{_SECRET_NAMES})\s*=\s*'(?P<value>(?:[^'\\]|\\.)*)'", re.IGNORECASE
)


def redact_uri(uri: str) -> str:
    """``uri`` with its password and credential parameters masked; anything else kept."""
    return redact_text(uri)


def redact_text(text: str) -> str:
    """``text`` with every embedded address's secrets masked (see the module docstring)."""
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _QUOTED_KEYWORD.sub(lambda m: f"{m['lead']}{m['name']}='{MASK}'", text)
    return _QUERY_SECRET.sub(
        lambda m: f"{m['lead']}{m['name']}={MASK}" if m["value"] != MASK else m[0], text
    )
