"""The key that signs audit checkpoints and evidence manifests: HMAC-SHA256 or an SSH key.

* ``hmac``: a secret from the CI's secret store in an environment variable (``key_env``).
  Microseconds per signature and nothing to install; but verifying needs the same secret,
  so whoever can verify can also sign.
* ``ssh``: ``ssh-keygen -Y sign`` with a private key on the runner; anyone with the committed
  public key can verify, and cannot sign. A subprocess per signature (a few milliseconds).

Every signature is bound to a *namespace* (what the bytes are: a checkpoint, an intent, an
evidence manifest), so one kind can never be passed off as another.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pytest_mlci.errors import ConfigError, MlciError

__all__ = ["HmacKey", "SignatureMismatch", "Signer", "SshKey", "signer_for"]


class SignatureMismatch(MlciError):
    """A signature that does not verify: forged, made by another key, or over other bytes."""


class Signer(Protocol):
    """Sign bytes and check signatures; ``key_id`` names the key without revealing it."""

    scheme: str
    key_id: str

    def sign(self, data: bytes, namespace: str) -> str: ...

    def verify(self, data: bytes, namespace: str, signature: str) -> None: ...

    def check_can_sign(self) -> None: ...


@dataclass(frozen=True)
class HmacKey:
    """HMAC-SHA256 with a secret key (from a CI secret)."""

    secret: bytes
    source: str  # where the secret came from, for messages ("$MLCI_AUDIT_KEY")
    scheme: str = "hmac-sha256"

    @property
    def key_id(self) -> str:
        # A one-way, domain-separated digest: tells keys apart, reveals nothing usable.
        return "hmac:" + hashlib.sha256(b"mlci-audit-key-id\0" + self.secret).hexdigest()[:16]

    def sign(self, data: bytes, namespace: str) -> str:
        return hmac.new(self.secret, namespace.encode() + b"\0" + data, hashlib.sha256).hexdigest()

    def verify(self, data: bytes, namespace: str, signature: str) -> None:
        if not hmac.compare_digest(self.sign(data, namespace), str(signature)):
            raise SignatureMismatch(f"HMAC does not match under the key in {self.source}")

    def check_can_sign(self) -> None:
        return None


@dataclass(frozen=True)
class SshKey:
    """An SSH key: the private half signs (runner), the public half verifies (anyone)."""

    public_key: str  # "ssh-ed25519 AAAA... comment"
    private_key: Path | None
    scheme: str = "ssh"

    @property
    def key_id(self) -> str:
        from mlci_local.sshsig import fingerprint

        return fingerprint(self.public_key)

    def sign(self, data: bytes, namespace: str) -> str:
        from mlci_local.sshsig import sign

        self.check_can_sign()
        assert self.private_key is not None
        return sign(data, self.private_key, namespace, label="[tool.mlci.audit] ssh_key")

    def verify(self, data: bytes, namespace: str, signature: str) -> None:
        from mlci_local.sshsig import SignatureInvalid, verify_with_public_key

        try:
            verify_with_public_key(
                data, str(signature), namespace=namespace, public_key=self.public_key
            )
        except SignatureInvalid as exc:
            raise SignatureMismatch(f"{exc} (key {self.key_id})") from None

    def check_can_sign(self) -> None:
        if self.private_key is None or not self.private_key.is_file():
            where = self.private_key or "not configured"
            raise ConfigError(
                f"signing = 'ssh' but the private key ({where}) is not on this machine; set "
                "it to the key file the runner signs with",
                key="audit.ssh_key",
            )


def signer_for(config: Any) -> HmacKey | SshKey | None:
    """The project's signing key, or None when ``signing = "none"``.

    An HMAC key that is not set is an error (naming the variable), never a silent downgrade
    to unsigned: a CI job whose secret went missing must not write an unprotected trail.
    """
    audit = config.audit
    if audit.signing == "none":
        return None
    if audit.signing == "hmac":
        secret = os.environ.get(audit.key_env, "")
        if len(secret) < 16:
            state = "is not set" if not secret else "is shorter than 16 characters"
            raise ConfigError(
                f"signing = 'hmac' but ${audit.key_env} {state}; export the "
                "CI secret that holds the audit key (32+ random bytes, e.g. "
                "`openssl rand -hex 32`)",
                key="audit.key_env",
            )
        return HmacKey(secret.encode("utf-8"), f"${audit.key_env}")
    public = audit.public_key
    try:
        text = public.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"{public}: cannot read the public key ({exc.strerror})",
            key="audit.public_key",
        ) from None
    if len(text.split()) < 2 or not text.split()[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise ConfigError(
            f"{public} is not an OpenSSH public key "
            "(expected a line such as 'ssh-ed25519 AAAA... ci@example')",
            key="audit.public_key",
        )
    return SshKey(text.splitlines()[0], audit.ssh_key)
