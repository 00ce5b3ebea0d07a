"""A tamper-evident audit trail against someone who can write ``.mlci/`` but lacks the key.

Every test plays the forger with the product's own code (they can read it): records are
rebuilt with :func:`mlci_local.ledger.make_record`, so every hash is right. What they cannot
do is sign. Each forgery from issue #12 must make ``mlci audit verify`` exit 1 naming the
seq; the honest path and the crash window must be reported for what they are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlci_local.cli import cli
from mlci_local.ledger import make_record
from pytest_mlci.config import load_config

KEY = "k" * 40


def write_project(root: Path, audit: str) -> Path:
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [tool.mlci]
            model = "tiny"
            task = "binary_classification"
            target = "label"
            artifact = "models/model.skops"

            [tool.mlci.audit]
            """
        )
        + audit
    )
    return root / "pyproject.toml"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose ledger checkpoints are signed with an HMAC key from the CI secret."""
    monkeypatch.setenv("MLCI_ACTOR", "ci@example.com")
    monkeypatch.setenv("MLCI_AUDIT_KEY", KEY)
    monkeypatch.chdir(tmp_path)
    return write_project(tmp_path, 'signing = "hmac"\n')


def ledger_of(config_path: Path):
    from mlci_local.promotion import ledger_for

    return ledger_for(load_config(config_path))


def write_records(config_path: Path, count: int = 4) -> list:
    ledger = ledger_of(config_path)
    records = [ledger.append("evaluation", {"model": "tiny", "passed": True, "n": i})
               for i in range(count - 1)]  # fmt: skip
    records.append(ledger.append("approve", {"model": "tiny", "version": "1"}))
    return records


def forge(after, actor: str, data: dict):
    """An approval record after ``after`` with every hash right, as a forger can make."""
    return make_record(seq=after.seq + 1, prev=after.hash, action="approve", actor=actor,
                       data=data)  # fmt: skip


def verify(config_path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(config_path), "audit", "verify"])
    return result.exit_code, result.output


def ledger_file(config_path: Path) -> Path:
    return config_path.parent / ".mlci" / "ledger.jsonl"


def checkpoint_log(config_path: Path) -> Path:
    return config_path.parent / ".mlci" / "audit" / "tiny.checkpoints.jsonl"


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def drop_log_entries(config_path: Path, keep) -> None:
    """The forger's edit of the local checkpoint log: keep only entries ``keep`` accepts."""
    log = checkpoint_log(config_path)
    log.write_text("".join(line for line in lines_of(log) if keep(json.loads(line))))


def about_seq(entry: dict) -> int:
    return entry["seq"] if entry["kind"] == "checkpoint" else entry["after_seq"] + 1


# -- the honest path --------------------------------------------------------------------------


def test_an_honest_ledger_verifies_and_says_what_was_proved(project: Path) -> None:
    records = write_records(project)
    code, out = verify(project)
    assert code == 0, out
    head = records[-1].seq
    assert f"proved: records up to seq {head} are covered by a checkpoint signed by hmac:" in out
    assert f"every record from seq 0 to {head} was written by a holder of the key" in out
    # Honest about what a local log cannot show.
    assert "not proved: that nothing was cut off the end" in out
    assert "OK: no signature, checkpoint or chain problem" in out


def test_the_first_signed_append_records_that_signing_began(project: Path) -> None:
    write_records(project, 2)
    first = json.loads(lines_of(ledger_file(project))[0])
    assert first["action"] == "audit.signing"
    assert first["data"]["key_id"].startswith("hmac:")
    assert KEY not in ledger_file(project).read_text() + checkpoint_log(project).read_text()


def test_without_a_key_verify_says_only_accidental_damage_is_detected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config_path = write_project(tmp_path, 'signing = "none"\n')
    write_records(config_path)
    code, out = verify(config_path)
    assert code == 0, out
    assert "detects accidental damage only" in out
    assert not (tmp_path / ".mlci" / "audit").exists()


def test_a_missing_key_refuses_to_append_and_writes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLCI_AUDIT_KEY")
    from pytest_mlci.errors import ConfigError

    with pytest.raises(ConfigError, match=r"audit.key_env.*\$MLCI_AUDIT_KEY is not set"):
        ledger_of(project).append("approve", {"model": "tiny"})
    assert not ledger_file(project).exists()


