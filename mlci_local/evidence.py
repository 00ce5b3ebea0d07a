"""Evidence packages: one zip that answers an auditor's "show me how this model got there".

``mlci evidence MODEL VERSION`` collects, for one registered version: the model card, the
lineage and the ``dvc.lock`` excerpt recorded at registration, the evaluation report (JSON
and HTML) and its fairness tables, the approvals and the deployment history from the audit
ledger, the ledger slice for the model (its lines byte for byte, so each record's hash can be
recomputed) and the verification of the whole ledger. ``manifest.json`` lists the sha256 of
every other member; ``mlci evidence verify FILE`` recomputes them and names any member that
is missing, extra, duplicated, unreadable or changed.

The manifest alone proves the package is internally consistent, not who made it: anyone can
rebuild a zip with a matching manifest. With ``[tool.mlci.audit] signing`` the manifest is
signed and the ledger slice is tied to a signed checkpoint (``mlci_local.audit.evidence``);
without it, store the sha256 printed at creation somewhere the recipient trusts.

Everything is gathered in memory before the first byte is written, and the zip is written
to a temporary file that replaces the target only when complete, so a failure never leaves
a half-written package behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_mlci.errors import ConfigError

__all__ = [
    "FORMAT",
    "MANIFEST",
    "EvidencePackage",
    "PackageCheck",
    "build_evidence",
    "dvc_lock_excerpt",
    "ledger_slice",
    "verify_package",
    "write_evidence",
]

FORMAT = "mlci-evidence/1"
MANIFEST = "manifest.json"
DEPLOYMENT_ACTIONS = ("promote.intent", "promote", "rollback.intent", "rollback", "canary")


@dataclass(frozen=True)
class EvidencePackage:
    """The members of a package (name → bytes, manifest last) and what could not be included.

    ``ledger_ok`` is the verdict of the ledger verification inside the package, surfaced so
    the command can warn: evidence of a damaged ledger is still evidence, and is written.
    """

    model: str
    version: str
    members: Mapping[str, bytes]
    absent: Mapping[str, str]
    ledger_ok: bool
    ledger_summary: str


@dataclass(frozen=True)
class PackageCheck:
    """The result of :func:`verify_package`; ``problems`` name the member each concerns."""

    path: str
    ok: bool
    files: int
    problems: tuple[str, ...]
    model: str | None = None
    version: str | None = None
    notes: tuple[str, ...] = ()  # what the signature check proved, or that there is none

    def summary(self) -> str:
        name = Path(self.path).name
        if self.ok:
            what = f" ({self.model} v{self.version})" if self.model else ""
            head = f"{name}: OK, {self.files} files match manifest.json{what}"
            return "\n".join([head] + [f"{name}: {note}" for note in self.notes])
        lines = [f"{name}: FAILED, {len(self.problems)} problem(s)"]
        return "\n".join(lines + [f"{name}: {problem}" for problem in self.problems])


# --------------------------------------------------------------------------- building


def build_evidence(config: Any, model: str, version: str) -> EvidencePackage:
    """Gather every member of the package for ``model`` ``version`` (nothing is written).

    A version that does not exist raises :class:`CheckFailed` before anything else is done.
    Lineage or evaluation files missing from the registry are listed in the manifest as
    ``absent`` with the reason, rather than failing: a gap is itself evidence.
    """
    from mlci_local.ledger import Checkpoint, current_actor
    from mlci_local.model_card import card_from_facts, read_version_facts
    from mlci_local.promotion import TAG_CHECKPOINT, ledger_for
    from mlci_local.registry import Registry

    if getattr(config, "model", model) != model:
        config = replace(config, model=model)
    registry = Registry(config)
    facts = read_version_facts(registry, version)
    version = facts.version
    members: dict[str, bytes] = {}
    absent: dict[str, str] = {}

    card = card_from_facts(facts, config)
    members["model_card.md"] = card.markdown.encode("utf-8")
    members["model_card.html"] = card.html.encode("utf-8")

    if "lineage.json" in facts.files:
        members["lineage.json"] = facts.files["lineage.json"].encode("utf-8")
    else:
        absent["lineage.json"] = "mlci/lineage.json was not stored with this version"
    if facts.files.get("dvc.lock"):
        excerpt, note = dvc_lock_excerpt(facts.files["dvc.lock"], _artifact_path(config, facts))
        members["dvc.lock"] = excerpt.encode("utf-8")
        if note:
            absent["dvc.lock (excerpt)"] = note
    else:
        absent["dvc.lock"] = "no dvc.lock was recorded at registration"

    evaluation = facts.evaluation
    if evaluation is not None:
        members["evaluation.json"] = facts.files["evaluation.json"].encode("utf-8")
        from pytest_mlci.report.html import render_html

        members["evaluation.html"] = render_html(dict(evaluation)).encode("utf-8")
        members["fairness.json"] = _json(evaluation.get("fairness") or [])
    else:
        why = "mlci/evaluation.json was not stored with this version"
        why = next((p for p in facts.problems if "evaluation.json" in p), why)
        for name in ("evaluation.json", "evaluation.html", "fairness.json"):
            absent[name] = why

    ledger = ledger_for(config)
    lines = ledger_slice(ledger.raw_lines(), model)
    records = [obj for _, obj in lines]
    approvals = [
        r for r in records if r.get("action") == "approve" and _data(r).get("version") == version
    ]
    history = [r for r in records if r.get("action") in DEPLOYMENT_ACTIONS]
    members["approvals.json"] = _json(_with_verification(config, registry, version, approvals))
    members["deployment_history.json"] = _json(history)
    members["ledger_slice.jsonl"] = b"".join(raw for raw, _ in lines)

    checkpoints, checkpoint_notes = [], []
    for known in registry.versions():
        tag = known.tags.get(TAG_CHECKPOINT)
        if tag:
            try:
                checkpoints.append(Checkpoint.from_tag(tag))
            except ValueError as exc:
                checkpoint_notes.append(f"v{known.version}: {exc}")
    report = ledger.verify(checkpoints)
    slice_check = _check_slice(ledger.raw_lines(), lines)
    ledger_ok = report.ok and not slice_check["problems"] and not checkpoint_notes
    verification = {
        "ledger": ledger.location,
        "ok": ledger_ok,
        "chain": {
            "ok": report.ok,
            "records": report.records,
            "head": report.head,
            "head_seq": report.head_seq,
            "truncation_checked": report.truncation_checked,
            "checkpoints": [cp.to_tag() for cp in checkpoints],
            "unreadable_checkpoints": checkpoint_notes,
            "problems": [
                {"line": p.line, "seq": p.seq, "kind": p.kind, "message": p.message}
                for p in report.problems
            ],
        },
        "slice": slice_check,
        "summary": report.summary(),
    }
    members["ledger_verification.json"] = _json(verification)
    from mlci_local.audit.evidence import chain_members, sign_manifest

    # With signing on: the chain up to a signed checkpoint, and (below) a signed manifest.
    signed_chain, unsigned_why = chain_members(config, ledger.raw_lines(), records)
    members.update(signed_chain)
    absent.update(unsigned_why)

    manifest = {
        "format": FORMAT,
        "model": model,
        "version": version,
        "digest": facts.digest,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created_by": current_actor(getattr(config, "root", None)),
        "registry": registry.shown_uri,
        "files": {name: _sha256(data) for name, data in sorted(members.items())},
        "absent": dict(sorted(absent.items())),
    }
    members[MANIFEST] = _json(manifest)
    members.update(sign_manifest(config, members[MANIFEST]))
    return EvidencePackage(
        model=model,
        version=version,
        members=members,
        absent=absent,
        ledger_ok=ledger_ok,
        ledger_summary=report.summary(),
    )


def _with_verification(
    config: Any, registry: Any, version: str, approvals: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each approval record with whether it counts now and under which identity rule, so an
    unverified name is never read as a verified signature."""
    from mlci_local.approvals import tally
    from mlci_local.promotion import ledger_for
    from pytest_mlci.errors import MlciError

    try:
        found = tally(config, ledger_for(config), registry.by_version(version))
    except MlciError as exc:
        note = {"identity": config.approvals.identity, "counts": None, "why": str(exc)}
        return [{**record, "verification": note} for record in approvals]
    why = {rejected.seq: rejected.why for rejected in found.rejected}
    return [
        {
            **record,
            "verification": {
                "identity": found.identity,
                "checked_against": found.source,
                "counts": record.get("seq") in found.accepted,
                **({"why": why[record["seq"]]} if record.get("seq") in why else {}),
            },
        }
        for record in approvals
    ]


