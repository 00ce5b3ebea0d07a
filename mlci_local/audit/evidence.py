"""Signed evidence packages: the manifest's signature, and a ledger slice tied to a checkpoint.

A manifest of sha256 digests only proves a package is internally consistent: whoever edits
``approvals.json`` can recompute the manifest. With ``[tool.mlci.audit] signing`` on, the
package also carries:

* ``manifest.sig.json``: the manifest's bytes signed with the audit key (namespace
  ``mlci-evidence``), so no member can change without the signature failing;
* ``checkpoint.json``: a signed ledger checkpoint at or after the model's last record, and
* ``ledger_chain.jsonl``: the ledger's lines from the slice's first record to that
  checkpoint, byte for byte, so the verifier recomputes every hash and link and lands on the
  signed head — the slice, the approvals and the deployment history must all be in it.

The checkpoint is the one written when the records were (it is not made at packaging time:
signing the current head then would bless whatever the ledger holds at that moment).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mlci_local.audit.checkpoints import SignedCheckpoint
from mlci_local.audit.signing import SignatureMismatch, signer_for

__all__ = [
    "CHAIN",
    "CHECKPOINT",
    "EVIDENCE_NAMESPACE",
    "SIGNATURE",
    "chain_members",
    "check_signed_package",
    "sign_manifest",
]

SIGNATURE = "manifest.sig.json"
CHECKPOINT = "checkpoint.json"
CHAIN = "ledger_chain.jsonl"
EVIDENCE_NAMESPACE = "mlci-evidence"
_RECORD_LISTS = ("approvals.json", "deployment_history.json")


def _record_hash(obj: dict[str, Any]) -> str:
    body = {key: value for key, value in obj.items() if key != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chain_members(
    config: Any, raw_lines: Iterable[bytes], slice_records: Sequence[dict[str, Any]]
) -> tuple[dict[str, bytes], dict[str, str]]:
    """``(members, absent)``: the signed checkpoint covering the slice and the chain up to it.

    Nothing when signing is off; a reason in ``absent`` when no signed checkpoint covers the
    model's last record (``mlci evidence verify`` then fails for a signing project).
    """
    from mlci_local.audit.hook import checkpoint_log_for, ledger_id_for

    signer = signer_for(config)
    if signer is None:
        return {}, {}
    if not slice_records:
        return {}, {CHECKPOINT: "the ledger holds no record of this model"}
    first, last = slice_records[0]["seq"], slice_records[-1]["seq"]
    lines: dict[int, tuple[bytes, str]] = {}
    for raw in raw_lines:
        try:
            obj = json.loads(raw)
            lines[obj["seq"]] = (raw, obj["hash"])
        except (ValueError, KeyError, TypeError):
            continue
    ledger_id = ledger_id_for(config)
    best: SignedCheckpoint | None = None
    for _, entry in checkpoint_log_for(config).entries():
        if not isinstance(entry, SignedCheckpoint) or entry.ledger != ledger_id:
            continue
        if entry.seq < last or lines.get(entry.seq, (b"", ""))[1] != entry.hash:
            continue
        try:
            entry.check(signer)
        except SignatureMismatch:
            continue
        if best is None or entry.seq < best.seq:
            best = entry
    if best is None:
        return {}, {
            CHECKPOINT: f"no signed checkpoint covers ledger seq {last} (the model's last record)"
        }
    chain = b"".join(lines[seq][0] for seq in range(first, best.seq + 1) if seq in lines)
    return {CHAIN: chain, CHECKPOINT: (best.to_json() + "\n").encode()}, {}


def sign_manifest(config: Any, manifest: bytes) -> dict[str, bytes]:
    """``{SIGNATURE: ...}`` over the manifest's exact bytes, or nothing when signing is off."""
    signer = signer_for(config)
    if signer is None:
        return {}
    signer.check_can_sign()
    signed = {
        "namespace": EVIDENCE_NAMESPACE,
        "scheme": signer.scheme,
        "key_id": signer.key_id,
        "signature": signer.sign(manifest, EVIDENCE_NAMESPACE),
    }
    return {SIGNATURE: (json.dumps(signed, indent=2, sort_keys=True) + "\n").encode()}


