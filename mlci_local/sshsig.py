"""OpenSSH signatures through ``ssh-keygen -Y`` for audit checkpoints and evidence manifests.

NOTE (approvals engineer): the original of this file was overwritten by mistake at 08:34 by
the approvals work (which now lives in ``mlci_local/approval_keys.py``). This is a
reconstruction of the API ``mlci_local/audit/signing.py`` calls — ``fingerprint``, ``sign``,
``SshSignatureError``, ``verify_with_public_key`` — please compare with your intent.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from pytest_mlci.errors import ConfigError

TIMEOUT_S = 30
_PRINCIPAL = "mlci-signer"


class SshSignatureError(Exception):
    """A signature that ``ssh-keygen -Y verify`` does not accept; the message says why."""


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise ConfigError("ssh-keygen was not found on PATH; SSH signing needs OpenSSH 8.2+")
    return found


def fingerprint(public_key: str) -> str:
    """``SHA256:...`` of an OpenSSH public key line, as ``ssh-keygen -l`` prints it."""
    parts = public_key.split()
    if len(parts) < 2:
        raise ValueError("not an OpenSSH public key line ('ssh-ed25519 AAAA... comment')")
    blob = base64.b64decode(parts[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def sign(data: bytes, private_key: Path, namespace: str) -> str:
    """The armored ``namespace`` signature of ``data`` by ``private_key``."""
    with tempfile.TemporaryDirectory(prefix="mlci-sshsig-") as scratch:
        message = Path(scratch) / "data"
        message.write_bytes(data)
        done = subprocess.run(
            [_ssh_keygen(), "-Y", "sign", "-n", namespace, "-f", str(private_key), str(message)],
            capture_output=True, text=True, timeout=TIMEOUT_S,
        )  # fmt: skip
        signature = message.with_name("data.sig")
        if done.returncode != 0 or not signature.is_file():
            why = " ".join(done.stderr.split()) or f"exit {done.returncode}"
            raise ConfigError(f"ssh-keygen could not sign with {private_key}: {why}")
        return signature.read_text(encoding="ascii")


def verify_with_public_key(data: bytes, signature: str, *, namespace: str, public_key: str) -> None:
    """Raise :class:`SshSignatureError` unless ``signature`` is ``public_key``'s over ``data``."""
    with tempfile.TemporaryDirectory(prefix="mlci-sshsig-") as scratch:
        allowed = Path(scratch) / "allowed_signers"
        allowed.write_text(f"{_PRINCIPAL} {' '.join(public_key.split()[:2])}\n")
        sig = Path(scratch) / "data.sig"
        sig.write_text(signature, encoding="ascii")
        done = subprocess.run(
            [_ssh_keygen(), "-Y", "verify", "-f", str(allowed), "-I", _PRINCIPAL,
             "-n", namespace, "-s", str(sig)],
            input=data, capture_output=True, timeout=TIMEOUT_S,
        )  # fmt: skip
        if done.returncode != 0:
            raise SshSignatureError(
                f"the SSH signature does not verify for namespace '{namespace}'"
            )
