"""A four-environment promotion chain, dev -> staging -> preprod -> production (issue 18).

One model of the three-model repository goes through the chain step by step: stage 6 puts
it in dev; skipping an environment is refused; staging wants a passing staging record,
preprod an approval by the model's owner, production a soak in preprod. A second version
stops at preprod in `mlci run` (held for the approval); once there, a rollback in preprod
(interrupted by a crash first, then finished) returns preprod to the first version and
leaves production untouched.

Slow (two `mlci run`s that train, evaluate, register and stage); CI runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.example_repo import git, mlci
from tests.multi_model_repo import CONFIG, multi_model_repository

pytestmark = pytest.mark.slow

CHAIN = """
[tool.mlci.environments]
chain = ["dev", "staging", "preprod", "production"]

[tool.mlci.environments.staging]
requires = ["staging"]

[tool.mlci.environments.preprod]
requires = ["approvals"]

[tool.mlci.environments.production]
soak_minutes = 60
"""
OWNER = "pricing@example.com"


def aliases(root) -> dict[str, str]:
    status = json.loads(mlci(root, "--model", "price", "status", "--json").stdout)
    return {name: entry["version"] for name, entry in status["aliases"].items()}


def ledger(root) -> list[dict]:
    lines = (root / ".mlci" / "ledger.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_four_environments_step_by_step_with_a_refused_skip_and_a_rollback_in_preprod(tmp_path):
    root = multi_model_repository(tmp_path / "repo", config=CONFIG + CHAIN)
    price = ("--model", "price")

    staged = mlci(root, *price, "run", "--until", "stage")
    assert staged.returncode == 0, staged.stdout + staged.stderr
    assert aliases(root) == {"candidate": "1", "dev": "1"}  # stage 6 enters the first only

    skip = mlci(root, *price, "promote", "--to", "production", "1")
    assert skip.returncode == 1
    assert "v1 is not in preprod (preprod is empty); environments are entered in order" in (
        skip.stderr
    )
    assert mlci(root, *price, "promote", "--to", "preprod", "1").returncode == 1

    to_staging = mlci(root, *price, "promote", "--to", "staging")  # the version in dev
    assert to_staging.returncode == 0 and "staging -> v1" in to_staging.stdout
    unapproved = mlci(root, *price, "promote", "--to", "preprod")
    assert unapproved.returncode == 1 and f"1 approval(s) of v1 by {OWNER}" in unapproved.stderr
    assert mlci(root, "approve", "price", "1", actor=OWNER).returncode == 0
    assert mlci(root, *price, "promote", "--to", "preprod").returncode == 0
    unsoaked = mlci(root, *price, "promote")
    assert unsoaked.returncode == 1
    assert "of the 60 minutes production requires" in unsoaked.stderr
    # a shorter soak (0.6 s), long over by now: the same version may go
    config = root / "pyproject.toml"
    config.write_text(config.read_text().replace("soak_minutes = 60", "soak_minutes = 0.01"))
    time.sleep(0.7)
    promoted = mlci(root, *price, "promote")
    assert promoted.returncode == 0 and "production -> v1" in promoted.stdout
    assert aliases(root)["production"] == "1"

    # A second version: `mlci run` walks the chain as far as its checks allow.
    train = root / "src" / "price" / "train.py"
    train.write_text(train.read_text().replace("alpha=1.0", "alpha=2.0"))
    git(root, "commit", "-qam", "price v2")
    second = mlci(root, *price, "run")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "held: v2 is in staging; preprod waits (preprod requires 1 approval(s)" in (
        second.stdout
    )
    assert aliases(root) == {"candidate": "2", "dev": "2", "staging": "2", "preprod": "1",
                             "production": "1", "dev_previous": "1",
                             "staging_previous": "1"}  # fmt: skip
    assert mlci(root, "approve", "price", "2", actor=OWNER).returncode == 0
    assert mlci(root, *price, "promote", "--to", "preprod").returncode == 0
    assert aliases(root)["preprod"] == "2"

    # Roll back preprod; a crash right after the intent first, then the finished rollback.
    crashed = subprocess.run(
        [sys.executable, "-m", "mlci_local", *price, "rollback", "--env", "preprod", "--yes"],
        cwd=root, capture_output=True, text=True, timeout=300,
        env={**os.environ, "MLCI_FAULT_POINT": "environment.rollback.after_intent"},
    )  # fmt: skip
    assert crashed.returncode == 97
    assert aliases(root)["preprod"] == "2"  # nothing moved before the crash
    rolled = mlci(root, *price, "rollback", "--env", "preprod", "--yes", "--reason", "bad soak")
    assert rolled.returncode == 0 and "preprod -> v1 (was v2)" in rolled.stdout
    after = aliases(root)
    assert after["preprod"] == "1" and after["production"] == "1" and after["staging"] == "2"
    assert "preprod_previous" not in after  # a second rollback cannot flip back
    records = ledger(root)
    actions = [r["action"] for r in records if r["data"].get("model") == "price"]
    assert actions.count("environment.abandoned") == 1  # the crashed intent, closed
    rollbacks = [r["data"] for r in records if r["action"] == "environment.rollback"]
    assert rollbacks == [rollbacks[0]] and rollbacks[0]["environment"] == "preprod"
    assert rollbacks[0]["reason"] == "bad soak"
    last_production_move = max(i for i, a in enumerate(actions) if a in ("promote", "rollback"))
    assert actions[last_production_move] == "promote"  # production moved once, by v1's promote
