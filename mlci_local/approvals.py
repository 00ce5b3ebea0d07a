"""Approvals people can prove they gave: signed payloads checked at promotion time.

An approval is an OpenSSH signature (``ssh-keygen -Y sign -n mlci-approval``) over a canonical
JSON payload naming the model, the version, the artifact's sha256, the role and the time. The
payload and signature are stored in the ``approve`` ledger record. Whether an approval
*counts* is decided again every time promotion asks (:func:`tally`), never trusted from the
ledger, because anyone who can write ``.mlci/`` can append a record:

- the signature must verify against the allowed-signers file read from the git commit the
  version was registered from (``git show COMMIT:PATH``), never from the working tree, so
  adding yourself to the list takes a reviewed commit, and that commit is the one promoted;
- the signed payload must name this model, version and digest (no replay onto another build);
- the signer's principal must be in ``[tool.mlci.approvals] approvers`` when that is set;
- the signer must not be the commit's author: no principal of the key may equal the author's
  e-mail, and the key may not be the one that signed the commit (``git log --format=%GK``);
- one key and one principal count once.

``approvals.identity = "gpg"`` does the same with OpenPGP (:mod:`mlci_local.approval_gpg`):
the committed file is then an armored export of the approvers' public keys.

``approvals.identity = "unverified"`` keeps the old, unauthenticated rule ($MLCI_ACTOR or git
``user.email``), and every record, card and evidence package says "unverified".
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlci_local import sshsig
from mlci_local.ledger import LedgerBase, LedgerRecord
from mlci_local.tiers import policy_for
from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import ConfigError
from pytest_mlci.registry_read import RegisteredVersion

NAMESPACE = "mlci-approval"
FORMAT = "mlci-approval/1"
TAG_COMMIT = "mlci.git.commit"
TAG_IDENTITY = "mlci.approvals.identity"
UNVERIFIED_NOTE = (
    'UNVERIFIED identity ([tool.mlci.approvals] identity = "unverified"): the approver\'s '
    "name comes from $MLCI_ACTOR or git user.email and is not authenticated"
)


@dataclass(frozen=True)
class Rejected:
    """An approval record that does not count, and why."""

    seq: int
    claimed: str
    why: str

    def line(self) -> str:
        return f"ledger seq {self.seq} ({self.claimed}): {self.why}"


@dataclass(frozen=True)
class Tally:
    """The approvals of one version that count, under the project's identity rule."""

    identity: str
    counted: tuple[str, ...]
    rejected: tuple[Rejected, ...]
    source: str  # what they were checked against, for messages
    accepted: tuple[int, ...] = ()  # ledger seqs of the records that hold (repeats included)


# --------------------------------------------------------------------------- the payload