def test_verifying_with_another_key_fails_on_every_signature(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_records(project)
    monkeypatch.setenv("MLCI_AUDIT_KEY", "another-key-" * 4)
    code, out = verify(project)
    assert code == 1
    assert "checkpoint seq 0 has a bad signature" in out


# -- the forgeries of issue #12 ---------------------------------------------------------------


def test_a_deleted_last_record_is_detected(project: Path) -> None:
    """(a) The last record (an approval) is deleted from the ledger."""
    records = write_records(project)
    path = ledger_file(project)
    path.write_text("".join(lines_of(path)[:-1]))
    code, out = verify(project)
    assert code == 1
    assert f"truncated at seq {records[-1].seq}" in out


def test_deleting_the_last_record_and_its_checkpoints_is_not_provable_locally(
    project: Path,
) -> None:
    """(a) done thoroughly: the record *and* its log entries. Only an outside anchor shows
    it (see test_audit_anchors.py); here verify must not claim more than it proved."""
    records = write_records(project)
    path = ledger_file(project)
    path.write_text("".join(lines_of(path)[:-1]))
    drop_log_entries(project, lambda e: about_seq(e) < records[-1].seq)
    code, out = verify(project)
    assert code == 0, out
    assert "not proved: that nothing was cut off the end" in out


def test_an_appended_forged_record_is_detected(project: Path) -> None:
    """(b) A record appended with a correctly recomputed hash, but no signature."""
    records = write_records(project)
    forged = forge(records[-1], "boss@example.com", {"model": "tiny", "version": "2"})
    with ledger_file(project).open("a") as handle:
        handle.write(forged.to_json() + "\n")
    code, out = verify(project)
    assert code == 1
    assert f"record seq {forged.seq} (approve by boss@example.com) has no signed checkpoint" in out
    assert "forged or inserted" in out
    assert f"records after seq {records[-1].seq} are not covered by a signed checkpoint" in out


def test_a_forged_record_followed_by_honest_work_is_still_detected(project: Path) -> None:
    """(b) then an honest append, whose checkpoint covers the forged record by the chain:
    each record needs its own signature, so the forgery still stands out."""
    records = write_records(project)
    forged = forge(records[-1], "boss@example.com", {"model": "tiny", "version": "2"})
    with ledger_file(project).open("a") as handle:
        handle.write(forged.to_json() + "\n")
    ledger_of(project).append("staging", {"model": "tiny", "version": "2"})
    code, out = verify(project)
    assert code == 1
    assert f"record seq {forged.seq} (approve by boss@example.com)" in out


def rewrite_from(config_path: Path, seq: int) -> list:
    """(c) Edit record ``seq`` and rebuild every record after it with correct hashes."""
    path = ledger_file(config_path)
    objs = [json.loads(line) for line in lines_of(path)]
    prev = objs[seq - 1]["hash"]
    rebuilt = []
    for obj in objs[seq:]:
        data = dict(obj["data"])
        if obj["seq"] == seq:
            data["passed"] = not data.get("passed")
        record = make_record(seq=obj["seq"], prev=prev, action=obj["action"],
                             actor=obj["actor"], data=data)  # fmt: skip
        prev = record.hash
        rebuilt.append(record.to_json() + "\n")
    path.write_text("".join(lines_of(path)[:seq]) + "".join(rebuilt))
    return rebuilt


def test_a_rewritten_middle_record_and_chain_are_detected(project: Path) -> None:
    """(c) A middle record rewritten, the chain after it recomputed."""
    write_records(project, 5)
    rewrite_from(project, 2)
    code, out = verify(project)
    assert code == 1
    assert "checkpoint_mismatch at seq 2" in out


def test_a_rewrite_with_the_checkpoints_removed_is_detected(project: Path) -> None:
    """(c) thoroughly: the forger also removes the log entries the rewrite contradicts (and
    could rewrite any registry tag). The rewritten records then carry no signature."""
    write_records(project, 5)
    rewrite_from(project, 2)
    drop_log_entries(project, lambda e: about_seq(e) < 2)
    code, out = verify(project)
    assert code == 1
    assert "record seq 2 (evaluation by ci@example.com) has no signed checkpoint" in out


def test_a_checkpoint_forged_without_the_key_is_detected(project: Path) -> None:
    """The forger appends a record and writes a checkpoint for it with a made-up signature."""
    records = write_records(project)
    forged = forge(records[-1], "boss@example.com", {"model": "tiny"})
    with ledger_file(project).open("a") as handle:
        handle.write(forged.to_json() + "\n")
    entry = json.loads(lines_of(checkpoint_log(project))[-1])
    entry.update(seq=forged.seq, hash=forged.hash, signature="0" * 64)
    with checkpoint_log(project).open("a") as handle:
        handle.write(json.dumps(entry) + "\n")
    code, out = verify(project)
    assert code == 1
    assert f"checkpoint seq {forged.seq} has a bad signature" in out


def test_deleting_the_whole_checkpoint_log_is_detected(project: Path) -> None:
    write_records(project)
    checkpoint_log(project).unlink()
    code, out = verify(project)
    assert code == 1
    assert "record seq 0 (audit.signing by ci@example.com) has no signed checkpoint" in out


# -- the crash window -------------------------------------------------------------------------

APPEND = """
import sys
from pathlib import Path
from mlci_local.promotion import ledger_for
from pytest_mlci.config import load_config
ledger_for(load_config(Path(sys.argv[1]))).append("approve", {"model": "tiny", "version": "7"})
"""


def test_a_crash_between_writing_and_signing_is_reported_as_such(project: Path) -> None:
    records = write_records(project)
    env = {**os.environ, "MLCI_FAULT_POINT": "audit.before_checkpoint"}
    done = subprocess.run([sys.executable, "-c", APPEND, str(project)], env=env, check=False)
    assert done.returncode == 97  # killed after the record, before its checkpoint
    crashed = records[-1].seq + 1
    assert json.loads(lines_of(ledger_file(project))[-1])["seq"] == crashed

    code, out = verify(project)
    assert code == 0, out  # its content is authenticated by the signed intent
    assert (
        f"not proved: records after seq {records[-1].seq} are not covered by a signed "
        f"checkpoint: 1 record(s) (the process stopped between writing and signing "
        f"(a signed intent matches seq {crashed})"
    ) in out

    # The next append's checkpoint covers it.
    ledger_of(project).append("staging", {"model": "tiny", "version": "7"})
    code, out = verify(project)
    assert code == 0, out
    assert f"note: seq {crashed}: written, but the process stopped before signing" in out
    assert "not covered by a signed checkpoint" not in out


def test_a_forgery_cannot_pass_as_a_crash(project: Path) -> None:
    """A crash leaves a signed intent for *that* action, actor and data; a forged record
    with other data does not match it."""
    records = write_records(project)
    env = {**os.environ, "MLCI_FAULT_POINT": "audit.before_checkpoint"}
    subprocess.run([sys.executable, "-c", APPEND, str(project)], env=env, check=False)
    path = ledger_file(project)
    forged = forge(records[-1], "ci@example.com", {"model": "tiny", "version": "8"})
    path.write_text("".join(lines_of(path)[:-1]) + forged.to_json() + "\n")
    code, out = verify(project)
    assert code == 1
    assert f"record seq {forged.seq} (approve by ci@example.com) has no signed" in out


# -- SSH keys ---------------------------------------------------------------------------------


@pytest.fixture
def ssh_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLCI_ACTOR", "ci@example.com")
    monkeypatch.chdir(tmp_path)
    key = tmp_path / "keys" / "audit"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", str(key)],
                   check=True)  # fmt: skip
    return write_project(
        tmp_path, 'signing = "ssh"\nssh_key = "keys/audit"\npublic_key = "keys/audit.pub"\n'
    )


