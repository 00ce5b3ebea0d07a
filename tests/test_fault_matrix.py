"""The fault matrix: every crash point of a promotion, a rollback and a canary abort, and real
``kill -9``s, each followed by what a user does next.

Three starting points, all with versions v1 < v2 < v3 registered with passing records:

* ``promote``: production v2 (previous v1); a child process canaries v3 (an A/A canary, which
  passes) and promotes it.
* ``rollback``: v3 was canaried and promoted (previous v2); a child process rolls back.
* ``abort``: a canary of v3 against v2 is held at 50 %; a child process aborts it.

The child dies at a named step boundary (``MLCI_FAULT_POINT``: ``os._exit``, no cleanup) or is
killed with SIGKILL from here. Then one of: nothing but serving, a rerun of the interrupted
command, ``mlci run`` (its stage 7), ``mlci rollback``, ``mlci canary --abort``. Afterwards:
exactly one production version, ``previous`` where the ledger's last move set it, no
unfinished move, ``mlci audit verify`` OK, the router built on the workspace answers with the
version the aliases say (a stale rollout state refused), and no process the test started is
left behind.

Each crash runs once per module (a child process is the slow part); every follow-up gets its
own copy of the crashed workspace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mlci_local.cli import cli
from mlci_local.promotion import (
    FAULT_ENV,
    alias_drift,
    ledger_for,
    promote,
    rollout_problem,
    unfinished,
)
from mlci_local.registry import Registry
from mlci_local.rollout.controller import CanaryPolicy, in_flight, run_canary
from mlci_local.rollout.judge import ArmObservations
from mlci_local.rollout.state import read_state, state_path
from pytest_mlci.config import load_config

POLICY = CanaryPolicy(steps=(0.5, 1.0), max_batches_per_step=10)
BATCH = 8000  # requests per batch: enough for the A/A canary to pass its last step at once
ROW = {"x0": 0.3, "x1": -0.2, "x2": 0.1, "x3": 0.0, "group": "a"}


class Traffic:
    """Synthetic canary traffic with both arms alike (an A/A canary passes).

    ``broken``: the metrics source fails, so the canary holds at its first step.
    ``hang``: at 100 % it says so on stderr and waits to be killed.
    """

    def __init__(self, *, broken: bool = False, hang: bool = False) -> None:
        self.broken, self.hang = broken, hang
        self.rng = np.random.default_rng(0)

    def _arm(self, n: int) -> ArmObservations:
        errors = int(self.rng.binomial(n, 0.005))
        latency = self.rng.lognormal(np.log(5.0), 0.3, n - errors).tolist()
        correct = (self.rng.random(n - errors) < 0.85).astype(int).tolist()
        return ArmObservations(n, errors, latency, correct)

    def batches(self, weight: float):
        if self.broken:
            raise ConnectionError("metrics backend unreachable")
        if self.hang and weight >= 1.0:
            print("canary 100 % reached", file=sys.stderr, flush=True)
            time.sleep(600)
        for _ in range(10):
            candidate = max(int(BATCH * weight), 1)
            yield self._arm(BATCH - candidate), self._arm(candidate)


CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from test_fault_matrix import POLICY, Traffic
from mlci_local.promotion import ledger_for, rollback
from mlci_local.registry import Registry
from mlci_local.rollout.controller import abort_canary, run_canary
from pytest_mlci.config import load_config
config = load_config(Path(sys.argv[1]))
registry, ledger = Registry(config), ledger_for(config)
what = sys.argv[2]
if what == "canary":
    run_canary(config, registry, ledger, "3", Traffic(hang=sys.argv[4] == "hang"), policy=POLICY)
elif what == "live-canary":
    from mlci_local.rollout.traffic import run_local_canary
    run_local_canary(config, registry, ledger, "3")
elif what == "rollback":
    rollback(config, registry, ledger, reason="fault matrix")
else:
    abort_canary(config, registry, ledger, "3", reason="fault matrix")
"""

COMMAND = {"promote": "canary", "rollback": "rollback", "abort": "abort"}