def payload(
    model: str, version: str, digest: str, role: str, comment: str = "", time: str | None = None
) -> bytes:
    """The canonical bytes an approver signs (sorted keys, no spaces, UTF-8)."""
    body = {
        "format": FORMAT,
        "namespace": NAMESPACE,
        "model": model,
        "version": str(version),
        "digest": digest,
        "role": role,
        "comment": comment,
        "time": time or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signing_key(root: Path, explicit: str | None) -> Path:
    """``--key PATH``, else git's ``user.signingkey`` when ``gpg.format = ssh``.

    A ``key::ssh-ed25519 AAAA...`` literal (a public key whose private half is in ssh-agent)
    is written to a private temporary file for ssh-keygen.
    """
    if explicit:
        key = Path(explicit).expanduser()
        if not key.is_file():
            raise ConfigError(f"--key {explicit}: no such file (give your SSH private key)")
        return key
    if _git(root, "config", "--get", "gpg.format") == "ssh":
        configured = _git(root, "config", "--get", "user.signingkey")
        if configured and configured.startswith("key::"):
            handle, name = tempfile.mkstemp(prefix="mlci-signingkey-", suffix=".pub")
            with os.fdopen(handle, "w") as out:
                out.write(configured.removeprefix("key::") + "\n")
            return Path(name)
        if configured:
            key = Path(configured).expanduser()
            if key.is_file():
                return key
            raise ConfigError(f"git config user.signingkey {configured}: no such file")
    raise ConfigError(f"no SSH signing key given; {how_to_sign_hint()}")


def how_to_sign_hint(model: str = "MODEL", version: str = "VERSION", scheme: str = "ssh") -> str:
    """The exact commands that make a signed approval, for refusal messages."""
    if scheme == "gpg":
        return (
            f"sign it with your GPG key: `mlci approve {model} {version} --key YOUR_KEY_ID` (or "
            "set git's `user.signingkey`); its public key must be in the committed keyring: "
            "`gpg --armor --export YOUR_EMAIL >> .allowed_signers.asc` in a reviewed commit"
        )
    return (
        f"sign it with your SSH key: `mlci approve {model} {version} --key ~/.ssh/id_ed25519` "
        "(or set git's `gpg.format ssh` and `user.signingkey`). No key yet: "
        "`ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519`, then add `YOUR_EMAIL ssh-ed25519 AAAA...` "
        "to the allowed signers file in a reviewed commit"
    )


def scheme_of(config: MlciConfig) -> str:
    """How approvals are signed here: "gpg" when chosen, else OpenSSH."""
    return "gpg" if config.approvals.identity == "gpg" else "ssh"


def sign_approval(
    config: MlciConfig, target: RegisteredVersion, role: str, comment: str, key: str | None
) -> dict[str, Any]:
    """The ``approve`` record's data for a signed approval of ``target``, signed with
    ``key`` (ssh: a key file, default git's ``user.signingkey``; gpg: a key id, default
    git's ``user.signingkey``, else gpg's default key)."""
    body = payload(config.model, target.version, target.digest or "", role, comment)
    scheme = scheme_of(config)
    if scheme == "gpg":
        from mlci_local import approval_gpg

        if key is None and _git(config.root, "config", "--get", "gpg.format") in (None, "openpgp"):
            key = _git(config.root, "config", "--get", "user.signingkey")
        signature = approval_gpg.sign(body, key)
    else:
        signature = sshsig.sign(body, signing_key(config.root, key), NAMESPACE)
    return {
        "model": config.model,
        "version": target.version,
        "digest": target.digest,
        "role": role,
        "comment": comment,
        "identity": scheme,
        "namespace": NAMESPACE,
        "payload": body.decode(),
        "signature": signature,
    }


# --------------------------------------------------------------------------- counting


def tally(config: MlciConfig, ledger: LedgerBase, target: RegisteredVersion) -> Tally:
    """Every ``approve`` record for ``target``'s digest, judged now (see the module doc)."""
    records = ledger.find("approve", model=config.model, digest=target.digest)
    if config.approvals.identity == "unverified":
        return _tally_unverified(config, ledger, target, records)
    with commit_context(config, target) as context:
        counted: list[str] = []
        keys: set[str] = set()
        rejected: list[Rejected] = []
        accepted: list[int] = []
        for record in records:
            claimed = str(record.data.get("approver") or record.actor)
            try:
                principal, fingerprint = context.check(record.data)
            except sshsig.SignatureInvalid as exc:
                rejected.append(Rejected(record.seq, claimed, str(exc)))
                continue
            accepted.append(record.seq)
            if principal in counted or fingerprint in keys:
                continue  # the same person or key again: one approval
            counted.append(principal)
            keys.add(fingerprint)
        return Tally(
            context.scheme, tuple(counted), tuple(rejected), context.source, tuple(accepted)
        )


def _tally_unverified(
    config: MlciConfig,
    ledger: LedgerBase,
    target: RegisteredVersion,
    records: list[LedgerRecord],
) -> Tally:
    """Yesterday's rule, kept only by explicit choice: names as claimed, not proven."""
    policy = policy_for(config)
    registered = ledger.find("register", model=config.model, digest=target.digest)
    author = registered[-1].data.get("author") if registered else None
    counted: list[str] = []
    rejected: list[Rejected] = []
    accepted: list[int] = []
    for record in records:
        who = str(record.data.get("approver") or record.actor)
        if policy.independent and who not in config.approvals.approvers:
            rejected.append(Rejected(record.seq, who, "not in [tool.mlci.approvals] approvers"))
        elif policy.independent and who == author:
            rejected.append(Rejected(record.seq, who, "wrote the commit"))
        else:
            accepted.append(record.seq)
            if who not in counted:
                counted.append(who)
    return Tally("unverified", tuple(counted), tuple(rejected), "unverified names", tuple(accepted))


class CommitContext:
    """The promoted commit's allowed signers, author and signing key, read once per tally."""

    def __init__(self, config: MlciConfig, target: RegisteredVersion, signers: Path | None,
                 problem: str | None, author: str | None, commit_key: str | None,
                 commit_signer: str | None) -> None:  # fmt: skip
        self.config = config
        self.target = target
        self.signers = signers
        self.problem = problem
        self.author = author
        self.commit_key = commit_key
        self.commit_signer = commit_signer
        self.scheme = scheme_of(config)
        commit = target.tags.get(TAG_COMMIT, "none")
        self.source = f"{config.approvals.allowed_signers} at commit {commit[:12]}"

    def check(self, data: dict[str, Any]) -> tuple[str, str]:
        """The principal and key fingerprint of a countable signed approval, else raises
        :class:`sshsig.SignatureInvalid` saying why it does not count."""
        if self.problem:
            raise sshsig.SignatureInvalid(self.problem)
        if not data.get("signature") or not data.get("payload"):
            raise sshsig.SignatureInvalid("not signed (an unverified name proves nothing)")
        if data.get("identity") != self.scheme:
            raise sshsig.SignatureInvalid(
                f"signed with {data.get('identity')}, but approvals.identity is {self.scheme}"
            )
        text = str(data["payload"])
        if not str(data["signature"]).isascii():
            raise sshsig.SignatureInvalid("its signature is not ASCII armor")
        try:
            signed = json.loads(text)
        except ValueError:
            raise sshsig.SignatureInvalid("its signed payload is not JSON") from None
        if not isinstance(signed, dict):
            raise sshsig.SignatureInvalid("its signed payload is not a JSON object")
        expected = {"format": FORMAT, "namespace": NAMESPACE, "model": self.config.model,
                    "version": self.target.version, "digest": self.target.digest}  # fmt: skip
        for field, value in expected.items():
            if signed.get(field) != value:
                raise sshsig.SignatureInvalid(
                    f"it was signed for {field} {signed.get(field)!r}, not {value!r}"
                )
        assert self.signers is not None
        if self.scheme == "gpg":
            from mlci_local import approval_gpg

            verified = approval_gpg.verify(text.encode(), str(data["signature"]), self.signers)
        else:
            verified = sshsig.verify(text.encode(), str(data["signature"]), self.signers, NAMESPACE)
        approvers = self.config.approvals.approvers
        listed = [p for p in verified.principals if not approvers or p in approvers]
        if not listed:
            raise sshsig.SignatureInvalid(
                f"signed by {', '.join(verified.principals)}, not in [tool.mlci.approvals] "
                "approvers"
            )
        lowered = {p.casefold() for p in verified.principals}
        if self.author and self.author.casefold() in lowered:
            raise sshsig.SignatureInvalid(
                f"signed with a key of {self.author}, who wrote the commit; an author cannot "
                "approve their own release"
            )
        if self.commit_key and self.commit_key == verified.fingerprint:
            raise sshsig.SignatureInvalid(
                f"signed with the key that signed the commit ({verified.fingerprint}); an "
                "author cannot approve their own release"
            )
        if self.commit_signer and self.commit_signer.casefold() in lowered:
            raise sshsig.SignatureInvalid(
                f"signed by {self.commit_signer}, who signed the commit; an author cannot "
                "approve their own release"
            )
        return sorted(listed)[0], verified.fingerprint


@contextmanager
def commit_context(config: MlciConfig, target: RegisteredVersion) -> Iterator[CommitContext]:
    """Read what the promoted commit says about approvers into a private temporary file."""
    root = config.root
    path = config.approvals.allowed_signers
    commit = target.tags.get(TAG_COMMIT, "")
    with tempfile.TemporaryDirectory(prefix="mlci-approvals-") as scratch:
        if not commit or commit in ("none", "unknown"):
            yield CommitContext(config, target, None,
                                f"v{target.version} records no git commit, so there is no "
                                "committed allowed signers file to check signatures against "
                                "(register it from a git checkout)", None, None, None)  # fmt: skip
            return
        text = _git(root, "show", f"{commit}:./{path}", strip=False)
        if text is None:
            exists = _git(root, "cat-file", "-e", f"{commit}^{{commit}}") is not None
            problem = (
                f"commit {commit[:12]} has no {path}: commit an OpenSSH allowed signers file "
                "(one line per approver: `alice@example.com ssh-ed25519 AAAA...`) "
                "and register the version from that commit"
                if exists
                else f"commit {commit[:12]} (v{target.version}'s lineage) is not in this "
                "git repository; fetch it to check approvals"
            )
            yield CommitContext(config, target, None, problem, None, None, None)
            return
        signers = Path(scratch) / "allowed_signers"
        signers.write_text(text, encoding="utf-8")
        author = _git(root, "log", "-1", "--format=%ae", commit)
        if scheme_of(config) == "gpg":
            from mlci_local import approval_gpg

            key = approval_gpg.commit_signer(root, commit, signers)[1] or ""
            signer = ""
        else:
            shown = _git(root, "-c", f"gpg.ssh.allowedSignersFile={signers}", "log", "-1",
                         "--format=%GK%x1f%GS", commit) or ""  # fmt: skip
            key, _, signer = shown.partition("\x1f")
        yield CommitContext(config, target, signers, None, author or None,
                            key if key.startswith("SHA256:") or key.isalnum() else None,
                            signer or None)  # fmt: skip


def counted_or_refused(config: MlciConfig, target: RegisteredVersion, data: dict[str, Any]) -> str:
    """Check one new signed approval before it is recorded: its principal, or raise
    :class:`sshsig.SignatureInvalid` with the reason it would not count."""
    with commit_context(config, target) as context:
        return context.check(data)[0]


def _git(root: Path, *args: str, strip: bool = True) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() if strip else done.stdout