def test_ssh_signed_checkpoints_verify_and_name_the_key(ssh_project: Path) -> None:
    write_records(ssh_project, 2)
    code, out = verify(ssh_project)
    assert code == 0, out
    assert "signed by SHA256:" in out


def test_ssh_a_forged_record_and_a_damaged_signature_are_detected(ssh_project: Path) -> None:
    records = write_records(ssh_project, 2)
    log = checkpoint_log(ssh_project)
    entries = [json.loads(line) for line in lines_of(log)]
    first = next(e for e in entries if e["kind"] == "checkpoint")
    first["hash"] = "f" * 64  # claims another head: the SSH signature no longer covers it
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    forged = forge(records[-1], "x@example.com", {"model": "tiny"})
    with ledger_file(ssh_project).open("a") as handle:
        handle.write(forged.to_json() + "\n")
    code, out = verify(ssh_project)
    assert code == 1
    assert "checkpoint seq 0 has a bad signature" in out
    assert f"record seq {forged.seq} (approve by x@example.com) has no signed checkpoint" in out


def test_ssh_without_the_private_key_refuses_to_append(ssh_project: Path) -> None:
    (ssh_project.parent / "keys" / "audit").unlink()
    from pytest_mlci.errors import ConfigError

    with pytest.raises(ConfigError, match=r"audit\.ssh_key"):
        ledger_of(ssh_project).append("approve", {"model": "tiny"})
    assert not ledger_file(ssh_project).exists()


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audit", "message"),
    [
        ('signing = "rsa"\n', "audit.signing'"),
        ('signing = "ssh"\n', "audit.public_key'"),
        ('anchors = ["s3://b/p"]\n', "audit.signing'"),
        ('signing = "hmac"\nanchors = ["ftp://x"]\n', "audit.anchors'"),
        ('signing = "hmac"\nkey_env = "not a name"\n', "audit.key_env'"),
        ('signing = "hmac"\nsalt = 1\n', "audit.salt'"),
    ],
)
def test_audit_config_errors_name_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, audit: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    config_path = write_project(tmp_path, audit)
    code, out = verify(config_path)
    assert code == 2
    assert message in out


