"""GnuPG for approvals, where a team signs with OpenPGP keys: sign, verify against a keyring.

The counterpart of :mod:`mlci_local.approval_keys` for ``approvals.identity = "gpg"``. The
"allowed signers" are an ASCII-armored export of the approvers' public keys
(``gpg --armor --export alice@example.com bob@example.com``) committed in the repository;
each verification imports it into a fresh, private keyring, so the user's own keyring and
trust settings never decide what counts. A key's principals are the e-mail addresses of its
user IDs. GnuPG has no signature namespaces: the signed payload names its own
(``"namespace": "mlci-approval"``) and :mod:`mlci_local.approvals` checks it.

Verification runs gpg with ``--no-autostart``: no agent is left behind by a check.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from mlci_local.sshsig import SignatureInvalid, Verified, run_tool
from pytest_mlci.errors import ConfigError

TIMEOUT_S = 30
_EMAIL = re.compile(r"<([^<>\s]+@[^<>\s]+)>")


def gpg() -> str:
    """The ``gpg`` executable, or a ConfigError saying how to get it."""
    found = shutil.which("gpg")
    if found is None:
        raise ConfigError("gpg was not found on PATH; approvals.identity = 'gpg' needs GnuPG 2")
    return found


def sign(data: bytes, key: str | None) -> str:
    """An armored detached signature of ``data`` by ``key`` (a key id, fingerprint or e-mail;
    None: gpg's default key), from the user's own keyring and agent."""
    user = ["--local-user", key] if key else []
    try:
        done = subprocess.run(
            [gpg(), "--armor", "--detach-sign", *user, "--output", "-"],
            input=data, capture_output=True, timeout=300,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ConfigError("gpg --detach-sign did not finish in 300 s") from None
    if done.returncode != 0 or b"BEGIN PGP SIGNATURE" not in done.stdout:
        why = " ".join(done.stderr.decode(errors="replace").split()) or f"exit {done.returncode}"
        raise ConfigError(f"--key {key or '(gpg default key)'}: gpg could not sign: {why}")
    return done.stdout.decode("ascii")


def verify(data: bytes, signature: str, keyring: Path) -> Verified:
    """Prove ``signature`` is a good signature over ``data`` by a key in ``keyring`` (an
    armored public-key export); the primary key's fingerprint and its user IDs' e-mails."""
    with tempfile.TemporaryDirectory(prefix="mlci-gpg-") as home:
        base = [gpg(), "--batch", "--no-autostart", "--homedir", home]
        imported = _run([*base, "--import", str(keyring)])
        if imported.returncode != 0:
            raise SignatureInvalid("the committed keyring could not be imported into gpg")
        (Path(home) / "payload").write_bytes(data)
        (Path(home) / "payload.asc").write_text(signature, encoding="ascii")
        checked = _run([*base, "--status-fd", "1", "--verify",
                        str(Path(home) / "payload.asc"), str(Path(home) / "payload")])  # fmt: skip
        status = [line.split() for line in checked.stdout.splitlines()]
        codes = {parts[1]: parts for parts in status if len(parts) > 1}
        if "NO_PUBKEY" in codes:
            raise SignatureInvalid("its key is not in the committed keyring")
        if checked.returncode != 0 or "GOODSIG" not in codes or "VALIDSIG" not in codes:
            bad = next((c for c in ("EXPKEYSIG", "REVKEYSIG", "EXPSIG") if c in codes), None)
            why = f" ({bad})" if bad else ""
            raise SignatureInvalid(
                f"the signature does not verify{why} (the signed payload or the signature "
                "was altered)"
            )
        primary = codes["VALIDSIG"][-1]
        listed = _run([*base, "--with-colons", "--list-keys", primary])
        emails = []
        for line in listed.stdout.splitlines():
            fields = line.split(":")
            if fields[0] == "uid" and len(fields) > 9:
                emails += _EMAIL.findall(fields[9].replace("\\x3a", ":"))
        if not emails:
            raise SignatureInvalid(f"key {primary} has no user ID with an e-mail address")
        return Verified(primary, tuple(dict.fromkeys(emails)))


def commit_signer(root: Path, commit: str, keyring: Path) -> tuple[str | None, str | None]:
    """The signing and primary key fingerprints of an OpenPGP-signed ``commit``, as git reads
    them with only the committed keyring (``%GF``, ``%GP``); None where unsigned."""
    import os

    with tempfile.TemporaryDirectory(prefix="mlci-gpg-") as home:
        _run([gpg(), "--batch", "--no-autostart", "--homedir", home, "--import", str(keyring)])
        try:
            done = subprocess.run(
                ["git", "log", "-1", "--format=%GF%x1f%GP", commit], cwd=root,
                capture_output=True, text=True, timeout=TIMEOUT_S,
                env={**os.environ, "GNUPGHOME": home},
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return None, None
    signing, _, primary = done.stdout.strip().partition("\x1f")
    return signing or None, primary or None


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return run_tool(args, what="gpg")
