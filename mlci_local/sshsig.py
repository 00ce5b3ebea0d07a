"""OpenSSH signatures through ``ssh-keygen -Y``: sign bytes, find who signed, verify.

One wrapper for every signature the product makes or checks: approvals (verified against the
committed allowed-signers file, which maps principals such as e-mail addresses to public keys,
in the format of ssh-keygen(1) "ALLOWED SIGNERS"), audit checkpoints and evidence manifests
(verified against one configured public key). It is the tool git uses for SSH-signed commits
(``gpg.format = ssh``), present on every runner with OpenSSH, so no crypto is reimplemented.

Only the standard library is imported: ``mlci approve`` and every ledger append use it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pytest_mlci.errors import ConfigError

TIMEOUT_S = 30
_FINGERPRINT = re.compile(r"key (SHA256:[A-Za-z0-9+/=]+)")
_PRINCIPAL = "mlci-signer"  # the one principal of a single-key allowed-signers file


class SignatureInvalid(Exception):
    """A signature that does not prove what it claims; the message says why."""


@dataclass(frozen=True)
class Verified:
    """A good signature: the key's fingerprint and every principal the key is listed under."""

    fingerprint: str
    principals: tuple[str, ...]


def ssh_keygen() -> str:
    """The ``ssh-keygen`` executable, or a ConfigError saying how to get it."""
    found = shutil.which("ssh-keygen")
    if found is None:
        raise ConfigError(
            "ssh-keygen was not found on PATH; signed approvals need OpenSSH 8.2 or newer "
            "(e.g. `apt-get install openssh-client`)"
        )
    return found


def sign(data: bytes, key: Path, namespace: str, *, label: str = "--key") -> str:
    """Sign ``data`` with ``key`` (a private key, or a public key whose private half is in
    ssh-agent); the armored signature. A passphrase, if any, is asked on the terminal.
    ``label`` names where the key came from in an error (an option or a config key)."""
    with tempfile.TemporaryDirectory(prefix="mlci-sign-") as scratch:
        message = Path(scratch) / "payload"
        message.write_bytes(data)
        try:
            done = subprocess.run(
                [ssh_keygen(), "-Y", "sign", "-n", namespace, "-f", str(key), str(message)],
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise ConfigError(f"ssh-keygen -Y sign with {key} did not finish in 300 s") from None
        signature = message.with_name("payload.sig")
        if done.returncode != 0 or not signature.is_file():
            why = " ".join(done.stderr.split()) or f"exit {done.returncode}"
            raise ConfigError(f"{label} {key}: ssh-keygen could not sign with it: {why}")
        return signature.read_text(encoding="ascii")


def verify(data: bytes, signature: str, allowed_signers: Path, namespace: str) -> Verified:
    """Prove ``signature`` is a good ``namespace`` signature over ``data`` by a key listed in
    ``allowed_signers``; raises :class:`SignatureInvalid` naming what failed."""
    with tempfile.TemporaryDirectory(prefix="mlci-verify-") as scratch:
        sig = Path(scratch) / "payload.sig"
        sig.write_text(signature, encoding="ascii")
        found = _run(["-Y", "find-principals", "-f", str(allowed_signers), "-s", str(sig)])
        principals = tuple(line.strip() for line in found.stdout.splitlines() if line.strip())
        if found.returncode != 0 or not principals:
            raise SignatureInvalid("its key is not in the allowed signers")
        checked = _run(
            ["-Y", "verify", "-f", str(allowed_signers), "-I", principals[0], "-n", namespace,
             "-s", str(sig)],
            data,
        )  # fmt: skip
        if checked.returncode != 0:
            raise SignatureInvalid(
                f"the signature does not verify for namespace '{namespace}' (the signed "
                "payload or the signature was altered, or the key may not sign this namespace)"
            )
        match = _FINGERPRINT.search(checked.stdout + checked.stderr)
        if match is None:
            raise SignatureInvalid("ssh-keygen verified it but printed no key fingerprint")
        return Verified(match.group(1), principals)


def fingerprint(public_key: str) -> str:
    """``SHA256:...`` of an OpenSSH public key line, as ``ssh-keygen -l`` prints it."""
    parts = public_key.split()
    if len(parts) < 2:
        raise ValueError("not an OpenSSH public key line ('ssh-ed25519 AAAA... comment')")
    blob = base64.b64decode(parts[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def verify_with_public_key(data: bytes, signature: str, *, namespace: str, public_key: str) -> None:
    """Raise :class:`SignatureInvalid` unless ``signature`` is ``public_key``'s over ``data``
    in ``namespace`` (a one-line allowed-signers file built for the check)."""
    with tempfile.TemporaryDirectory(prefix="mlci-verify-") as scratch:
        allowed = Path(scratch) / "allowed_signers"
        allowed.write_text(f"{_PRINCIPAL} {' '.join(public_key.split()[:2])}\n")
        sig = Path(scratch) / "data.sig"
        sig.write_text(signature, encoding="ascii")
        args = ["-Y", "verify", "-f", str(allowed), "-I", _PRINCIPAL, "-n", namespace]
        if _run([*args, "-s", str(sig)], data).returncode != 0:
            raise SignatureInvalid(f"the SSH signature does not verify for namespace '{namespace}'")


def _run(args: list[str], data: bytes = b"") -> subprocess.CompletedProcess[str]:
    return run_tool([ssh_keygen(), *args], data, what=f"ssh-keygen {args[1]}")


def run_tool(argv: list[str], data: bytes = b"", *, what: str) -> subprocess.CompletedProcess[str]:
    """Run a signing tool (ssh-keygen, gpg) on ``data``; its output as text. A tool that
    hangs is a signature that proves nothing: :class:`SignatureInvalid` naming ``what``."""
    try:
        done = subprocess.run(argv, input=data, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SignatureInvalid(f"{what} did not finish in {TIMEOUT_S} s") from None
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
    )  # fmt: skip