def write_evidence(package: EvidencePackage, out: Path) -> str:
    """Write the zip atomically (temp file in the same directory, then ``os.replace``).

    Returns the sha256 of the zip, for the user to keep somewhere the recipient trusts.
    """
    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a directory; give a file name such as evidence.zip")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: directory {out.parent} does not exist")
    stamp = datetime.now(timezone.utc).timetuple()[:6]
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, data in package.members.items():
                    info = zipfile.ZipInfo(name, date_time=stamp)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    archive.writestr(info, data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return _sha256(out.read_bytes())


def ledger_slice(raw_lines: Iterable[bytes], model: str) -> list[tuple[bytes, dict[str, Any]]]:
    """Every complete ledger line whose record has ``data.model == model``, verbatim.

    Read leniently: a line that is not JSON is skipped here (the chain verification in the
    package reports it), so a damaged ledger still yields the evidence that survives.
    """
    found: list[tuple[bytes, dict[str, Any]]] = []
    for raw in raw_lines:
        if not raw.endswith(b"\n"):
            break  # a torn last line was never acknowledged
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict) and _data(obj).get("model") == model:
            found.append((raw, obj))
    return found


def _check_slice(
    raw_lines: Iterable[bytes], lines: Sequence[tuple[bytes, dict[str, Any]]]
) -> dict[str, Any]:
    """Each slice line hashes to its own ``hash``, and that hash is a record of the ledger."""
    in_ledger: set[str] = set()
    for raw in raw_lines:
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("hash"), str):
            in_ledger.add(obj["hash"])
    problems = []
    for _, obj in lines:
        seq = obj.get("seq")
        if _record_hash(obj) != obj.get("hash"):
            problems.append(f"record seq {seq} does not match its own hash")
        elif obj["hash"] not in in_ledger:
            problems.append(f"record seq {seq} is not in the ledger")
    return {"records": len(lines), "all_in_ledger": not problems, "problems": problems}