# (start, how it dies): a fault point name, or "kill@..." for a SIGKILL from outside.
CRASHES = [
    ("promote", "canary.after_pass"),  # the final judgement recorded, nothing promoted
    ("promote", "promote.after_intent"),
    ("promote", "promote.after_previous"),
    ("promote", "promote.after_production"),
    ("promote", "promote.before_traffic"),  # alias moved, rollout state not yet written
    ("promote", "promote.after_traffic"),
    ("promote", "promote.after_done"),
    ("promote", "kill@canary 100 %"),  # SIGKILL while the canary holds all traffic
    ("promote", "kill@promote.after_intent"),  # SIGKILL once the intent is on record
    ("rollback", "rollback.after_intent"),
    ("rollback", "rollback.after_production"),
    ("rollback", "rollback.before_traffic"),
    ("rollback", "rollback.after_traffic"),
    ("rollback", "rollback.after_done"),
    ("abort", "canary.after_rollback_traffic"),  # traffic back, the ledger not yet told
    ("abort", "kill@canary.after_rollback_traffic"),
]
FOLLOW = {
    "promote": ("serve", "run", "rollback", "abort"),  # the rerun of `mlci run` is `run`
    "rollback": ("serve", "rerun", "run", "abort"),
    "abort": ("serve", "rerun", "run", "rollback"),
}
MOVED = {  # the crashes after which production had already moved
    "promote.after_production", "promote.before_traffic", "promote.after_traffic",
    "promote.after_done", "rollback.after_production", "rollback.before_traffic",
    "rollback.after_traffic", "rollback.after_done",
}  # fmt: skip


# ------------------------------------------------------------------ workspaces


def variant_model(source: Path, target: Path) -> Path:
    """The good model with one parameter changed: a third, distinct artifact."""
    import skops.io as sio

    model = sio.load(source, trusted=sio.get_untrusted_types(file=source))
    model.set_params(logisticregression__C=2.0)
    sio.dump(model, target)
    return target


@pytest.fixture(scope="module")
def base(tmp_path_factory, tiny_assets) -> Path:
    """Production v2 (previous v1); v3 registered; all with passing records."""
    from conftest import build_tiny_project
    from test_reliability import register_passing

    root = tmp_path_factory.mktemp("matrix") / "base"
    root.mkdir()
    build_tiny_project(root, tiny_assets)
    config = load_config(root / "pyproject.toml")
    third = variant_model(tiny_assets / "good.skops", tmp_path_factory.mktemp("v3") / "v3.skops")
    sources = (tiny_assets / "good.skops", tiny_assets / "bad.skops", third)
    versions = [register_passing(config, source) for source in sources]
    assert versions == ["1", "2", "3"]
    registry, ledger = Registry(config), ledger_for(config)
    promote(config, registry, ledger, "1")
    promote(config, registry, ledger, "2")
    return root


def copy_workspace(source: Path, target: Path):
    shutil.copytree(source, target, symlinks=True)
    return load_config(target / "pyproject.toml")


def prepare(start: str, base: Path, target: Path):
    """The workspace just before the child process runs."""
    config = copy_workspace(base, target)
    registry, ledger = Registry(config), ledger_for(config)
    if start == "rollback":
        outcome = run_canary(config, registry, ledger, "3", Traffic(), policy=POLICY)
        assert outcome.promoted
    elif start == "abort":
        outcome = run_canary(config, registry, ledger, "3", Traffic(broken=True), policy=POLICY)
        assert outcome.verdict == "inconclusive" and read_state(config).weight == 0.5
    return config


