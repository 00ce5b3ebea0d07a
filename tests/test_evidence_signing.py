"""Signed evidence packages: an edited member with a recomputed manifest no longer verifies.

Issue #12: an evidence zip with an edited ``approvals.json`` and a recomputed manifest used to
verify OK. With ``[tool.mlci.audit] signing`` the manifest is signed and the package carries
the ledger chain up to a signed checkpoint; ``mlci evidence verify`` checks both.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlci_local.cli import cli
from mlci_local.evidence import build_evidence, write_evidence
from mlci_local.promotion import ledger_for
from mlci_local.registry import Registry
from pytest_mlci.config import load_config
from pytest_mlci.model_io import sha256_file

KEY = "evidence-key-" * 3


@pytest.fixture(scope="module")
def signed(tmp_path_factory, tiny_assets):
    """(config path, package): a signing project with v1 registered and approved."""
    from conftest import build_tiny_project

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLCI_AUDIT_KEY", KEY)
        patch.setenv("MLCI_ACTOR", "ci@example.com")
        root = tmp_path_factory.mktemp("signed-evidence")
        project = build_tiny_project(root, tiny_assets)
        project.extra += '\n[tool.mlci.audit]\nsigning = "hmac"\n'
        project.write_config()
        config = load_config(root / "pyproject.toml")
        registry, ledger = Registry(config), ledger_for(config)
        shutil.copy(tiny_assets / "good.skops", config.artifact)
        digest = sha256_file(config.artifact)
        registry.register(config.artifact, digest, tags={}, attachments=None)
        ledger.append("evaluation", {"model": "tiny", "digest": digest, "passed": True})
        ledger.append("approve", {"model": "tiny", "version": "1", "approver": "ana@example.com"})
        out = root / "tiny-v1.zip"
        write_evidence(build_evidence(config, "tiny", "1"), out)
        yield root / "pyproject.toml", out


@pytest.fixture
def verify(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLCI_AUDIT_KEY", KEY)

    def run(package: Path, config_path: Path | None) -> tuple[int, str]:
        args = ["--config", str(config_path)] if config_path else []
        result = CliRunner().invoke(cli, [*args, "evidence", "verify", str(package)])
        return result.exit_code, result.output

    return run


def rebuild(source: Path, target: Path, change, *, drop: tuple[str, ...] = ()) -> None:
    """What a forger without the key does: edit members, recompute the manifest."""
    with zipfile.ZipFile(source) as old:
        members = {name: old.read(name) for name in old.namelist() if name not in drop}
    for name in list(members):
        members[name] = change(name, members[name])
    manifest = json.loads(members["manifest.json"])
    manifest["files"] = {
        name: hashlib.sha256(data).hexdigest()
        for name, data in members.items()
        if name not in ("manifest.json", "manifest.sig.json")
    }
    members["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    with zipfile.ZipFile(target, "w") as new:
        for name, data in members.items():
            new.writestr(name, data)


def edit_approvals(name: str, data: bytes) -> bytes:
    if name != "approvals.json":
        return data
    approvals = json.loads(data)
    approvals[0]["data"]["approver"] = "mallory@example.com"
    return json.dumps(approvals).encode()


def test_a_signed_package_verifies_and_says_what_it_proved(signed, verify) -> None:
    config_path, package = signed
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
    assert {"manifest.sig.json", "checkpoint.json", "ledger_chain.jsonl"} <= names
    code, out = verify(package, config_path)
    assert code == 0, out
    assert "manifest signed by hmac:" in out
    assert "ledger chain recomputed up to the signed checkpoint seq" in out


def test_edited_approvals_with_a_recomputed_manifest_are_detected(
    signed, verify, tmp_path: Path
) -> None:
    """Issue #12 (d)."""
    config_path, package = signed
    forged = tmp_path / "forged.zip"
    rebuild(package, forged, edit_approvals)
    code, out = verify(forged, config_path)
    assert code == 1
    assert "manifest.sig.json: the manifest's signature does not verify" in out


def test_a_package_stripped_of_its_signature_is_detected(signed, verify, tmp_path: Path) -> None:
    config_path, package = signed
    forged = tmp_path / "unsigned.zip"
    rebuild(package, forged, edit_approvals, drop=("manifest.sig.json",))
    code, out = verify(forged, config_path)
    assert code == 1
    assert "manifest.sig.json: missing, but this project signs its evidence" in out


def test_a_member_contradicting_the_signed_chain_is_caught_even_if_re_signed(
    signed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: a key holder who signs an edited package still cannot make its
    approvals disagree with the chain that ends in the signed checkpoint."""
    from mlci_local.audit.evidence import check_signed_package, sign_manifest
    from mlci_local.audit.signing import signer_for

    monkeypatch.setenv("MLCI_AUDIT_KEY", KEY)
    config_path, package = signed
    config = load_config(config_path)
    with zipfile.ZipFile(package) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["approvals.json"] = edit_approvals("approvals.json", members["approvals.json"])
    members.update(sign_manifest(config, members["manifest.json"]))
    problems, _ = check_signed_package(members.__getitem__, set(members), signer_for(config))
    assert problems == [
        f"approvals.json: entry seq {json.loads(members['checkpoint.json'])['seq']} differs "
        "from the signed ledger record (edited)"
    ]


def test_a_signed_package_cannot_be_checked_without_the_key(
    signed, verify, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, package = signed
    monkeypatch.chdir(tmp_path)  # no project here, hence no key
    code, out = verify(package, None)
    assert code == 1
    assert "the package is signed, but no audit key is configured here" in out


def test_verifying_with_another_key_fails(signed, verify, monkeypatch: pytest.MonkeyPatch) -> None:
    config_path, package = signed
    monkeypatch.setenv("MLCI_AUDIT_KEY", "another-key-" * 3)
    result = CliRunner().invoke(
        cli, ["--config", str(config_path), "evidence", "verify", str(package)]
    )
    assert result.exit_code == 1
    assert "signature does not verify" in result.output