def dvc_lock_excerpt(text: str, artifact: str | None) -> tuple[str, str | None]:
    """The stages of ``dvc.lock`` that produced ``artifact`` and everything upstream of them.

    The excerpt is cut from the original text, so each stage's lines (and hashes) are byte for
    byte what DVC wrote. Returns ``(text, note)``: when the excerpt cannot be cut reliably the
    whole file is returned with a note saying why.
    """
    import yaml

    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        return text, f"dvc.lock could not be parsed ({exc}); included whole"
    stages = document.get("stages") if isinstance(document, dict) else None
    if not isinstance(stages, dict) or not stages:
        return text, "dvc.lock has no stages; included whole"
    if not artifact:
        return text, "the artifact path is unknown; dvc.lock included whole"

    def outputs(stage: Any) -> list[str]:
        return [str(o.get("path")) for o in (stage or {}).get("outs") or [] if isinstance(o, dict)]

    def producers(path: str) -> list[str]:
        return [
            name
            for name, stage in stages.items()
            if any(path == out or path.startswith(out.rstrip("/") + "/") for out in outputs(stage))
        ]

    wanted: list[str] = []
    queue = producers(artifact)
    if not queue:
        return text, f"no stage in dvc.lock outputs {artifact}; included whole"
    while queue:
        name = queue.pop()
        if name in wanted:
            continue
        wanted.append(name)
        for dep in (stages[name] or {}).get("deps") or []:
            if isinstance(dep, dict) and dep.get("path"):
                queue.extend(producers(str(dep["path"])))

    excerpt = _cut_stages(text, [name for name in stages if name in wanted])
    if excerpt is None:
        return text, "dvc.lock is not laid out as DVC writes it; included whole"
    try:
        again = yaml.safe_load(excerpt) or {}
    except yaml.YAMLError:
        again = {}
    if again.get("stages") != {name: stages[name] for name in stages if name in wanted}:
        return text, "the excerpt did not round-trip; dvc.lock included whole"
    return excerpt, None


