"""Evidence packages: `mlci evidence MODEL VERSION` writes one, `mlci evidence verify` checks it."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mlci_local.commands import evidence
from mlci_local.evidence import dvc_lock_excerpt
from mlci_local.ledger import Ledger
from mlci_local.promotion import ledger_for, promote
from mlci_local.registry import Registry
from pytest_mlci.config import load_config
from pytest_mlci.model_io import sha256_file

DVC_LOCK = """\
schema: '2.0'
stages:
  prepare:
    cmd: python prepare.py
    deps:
    - path: raw.csv
      md5: 11111111111111111111111111111111
    outs:
    - path: data/train.parquet
      md5: 22222222222222222222222222222222
  train:
    cmd: python train.py
    deps:
    - path: data/train.parquet
      md5: 22222222222222222222222222222222
    outs:
    - path: models/model.skops
      md5: 33333333333333333333333333333333
  report:
    cmd: python report.py
    deps:
    - path: models/model.skops
      md5: 33333333333333333333333333333333
    outs:
    - path: metrics.json
      md5: 44444444444444444444444444444444
"""

EVALUATION = {
    "model": "tiny",
    "task": "binary_classification",
    "passed": True,
    "crashed": [],
    "data": {"path": "data/test.parquet", "rows": 2000, "sha256": "d" * 64},
    "baseline": {"status": "waived", "reason": "first model", "version": None, "sha256": None},
    "gates": [
        {"gate": "roc_auc >= 0.7", "metric": "roc_auc", "verdict": "pass", "message": "ok",
         "candidate": {"value": 0.81, "low": 0.8, "high": 0.82}, "baseline": None,
         "delta": None},
    ],
    "fairness": [
        {"attribute": "group", "excluded": [], "groups": [
            {"group": "a", "count": 990.0, "selection_rate": 0.4, "accuracy": 0.8,
             "recall": 0.7, "precision": 0.75, "excluded": False},
            {"group": "b", "count": 1010.0, "selection_rate": 0.42, "accuracy": 0.79,
             "recall": 0.71, "precision": 0.74, "excluded": False},
        ]},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_assets):
    """A registry with v1 (everything recorded, promoted, approved) and v2 (nothing stored)."""
    from conftest import build_tiny_project

    root = tmp_path_factory.mktemp("evidence")
    build_tiny_project(root, tiny_assets)
    config = load_config(root / "pyproject.toml")
    registry, ledger = Registry(config), ledger_for(config)
    attachments = {
        "lineage.json": json.dumps({"git": {"commit": "abc", "branch": "main", "dirty": False}}),
        "dvc.lock": DVC_LOCK,
        "evaluation.json": json.dumps(EVALUATION),
    }
    versions = []
    for source, files in (("good.skops", attachments), ("bad.skops", None)):
        shutil.copy(tiny_assets / source, config.artifact)
        digest = sha256_file(config.artifact)
        tags = {"mlci.git.dirty": "false"}
        version = registry.register(config.artifact, digest, tags=tags, attachments=files)
        versions.append(version.version.version)
        for action in ("evaluation", "staging"):
            ledger.append(action, {"model": "tiny", "digest": digest, "passed": True})
    ledger.append("approve", {"model": "tiny", "version": "1", "approver": "ana@example.com"})
    ledger.append("approve", {"model": "tiny", "version": "2", "approver": "bo@example.com"})
    ledger.append("promote", {"model": "other", "version": "1"})
    promote(config, registry, ledger, "1")
    return config, versions


@pytest.fixture
def mlci(project, monkeypatch, tmp_path):
    """Run `mlci evidence ...` in a fresh directory, as a user would."""
    from mlci_local.cli import MlciGroup
    from mlci_local.workspace import Workspace

    config, _ = project
    monkeypatch.chdir(tmp_path)

    @click.group(cls=MlciGroup)
    @click.pass_context
    def group(ctx: click.Context) -> None:
        ctx.obj = Workspace(config.source)

    group.add_command(evidence.command)

    def call(*args: str):
        return CliRunner().invoke(group, ["evidence", *args], catch_exceptions=False)

    return call


@pytest.fixture(scope="module")
def package(project, tmp_path_factory):
    """One package of v1, built once; tests copy it before changing it."""
    from mlci_local.evidence import build_evidence, write_evidence

    config, _ = project
    out = tmp_path_factory.mktemp("package") / "tiny-v1.zip"
    write_evidence(build_evidence(config, "tiny", "1"), out)
    return out


def rewrite(source: Path, target: Path, change) -> None:
    """Copy a zip member by member, letting ``change(name, data)`` alter or add members."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            new.writestr(info.filename, change(info.filename, old.read(info.filename)))