def check_signed_package(
    read: Callable[[str], bytes], names: set[str], signer: Any
) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` about the signature and the chain of a package's members.

    ``signer`` is the verifying key of the project checking the package (None: no key).
    """
    problems: list[str] = []
    notes: list[str] = []
    if SIGNATURE not in names:
        if signer is not None:
            problems.append(
                f"{SIGNATURE}: missing, but this project signs its evidence; an unsigned "
                "package proves only that its files match its own manifest"
            )
        else:
            notes.append(
                "unsigned: the manifest proves the files are consistent with each other, not "
                "who made the package (anyone can rebuild a matching manifest)"
            )
        return problems, notes
    if signer is None:
        problems.append(
            f"{SIGNATURE}: the package is signed, but no audit key is configured here to "
            "check it; run in the project with [tool.mlci.audit] (and its key)"
        )
        return problems, notes
    try:
        signed = json.loads(read(SIGNATURE))
        signer.verify(read("manifest.json"), EVIDENCE_NAMESPACE, str(signed["signature"]))
        notes.append(f"manifest signed by {signer.key_id}")
    except SignatureMismatch as exc:
        problems.append(
            f"{SIGNATURE}: the manifest's signature does not verify ({exc}): a member or the "
            "manifest was changed after the package was signed"
        )
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(f"{SIGNATURE}: unreadable ({exc})")

    if CHECKPOINT not in names or CHAIN not in names:
        problems.append(
            f"{CHECKPOINT}: missing: the ledger slice is not tied to a signed checkpoint"
        )
        return problems, notes
    problems += _check_chain(read, names, signer, notes)
    return problems, notes


def _check_chain(
    read: Callable[[str], bytes], names: set[str], signer: Any, notes: list[str]
) -> list[str]:
    problems: list[str] = []
    try:
        checkpoint = SignedCheckpoint.from_dict(json.loads(read(CHECKPOINT)))
        checkpoint.check(signer)
    except SignatureMismatch as exc:
        return [f"{CHECKPOINT}: signature does not verify ({exc})"]
    except (ValueError, TypeError) as exc:
        return [f"{CHECKPOINT}: unreadable ({exc})"]
    chain: dict[str, dict[str, Any]] = {}
    prev: dict[str, Any] | None = None
    for lineno, raw in enumerate(read(CHAIN).splitlines(), start=1):
        try:
            obj = json.loads(raw)
        except ValueError:
            return [f"{CHAIN}: line {lineno} is not a ledger record"]
        if _record_hash(obj) != obj.get("hash"):
            return [f"{CHAIN}: record seq {obj.get('seq')} does not match its own hash (edited)"]
        if prev is not None and (obj.get("prev") != prev["hash"] or obj["seq"] != prev["seq"] + 1):
            return [f"{CHAIN}: record seq {obj.get('seq')} does not link to the one before it"]
        chain[obj["hash"]] = obj
        prev = obj
    if prev is None or (prev["seq"], prev["hash"]) != (checkpoint.seq, checkpoint.hash):
        where = f"seq {prev['seq']}" if prev else "nothing"
        return [
            f"{CHAIN}: ends at {where}, but the signed checkpoint is seq {checkpoint.seq} "
            f"hash {checkpoint.hash[:12]}: the chain was altered"
        ]
    notes.append(
        f"ledger chain recomputed up to the signed checkpoint seq {checkpoint.seq} "
        f"({len(chain)} records)"
    )
    slice_lines = read("ledger_slice.jsonl").splitlines() if "ledger_slice.jsonl" in names else []
    for raw in slice_lines:
        obj = json.loads(raw)
        if chain.get(obj.get("hash")) != obj:
            problems.append(
                f"ledger_slice.jsonl: record seq {obj.get('seq')} is not in the signed chain"
            )
    for name in _RECORD_LISTS:
        if name not in names:
            continue
        for entry in json.loads(read(name)):
            record = {key: value for key, value in entry.items() if key != "verification"}
            if chain.get(record.get("hash")) != record:
                problems.append(
                    f"{name}: entry seq {record.get('seq')} differs from the signed ledger "
                    "record (edited)"
                )
    return problems