def test_a_shared_database_ledger_needs_a_shared_anchor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLCI_DATABASE", "postgresql://mlci@db.invalid/mlci")
    code, out = verify(write_project(tmp_path, 'signing = "hmac"\n'))
    assert code == 2
    assert "audit.anchors" in out
    assert "anchors = ['database']" in out


@pytest.mark.slow
def test_a_whole_signed_run_verifies_and_its_evidence_is_signed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mlci run` on the bundled example with signing on: every stage's records are signed,
    the audit proves all of them, and the evidence package verifies with its signature."""
    from tests.example_repo import example_repository, mlci

    monkeypatch.setenv("MLCI_AUDIT_KEY", KEY)
    root = example_repository(tmp_path / "example")
    with (root / "pyproject.toml").open("a") as handle:
        handle.write('\n[tool.mlci.audit]\nsigning = "hmac"\n')
    done = mlci(root, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    head = json.loads(lines_of(root / ".mlci" / "ledger.jsonl")[-1])["seq"]
    audit = mlci(root, "audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert f"every record from seq 0 to {head} was written by a holder of the key" in audit.stdout
    assert f"proved: records up to seq {head} are covered by a checkpoint" in audit.stdout

    written = mlci(root, "evidence", "conversion", "1", "--out", "ev.zip")
    assert written.returncode == 0, written.stdout + written.stderr
    checked = mlci(root, "evidence", "verify", "ev.zip")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "manifest signed by hmac:" in checked.stdout


def test_a_forged_intent_cannot_excuse_a_forged_record(project: Path) -> None:
    """The forger writes the intent a crash would have left, without the key."""
    from mlci_local.audit.checkpoints import data_digest

    records = write_records(project)
    forged = forge(records[-1], "boss@example.com", {"model": "tiny", "version": "9"})
    with ledger_file(project).open("a") as handle:
        handle.write(forged.to_json() + "\n")
    intent = next(json.loads(e) for e in lines_of(checkpoint_log(project)) if '"intent"' in e)
    intent.update(after_seq=records[-1].seq, action="approve", actor="boss@example.com",
                  data_sha256=data_digest(forged.data), signature="f" * 64)  # fmt: skip
    with checkpoint_log(project).open("a") as handle:
        handle.write(json.dumps(intent) + "\n")
    code, out = verify(project)
    assert code == 1
    assert f"intent for seq {forged.seq} (approve) has a bad signature" in out
    assert f"record seq {forged.seq} (approve by boss@example.com) has no signed" in out


def test_records_from_before_signing_are_pinned_but_reported_as_unsigned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLCI_AUDIT_KEY", KEY)
    config_path = write_project(tmp_path, 'signing = "none"\n')
    write_records(config_path, 3)
    write_project(tmp_path, 'signing = "hmac"\n')
    ledger_of(config_path).append("staging", {"model": "tiny"})
    code, out = verify(config_path)
    assert code == 0, out
    assert "note: 3 record(s) before seq 3 were written before signing was configured" in out
    assert "every record from seq 3 to 4 was written by a holder of the key" in out