def test_a_written_package_verifies_and_holds_every_piece(mlci, project, tmp_path):
    config, _ = project
    result = mlci("tiny", "1", "--out", "out.zip")
    assert result.exit_code == 0, result.output
    assert "wrote out.zip: tiny v1" in result.output
    assert "not included" not in result.output

    ok = mlci("verify", "out.zip")
    assert ok.exit_code == 0, ok.output
    assert "out.zip: OK, 11 files match manifest.json (tiny v1)" in ok.output

    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        names = set(archive.namelist())
        read = archive.read
        manifest = json.loads(read("manifest.json"))
        assert names - {"manifest.json"} == set(manifest["files"])
        assert {
            "model_card.md", "model_card.html", "lineage.json", "dvc.lock", "evaluation.json",
            "evaluation.html", "fairness.json", "approvals.json", "deployment_history.json",
            "ledger_slice.jsonl", "ledger_verification.json",
        } <= names  # fmt: skip
        assert manifest["absent"] == {}
        assert b"| `roc_auc >= 0.7` |" in read("model_card.md")
        assert json.loads(read("fairness.json")) == EVALUATION["fairness"]
        assert b"<code>roc_auc &gt;= 0.7</code>" in read("evaluation.html")
        approvals = json.loads(read("approvals.json"))
        assert [a["data"]["approver"] for a in approvals] == ["ana@example.com"]
        history = json.loads(read("deployment_history.json"))
        assert [r["action"] for r in history] == ["promote.intent", "promote"]
        assert all(r["data"]["model"] == "tiny" for r in history)
        lock = read("dvc.lock").decode()
        assert "  prepare:" in lock and "  train:" in lock and "report" not in lock
        ledger_lines = ledger_for(config).path.read_bytes().splitlines(keepends=True)
        slice_lines = read("ledger_slice.jsonl").splitlines(keepends=True)
        assert slice_lines == [line for line in ledger_lines if b'"model":"tiny"' in line]
        verification = json.loads(read("ledger_verification.json"))
        assert verification["ok"] and verification["slice"]["all_in_ledger"]
        assert verification["chain"]["truncation_checked"]  # the promotion's checkpoint tag
        assert verification["summary"].startswith("ledger.jsonl: OK, 9 records")


def test_a_changed_member_fails_verification_naming_it(mlci, package, tmp_path):
    def flip(name: str, data: bytes) -> bytes:
        if name == "approvals.json":
            return data[:10] + bytes([data[10] ^ 0x01]) + data[11:]
        return data

    rewrite(package, tmp_path / "changed.zip", flip)
    result = mlci("verify", "changed.zip")
    assert result.exit_code == 1
    assert "approvals.json: sha256 does not match manifest.json (modified)" in result.output
    assert "Traceback" not in result.output


def test_a_flipped_byte_inside_the_zip_fails_naming_the_member(mlci, package, tmp_path):
    raw = bytearray(package.read_bytes())
    with zipfile.ZipFile(package) as archive:
        info = archive.getinfo("model_card.md")
    # The member's data starts after its 30-byte local header, name and extra field.
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF
    (tmp_path / "flipped.zip").write_bytes(bytes(raw))
    result = mlci("verify", "flipped.zip")
    assert result.exit_code == 1
    assert "model_card.md: unreadable, the zip is damaged" in result.output


def test_an_extra_member_fails_verification_naming_it(mlci, package, tmp_path):
    target = tmp_path / "extra.zip"
    shutil.copy(package, target)
    with zipfile.ZipFile(target, "a") as archive:
        archive.writestr("note.txt", "trust me")
    result = mlci("verify", "extra.zip")
    assert result.exit_code == 1
    assert "note.txt: in the zip but not listed in manifest.json" in result.output