def start_child(config, what: str, env: dict[str, str], *extra: str) -> subprocess.Popen:
    here = str(Path(__file__).parent)
    args = [sys.executable, "-c", CHILD, str(config.source), what, here, *(extra or ("",))]
    return subprocess.Popen(
        args,
        env={**os.environ, **env},
        cwd=config.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when(child: subprocess.Popen, said: str, timeout: float = 120.0) -> str:
    """SIGKILL ``child`` as soon as it writes ``said`` on stderr; returns what it wrote."""
    import select

    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([child.stderr], [], [], 1.0)
        if not ready:
            continue
        line = child.stderr.readline()
        if not line:
            break
        seen.append(line)
        if said in line:
            child.send_signal(signal.SIGKILL)
            child.wait(30)
            return "".join(seen)
    child.kill()
    pytest.fail(f"the child never reached {said!r}:\n{''.join(seen)}{child.stderr.read()}")


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line mentions ``text`` (the workspace path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def assert_no_orphans(root: Path, within: float = 10.0) -> None:
    """No process started for this workspace outlives the killed controller for long."""
    deadline = time.monotonic() + within
    while (left := processes_mentioning(str(root))) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:  # do not leak them into the rest of the session
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes outlived the killed controller: {left}"


def crash(start: str, how: str, base: Path, target: Path):
    """Run the child to its death; the workspace it left behind."""
    config = prepare(start, base, target)
    if how.startswith("kill@"):
        point = how.removeprefix("kill@")
        if point == "canary 100 %":
            child = start_child(config, COMMAND[start], {}, "hang")
        else:
            child = start_child(config, COMMAND[start],
                                {FAULT_ENV: point, "MLCI_FAULT_MODE": "hang"})  # fmt: skip
        kill_when(child, point)
        assert child.returncode == -signal.SIGKILL
    else:
        child = start_child(config, COMMAND[start], {FAULT_ENV: how})
        _, err = child.communicate(timeout=180)
        assert child.returncode == 97, err
    assert_no_orphans(config.root)
    return config


@pytest.fixture(scope="module")
def crashed(base, tmp_path_factory):
    """(start, how) -> the crashed workspace, made once and copied by each follow-up."""
    made: dict[tuple[str, str], Path] = {}

    def get(start: str, how: str) -> Path:
        if (start, how) not in made:
            target = tmp_path_factory.mktemp("crash") / "ws"
            made[start, how] = crash(start, how, base, target).root
        return made[start, how]

    return get


# ------------------------------------------------------------------ what a user sees


def served(config, requests: int = 24) -> tuple[dict, set[str]]:
    """/health of the router built on the workspace, and the versions that answered."""
    from mlci_local.rollout.router import build_app
    from mlci_local.rollout.state import rollout_dir
    from mlci_local.rollout.traffic import LocalRouter

    body = json.dumps({"dataframe_records": [ROW]})
    ids = []
    with LocalRouter(config, app=build_app(config)) as router:
        status, health = router.request("GET", "/health")
        assert status == 200, health
        for i in range(requests):
            connection = router.connection()
            connection.request("POST", "/invocations", body,
                               {"Content-Type": "application/json",
                                "X-Request-Key": f"user-{i}"})  # fmt: skip
            reply = connection.getresponse()
            reply.read()
            assert reply.status == 200
            ids.append(reply.getheader("X-Request-Id"))
            connection.close()
    lines = (rollout_dir(config) / "requests.jsonl").read_text().splitlines()
    answered = {line["request_id"]: line["version"] for line in map(json.loads, lines)}
    return health, {answered[i] for i in ids}


def mlci(config, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config.source), *args])


ANY = object()  # previous unchecked: before reconciliation it may be half-moved


def assert_consistent(config, *, production: str, previous: object, settled: bool = True):
    """The invariants every crash and follow-up must leave."""
    registry, ledger = Registry(config), ledger_for(config)
    holders = [v.version for v in registry.versions()
               if registry.by_version(v.version).aliases.count("production")]  # fmt: skip
    assert holders == [production], "exactly one production version"
    aliases = registry.aliases()
    if previous is not ANY:
        assert (aliases["previous"].version if "previous" in aliases else None) == previous
    assert ledger.verify().ok
    if settled:
        assert unfinished(ledger, config.model) == []
        assert alias_drift(registry, ledger, config.model) == []
        audit = mlci(config, "audit", "verify")
        assert audit.exit_code == 0, audit.output
    health, versions = served(config)
    assert health["production"]["version"] == production
    state, stale = rollout_problem(config, registry, ledger)
    if state.mode == "canary" and stale is None and health["rollout_refused"] is None:
        # A canary that applies to this production: its candidate may answer too.
        assert versions <= {production, state.candidate_version}
    else:
        assert versions == {production}, health
        assert health["mode"] == "none" and health["candidate"]["version"] is None
    if settled:
        assert stale is None, "a settled workspace has no stale rollout state"
    return health, versions


# ------------------------------------------------------------------ the matrix


def expected_after_crash(start: str, how: str) -> tuple[str, str | None]:
    """(production, previous) once the crash is reconciled."""
    moved = how in MOVED
    if start == "promote":
        return ("3", "2") if moved else ("2", "1")
    if start == "rollback":
        return ("2", None) if moved else ("3", "2")
    return "2", "1"


CASES = [(start, how, follow) for start, how in CRASHES for follow in FOLLOW[start]]