def _cut_stages(text: str, keep: Sequence[str]) -> str | None:
    """Keep the header and the given stage blocks of a dvc.lock text (2-space indented)."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == "stages:")
    except StopIteration:
        return None
    out = lines[: start + 1]
    current: str | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            if current in keep:
                out.append(line)
            continue
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            current = line.strip()[:-1].strip("'\"")
        elif not line.startswith("  ") or current is None:
            return None  # not the layout DVC writes: let the caller include the whole file
        if current in keep:
            out.append(line)
    return "".join(out)


def _artifact_path(config: Any, facts: Any) -> str | None:
    """The artifact's path relative to the project root, as dvc.lock names it."""
    artifact, root = getattr(config, "artifact", None), getattr(config, "root", None)
    if artifact is None:
        return None
    path = Path(artifact)
    if root is not None:
        with contextlib.suppress(ValueError):  # outside the root: keep the path as given
            path = path.resolve().relative_to(Path(root).resolve())
    if facts.tags.get("mlci.artifact_file") not in (None, path.name):
        return None  # another model's artifact: the config's path says nothing about it
    return path.as_posix()


# --------------------------------------------------------------------------- verifying


def verify_package(path: Path, signer: Any = None) -> PackageCheck:
    """Recompute every member's sha256 against ``manifest.json``; report what differs.

    ``signer`` is the project's audit key (``mlci_local.audit.signing.signer_for``): with it,
    the manifest's signature and the ledger chain up to the signed checkpoint are checked,
    and an unsigned package fails; without it, a signed package cannot be checked and fails.
    """
    from mlci_local.audit.evidence import SIGNATURE, check_signed_package

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    problems: list[str] = []
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return PackageCheck(str(path), False, 0, (f"not a readable zip file ({exc})",))
    with archive:
        names = [info.filename for info in archive.infolist()]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        problems += [f"{n}: appears more than once in the zip" for n in duplicated]
        if MANIFEST not in names:
            return PackageCheck(str(path), False, 0, ("manifest.json: missing",))
        try:
            manifest = json.loads(archive.read(MANIFEST))
            listed = manifest["files"]
            if not isinstance(listed, dict):
                raise TypeError("'files' is not an object")
        except (ValueError, KeyError, TypeError, zipfile.BadZipFile, zlib.error) as exc:
            return PackageCheck(str(path), False, 0, (f"manifest.json: unreadable ({exc})",))
        present = set(names) - {MANIFEST, SIGNATURE}
        for name in sorted(set(listed) - present):
            problems.append(f"{name}: listed in manifest.json but missing from the zip")
        for name in sorted(present - set(listed)):
            problems.append(f"{name}: in the zip but not listed in manifest.json")
        for name in sorted(present & set(listed)):
            try:
                data = archive.read(name)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
                problems.append(f"{name}: unreadable, the zip is damaged ({exc})")
                continue
            if _sha256(data) != listed[name]:
                problems.append(f"{name}: sha256 does not match manifest.json (modified)")
            elif name == "ledger_slice.jsonl":
                problems += [f"{name}: {p}" for p in _slice_self_check(data)]
        try:
            signed_problems, notes = check_signed_package(archive.read, set(names), signer)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError) as exc:
            signed_problems, notes = [f"signature check: the zip is damaged ({exc})"], []
        problems += signed_problems
    return PackageCheck(
        path=str(path),
        ok=not problems,
        files=len(listed),
        problems=tuple(problems),
        model=manifest.get("model"),
        version=manifest.get("version"),
        notes=tuple(notes),
    )


def _slice_self_check(data: bytes) -> list[str]:
    """Each ledger line still hashes to its ``hash`` (the manifest alone can be rebuilt)."""
    problems = []
    for lineno, raw in enumerate(io.BytesIO(data), start=1):
        try:
            obj = json.loads(raw)
        except ValueError:
            problems.append(f"line {lineno} is not JSON")
            continue
        if not isinstance(obj, dict) or _record_hash(obj) != obj.get("hash"):
            problems.append(f"line {lineno} does not match its own ledger hash (edited)")
    return problems


# --------------------------------------------------------------------------- helpers


def _data(record: Mapping[str, Any]) -> Mapping[str, Any]:
    data = record.get("data")
    return data if isinstance(data, dict) else {}


def _record_hash(obj: Mapping[str, Any]) -> str:
    """The ledger's hash rule: sha256 of the canonical JSON of the record without ``hash``."""
    body = {key: value for key, value in obj.items() if key != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