def test_a_missing_member_and_an_edited_ledger_line_are_caught(mlci, package, tmp_path):
    with zipfile.ZipFile(package) as old, zipfile.ZipFile(tmp_path / "less.zip", "w") as new:
        for info in old.infolist():
            if info.filename != "lineage.json":
                new.writestr(info.filename, old.read(info.filename))
    result = mlci("verify", "less.zip")
    assert result.exit_code == 1
    assert "lineage.json: listed in manifest.json but missing from the zip" in result.output

    # Edit a ledger record and re-seal the manifest: the record's own hash still gives it away.
    def forge(name: str, data: bytes) -> bytes:
        return data.replace(b'"approver":"ana@example.com"', b'"approver":"cto@example.com"')

    rewrite(package, tmp_path / "forged.zip", forge)
    with zipfile.ZipFile(tmp_path / "forged.zip") as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest["files"]["ledger_slice.jsonl"] = sha256_bytes(members["ledger_slice.jsonl"])
    manifest["files"]["approvals.json"] = sha256_bytes(members["approvals.json"])
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(tmp_path / "resealed.zip", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    result = mlci("verify", "resealed.zip")
    assert result.exit_code == 1
    assert "ledger_slice.jsonl: line 5 does not match its own ledger hash (edited)" in (
        result.output
    )


def sha256_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_a_version_that_does_not_exist_exits_1_and_leaves_no_file(mlci, tmp_path):
    result = mlci("tiny", "7", "--out", "seven.zip")
    assert result.exit_code == 1
    assert "tiny has no version '7' (versions: 1, 2)" in result.output
    assert list(tmp_path.iterdir()) == []

    unknown = mlci("nosuchmodel", "1")
    assert unknown.exit_code == 1
    assert "no registered model named 'nosuchmodel'" in unknown.output
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_leaves_no_half_written_zip(project, tmp_path, monkeypatch):
    from mlci_local.evidence import EvidencePackage, write_evidence

    class Boom(Exception):
        pass

    def explode(*args, **kwargs):
        raise Boom

    package = EvidencePackage("tiny", "1", {"a.txt": b"x", "manifest.json": b"{}"}, {}, True, "")
    monkeypatch.setattr(zipfile.ZipFile, "writestr", explode)
    with pytest.raises(Boom):
        write_evidence(package, tmp_path / "p.zip")
    assert list(tmp_path.iterdir()) == []


def test_a_version_with_nothing_recorded_still_packages_and_says_what_is_absent(mlci, tmp_path):
    result = mlci("tiny", "v2")
    assert result.exit_code == 0, result.output
    assert "not included: evaluation.json: mlci/evaluation.json was not stored" in result.output
    with zipfile.ZipFile(tmp_path / "tiny-v2-evidence.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))
        card = archive.read("model_card.md").decode()
        approvals = json.loads(archive.read("approvals.json"))
    assert set(manifest["absent"]) == {
        "lineage.json", "dvc.lock", "evaluation.json", "evaluation.html", "fairness.json"
    }  # fmt: skip
    assert "No evaluation report is stored with this version" in card
    assert [a["data"]["approver"] for a in approvals] == ["bo@example.com"]
    assert mlci("verify", "tiny-v2-evidence.zip").exit_code == 0


@pytest.mark.parametrize(
    "args",
    [(), ("tiny",), ("tiny", "1", "2"), ("verify",), ("verify", "a.zip", "--out", "b.zip")],
)
def test_usage_mistakes_exit_2_with_the_usage_line(mlci, args):
    result = mlci(*args)
    assert result.exit_code == 2
    assert "mlci evidence MODEL VERSION" in result.output
    assert "Traceback" not in result.output


def test_verifying_a_file_that_is_not_there_or_not_a_zip(mlci, tmp_path):
    assert mlci("verify", "nope.zip").exit_code == 2
    (tmp_path / "junk.zip").write_text("not a zip")
    result = mlci("verify", "junk.zip")
    assert result.exit_code == 1
    assert "not a readable zip file" in result.output


def test_the_dvc_lock_excerpt_keeps_the_artifacts_stages_verbatim():
    excerpt, note = dvc_lock_excerpt(DVC_LOCK, "models/model.skops")
    assert note is None
    assert excerpt == DVC_LOCK.split("  report:")[0]
    whole, note = dvc_lock_excerpt(DVC_LOCK, "models/other.skops")
    assert whole == DVC_LOCK and "no stage in dvc.lock outputs models/other.skops" in note


def test_the_ledger_slice_is_read_even_from_a_damaged_ledger(tmp_path):
    from mlci_local.evidence import ledger_slice

    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.append("promote", {"model": "m", "version": "1"})
    with ledger.path.open("ab") as handle:
        handle.write(b"garbage\n")
    ledger_path = ledger.path
    with ledger_path.open("ab") as handle:
        handle.write(b'{"data":{"model":"m"}}\n{"torn')
    assert [obj["data"] for _, obj in ledger_slice(ledger.raw_lines(), "m")] == [
        {"model": "m", "version": "1"},
        {"model": "m"},
    ]


def test_a_tampered_ledger_is_packaged_with_its_failed_verification(mlci, project, tmp_path):
    config, _ = project
    path = ledger_for(config).path
    original = path.read_bytes()
    path.write_bytes(original.replace(b"ana@example.com", b"cto@example.com"))
    try:
        result = mlci("tiny", "1", "--out", "t.zip")
    finally:
        path.write_bytes(original)
    assert result.exit_code == 0, result.output
    assert "warning: the audit ledger did not verify" in result.output
    with zipfile.ZipFile(tmp_path / "t.zip") as archive:
        verification = json.loads(archive.read("ledger_verification.json"))
    assert not verification["ok"]
    assert verification["chain"]["problems"][0]["kind"] == "edited"
    assert verification["slice"]["problems"] == ["record seq 4 does not match its own hash"]
    assert mlci("verify", "t.zip").exit_code == 1  # the slice line betrays the edit