@pytest.mark.slow
@pytest.mark.parametrize(("start", "how", "follow"), CASES)
def test_after_a_crash_traffic_follows_the_aliases(crashed, tmp_path, start, how, follow):
    config = copy_workspace(crashed(start, how), tmp_path / "ws")
    production, previous = expected_after_crash(start, how)
    if follow == "serve":
        # Nothing reconciled yet: the router alone must already serve what the alias says.
        assert_consistent(config, production=production, previous=ANY, settled=False)
        return
    if follow == "run":
        from mlci_local.pipeline import Pipeline

        pipeline = Pipeline(config, echo=lambda line: None)
        pipeline.ctx.version = "3"
        pipeline.ctx.digest = Registry(config).by_version("3").digest
        outcome, detail = pipeline.stage_promote()
        assert outcome in ("ok", "up to date"), detail
        production, previous = "3", "2"
    elif follow == "rollback" or (follow == "rerun" and start == "rollback"):
        done = mlci(config, "rollback", "--yes", "--reason", "fault matrix")
        if previous is None:  # the interrupted rollback had already happened
            assert done.exit_code == 1 and "nothing to roll back to" in done.output
        else:
            assert done.exit_code == 0, done.output
            production, previous = previous, None
    else:  # canary --abort, or the interrupted abort again
        done = mlci(config, "canary", "--abort")
        assert done.exit_code == 0, done.output
    assert_consistent(config, production=production, previous=previous)
    state = read_state(config)
    assert state.mode == "none" and state.production_version == production
    assert in_flight(ledger_for(config), config.model) is None


# ------------------------------------------------------------------ a writer that forgets


def canary_state_at_100(config) -> str:
    """The state file a canary of v3 at 100 % against production v2 leaves: its text."""
    from mlci_local.rollout.local_target import mlci_set_weights

    mlci_set_weights(config=config, candidate_version="3", weight=1.0)
    return state_path(config).read_text()


def test_a_rollback_takes_effect_even_if_a_writer_forgets_the_rollout_state(base, tmp_path):
    """The issue's sequence: a canary at 100 %, v3 promoted, rolled back to v2; the file is put
    back at "canary of v3 at 100 % against v2". Production v2 is the same version the file
    names, but not the same move: the file is refused and v2 answers everything."""
    from mlci_local.promotion import rollback

    config = copy_workspace(base, tmp_path / "ws")
    registry, ledger = Registry(config), ledger_for(config)
    left_behind = canary_state_at_100(config)
    assert served(config)[1] == {"3"}  # a current canary at 100 %: the candidate answers
    promote(config, registry, ledger, "3")
    rollback(config, registry, ledger, reason="bad")
    state_path(config).write_text(left_behind)  # the writer that forgot
    health, versions = served(config)
    assert versions == {"2"}
    assert health["production"]["version"] == "2" and health["weight"] == 0.0
    assert health["candidate"]["version"] is None
    assert "out of date: production is now v2 again" in health["rollout_refused"]
    status = mlci(config, "status")
    assert "the router refuses the rollout state file" in status.output
    assert "no ledger record" not in status.output
    assert mlci(config, "rollback", "--yes").exit_code == 1  # nothing to roll back to, but:
    reset = ledger.find("rollout.reset", model=config.model)
    assert len(reset) == 1 and "out of date" in reset[0].data["reason"]
    assert read_state(config).mode == "none" and read_state(config).production_version == "2"


def test_a_state_whose_candidate_is_production_already_is_refused(base, tmp_path):
    config = copy_workspace(base, tmp_path / "ws")
    left_behind = canary_state_at_100(config)
    registry = Registry(config)
    registry.set_alias("previous", "2")  # what a promotion killed before its traffic step
    registry.set_alias("production", "3")  # leaves: aliases moved, the state not reset
    state_path(config).write_text(left_behind)
    health, versions = served(config)
    assert versions == {"3"}
    assert "v3 is production already" in health["rollout_refused"]


def test_an_old_rollout_file_without_a_production_is_refused_and_said_so(base, tmp_path):
    config = copy_workspace(base, tmp_path / "ws")
    state_path(config).parent.mkdir(parents=True, exist_ok=True)
    old = {"model": config.model, "candidate_version": "3", "weight": 1.0, "mode": "canary",
           "step": 4, "updated": "2026-11-30T10:00:00Z"}  # fmt: skip
    state_path(config).write_text(json.dumps(old))
    assert read_state(config).production_version is None  # it still loads
    health, versions = served(config)
    assert versions == {"2"}
    assert "written by an older mlci" in health["rollout_refused"]
    status = mlci(config, "status")
    assert "written by an older mlci" in status.output
    state_path(config).write_text(json.dumps({**old, "mode": "none", "weight": 0.0}))
    health, versions = served(config)  # no rollout: nothing to refuse
    assert versions == {"2"} and health["rollout_refused"] is None


