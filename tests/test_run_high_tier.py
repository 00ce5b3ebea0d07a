"""`mlci run` for a high-risk model: the first version waits for people, not for a canary.

A canary compares a candidate with production, so a model that has never been in production
cannot have one; its tier's independent approvals are the check: SSH signatures by two keys
in the committed `.allowed_signers`. Slow (trains through `dvc repro`), like test_run_e2e.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.example_repo import example_repository, git, mlci

pytestmark = pytest.mark.slow

HIGH = (
    'tier = "high"\n',
    '\n[tool.mlci.approvals]\napprovers = ["risk@example.com", "lead@example.com"]\n',
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Path:
    """An ed25519 key for each approver, made by ssh-keygen."""
    base = tmp_path_factory.mktemp("approver-keys")
    for name in ("risk", "lead"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)],
                       check=True)  # fmt: skip
    return base


@pytest.fixture(scope="module")
def high_example(tmp_path_factory, keys) -> Path:
    """The example as a high-risk model with two listed approvers whose public keys are in
    the committed allowed signers file."""
    root = example_repository(tmp_path_factory.mktemp("example-high"))
    config = root / "pyproject.toml"
    text = config.read_text().replace('tier = "medium"\n', HIGH[0], 1)
    config.write_text(text + HIGH[1])
    (root / ".allowed_signers").write_text("".join(
        f"{name}@example.com {' '.join((keys / f'{name}.pub').read_text().split()[:2])}\n"
        for name in ("risk", "lead")))  # fmt: skip
    git(root, "add", ".allowed_signers")
    git(root, "commit", "-q", "-am", "high tier")  # compliance: a high tier ships clean trees
    return root


def test_the_first_high_tier_model_is_held_for_approvals_only(high_example):
    done = mlci(high_example, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tier high waits for 2 more approval(s) before v1 can go to production" in done.stdout
    assert "`mlci approve conversion 1 --key ~/.ssh/id_ed25519`" in done.stdout
    assert "approvals: 0/2 signed (verified against .allowed_signers at commit" in done.stdout
    assert "canary" not in done.stdout.split("[7/7] promotion")[1]
    status = json.loads(mlci(high_example, "status", "--json").stdout)
    assert status["aliases"].get("production") is None


def test_two_approvals_let_it_be_promoted_without_a_canary_and_say_so(high_example, keys):
    unsigned = mlci(high_example, "approve", "conversion", "1", actor="risk@example.com")
    assert unsigned.returncode == 2 and "counts only signed approvals" in unsigned.stderr
    for approver in ("risk", "lead"):
        approved = mlci(high_example, "approve", "conversion", "1", "--key", str(keys / approver))
        assert approved.returncode == 0, approved.stdout + approved.stderr
        assert f"as {approver}@example.com (reviewer): SSH signature verified" in approved.stdout
    done = mlci(high_example, "promote", "1")  # what the held run said comes next
    assert done.returncode == 0, done.stdout + done.stderr
    assert "production -> v1 (first production model, without a canary" in done.stdout
    ledger = [
        json.loads(line)
        for line in (high_example / ".mlci" / "ledger.jsonl").read_text().splitlines()
    ]
    assert [r["data"]["identity"] for r in ledger if r["action"] == "approve"] == ["ssh", "ssh"]
    promoted = [r for r in ledger if r["action"] == "promote"][-1]
    assert promoted["data"]["canary"].startswith("waived: the first production model")