def test_status_names_the_ledger_record_of_a_canary_that_ended(base, tmp_path):
    config = copy_workspace(base, tmp_path / "ws")
    registry, ledger = Registry(config), ledger_for(config)
    outcome = run_canary(config, registry, ledger, "3", Traffic(), policy=POLICY,
                         promote_on_pass=False)  # fmt: skip
    assert outcome.verdict == "pass" and read_state(config).weight == 1.0
    seq = ledger.find("canary", model=config.model, version="3")[-1].seq
    status = mlci(config, "status")
    assert f"canary of v3 at 100% of traffic (canary pass, ledger seq {seq})" in status.output
    assert "PASSED, not promoted yet: `mlci promote 3`" in status.output
    assert "no ledger record" not in status.output
    promote(config, registry, ledger, "3")
    assert "rollout: none (production serves all traffic)" in mlci(config, "status").output


def test_a_canary_that_failed_leaves_no_traffic_on_its_candidate_after_reconcile(base, tmp_path):
    """A writer that recorded the canary's end but not the traffic: reconcile resets it."""
    from mlci_local.promotion import reconcile_locked

    config = copy_workspace(base, tmp_path / "ws")
    registry, ledger = Registry(config), ledger_for(config)
    canary_state_at_100(config)
    digest = registry.by_version("3").digest
    ledger.append("canary", {"model": config.model, "version": "3", "passed": False,
                             "verdict": "fail", "digest": digest})  # fmt: skip
    notes = reconcile_locked(config, registry, ledger)
    assert notes and "belongs to a canary that ended: fail" in notes[0]
    assert read_state(config).mode == "none"
    assert served(config)[1] == {"2"}


# ------------------------------------------------------------------ a controller with children


@pytest.mark.slow
def test_a_killed_live_canary_leaves_no_router_behind_and_the_next_run_settles(base, tmp_path):
    """`mlci run`'s canary starts the router as a child process; SIGKILL the controller mid-
    canary: the router must go within seconds, and the next run's stage 7 settles it all."""
    from mlci_local.pipeline import Pipeline

    config = copy_workspace(base, tmp_path / "ws")
    child = start_child(config, "live-canary", {})
    deadline = time.monotonic() + 120
    try:
        while read_state(config).mode != "canary":
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "the live canary never started"
            time.sleep(0.1)
        assert processes_mentioning(str(config.root)) != [child.pid]  # the router is up
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    assert_no_orphans(config.root)
    pipeline = Pipeline(config, echo=lambda line: None)
    pipeline.ctx.version = "3"
    pipeline.ctx.digest = Registry(config).by_version("3").digest
    outcome, detail = pipeline.stage_promote()
    assert outcome == "ok", detail
    assert_consistent(config, production="3", previous="2")
    assert in_flight(ledger_for(config), config.model) is None


def test_a_running_router_answers_the_first_request_after_a_move_with_the_new_production(
    base, tmp_path
):
    """`mlci serve` keeps running while production is promoted and rolled back: the very next
    request is answered by the version the alias moved to, not the one it moved away from
    (the background refresh alone would let a request or two through to the old one)."""
    from mlci_local.promotion import rollback
    from mlci_local.rollout.router import build_app
    from mlci_local.rollout.state import rollout_dir
    from mlci_local.rollout.traffic import LocalRouter

    config = copy_workspace(base, tmp_path / "ws")
    registry, ledger = Registry(config), ledger_for(config)
    body = json.dumps({"dataframe_records": [ROW]})

    def answered_by(router) -> str:
        connection = router.connection()
        connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        reply = connection.getresponse()
        reply.read()
        assert reply.status == 200
        request_id = reply.getheader("X-Request-Id")
        connection.close()
        lines = (rollout_dir(config) / "requests.jsonl").read_text().splitlines()
        return next(
            line["version"] for line in map(json.loads, lines) if line["request_id"] == request_id
        )

    with LocalRouter(config, app=build_app(config)) as router:
        assert answered_by(router) == "2"
        promote(config, registry, ledger, "3")
        assert answered_by(router) == "3"
        rollback(config, registry, ledger, reason="bad answers")
        assert answered_by(router) == "2"  # the rollback takes effect at once
        assert router.request("GET", "/health")[1]["production"]["version"] == "2"
