"""The canary `mlci run` runs itself: the real router on loopback, fed bounded synthetic traffic."""

from __future__ import annotations

import shutil

import pytest

from mlci_local.promotion import ledger_for, promote
from mlci_local.registry import Registry
from mlci_local.rollout.state import read_state
from mlci_local.rollout.traffic import run_local_canary
from pytest_mlci.config import load_config
from pytest_mlci.model_io import sha256_file

CANARY = """
[tool.mlci.canary]
steps = [0.25, 0.5, 1.0]
min_samples = [0, 1000, 500]
in_run = true

[tool.mlci.canary.judge]
min_requests = 100
min_labels = 100
quality_margin = 0.05
error_rate_margin = 0.02
latency_effect = 0.2

[tool.mlci.canary.traffic]
batch = 400
max_requests_per_step = 2400
concurrency = 4
"""


@pytest.fixture
def project(tiny_dir, tiny_assets, tmp_path_factory):
    """Production v1 (the good model); candidates are registered per test."""
    tiny_dir.extra += CANARY
    tiny_dir.write_config()
    config = load_config(tiny_dir.root / "pyproject.toml")
    registry, ledger = Registry(config), ledger_for(config)

    def register(source) -> str:
        shutil.copy(source, config.artifact)
        digest = sha256_file(config.artifact)
        version = registry.register(config.artifact, digest, tags={}).version.version
        for action in ("evaluation", "staging"):
            ledger.append(action, {"model": config.model, "digest": digest, "passed": True})
        return version

    promote(config, registry, ledger, register(tiny_assets / "good.skops"))
    return config, registry, ledger, register


@pytest.fixture(scope="module")
def retrained(tmp_path_factory):
    """The good model trained again on fresh rows: different bytes, same quality."""
    import skops.io as sio

    from tests.conftest import make_frame, train_model

    path = tmp_path_factory.mktemp("retrained") / "retrained.skops"
    sio.dump(train_model(make_frame(3000, seed=11)), path)
    return path


@pytest.mark.slow  # about 4,000 real HTTP requests
def test_a_retrained_candidate_passes_every_step_and_is_promoted(project, retrained):
    config, registry, ledger, register = project
    version = register(retrained)
    outcome = run_local_canary(config, registry, ledger, version)
    assert outcome.verdict == "pass", [step.summary for step in outcome.steps]
    assert [step.weight for step in outcome.steps] == [0.25, 0.5, 1.0]
    assert outcome.steps[1].canary_requests >= 1000  # the 50 % step's minimum sample
    assert outcome.promoted and registry.by_alias("production").version == version
    assert read_state(config).mode == "none"  # promotion hands all traffic to production


@pytest.mark.slow  # about 4,000 real HTTP requests
def test_a_less_accurate_candidate_is_rolled_back_on_its_delayed_labels(project, tiny_assets):
    config, registry, ledger, register = project
    version = register(tiny_assets / "bad.skops")
    outcome = run_local_canary(config, registry, ledger, version)
    assert outcome.verdict == "fail", [step.summary for step in outcome.steps]
    assert "quality fail" in outcome.steps[-1].line()
    assert registry.by_alias("production").version == "1"
    state = read_state(config)
    assert (state.mode, state.weight) == ("none", 0.0)
    assert ledger.find("canary", version=version)[-1].data["verdict"] == "fail"


class Constant:
    """A binary classifier answering one probability; ``fail_share`` of rows raise."""

    def __init__(self, probability, *, fail_share=0.0):
        self.probability, self.fail_share = probability, fail_share

    @property
    def classes_(self):
        import numpy as np

        return np.array([0, 1])

    def predict_proba(self, frame):
        import numpy as np

        if self.fail_share and (frame["x0"].abs() < self.fail_share).any():
            raise ValueError("cannot score this row")
        p = np.full(len(frame), self.probability)
        return np.column_stack([1 - p, p])


def traffic_for(config, candidate, **settings):
    from dataclasses import replace

    from mlci_local.rollout.live import LogSource
    from mlci_local.rollout.router import build_app
    from mlci_local.rollout.state import rollout_dir
    from mlci_local.rollout.traffic import LocalRouter, SyntheticTraffic, sample_rows

    app = build_app(config, production_model=Constant(0.2), candidate_model=candidate)
    router = LocalRouter(config, app=app)
    rows, labels = sample_rows(config)
    knobs = replace(config.canary.traffic, **settings)
    return router, lambda: SyntheticTraffic(
        router, rows, labels, knobs, LogSource(rollout_dir(config)), run_id="t"
    )


def test_each_batch_is_observed_through_the_router_logs_with_lagged_labels(project):
    from mlci_local.rollout.state import RolloutState, write_state

    config = project[0]
    write_state(config, RolloutState(config.model, "2", 0.5, "canary", 1, "now"))
    router, make = traffic_for(config, Constant(0.9), batch=50, max_requests_per_step=150)
    with router:
        batches = list(make().batches(0.5))
    assert not router.running  # the server stopped with the block
    assert len(batches) == 3  # bounded: 150 requests in batches of 50
    control = [c for c, _ in batches]
    canary = [k for _, k in batches]
    assert sum(c.requests + k.requests for c, k in batches) == 150
    assert all(k.requests > 0 for k in canary) and all(c.requests > 0 for c in control)
    assert all(c.errors == k.errors == 0 for c, k in batches)
    # Labels arrive one batch late: none at the first look, then the previous batch's.
    assert [len(c.labelled_correct) + len(k.labelled_correct) for c, k in batches] == [0, 50, 50]


def test_requests_the_candidate_fails_are_errors_of_its_arm_only(project):
    from mlci_local.rollout.state import RolloutState, write_state

    config = project[0]
    write_state(config, RolloutState(config.model, "2", 1.0, "canary", 1, "now"))
    router, make = traffic_for(config, Constant(0.9, fail_share=0.5), batch=100,
                               max_requests_per_step=100)  # fmt: skip
    with router:
        ((control, canary),) = list(make().batches(1.0))
    assert control.requests == 0
    assert canary.requests == 100 and 0 < canary.errors < 100


def test_a_router_that_cannot_start_is_a_clear_failure_not_a_pass(project):
    from mlci_local.rollout.traffic import LocalRouter
    from pytest_mlci.errors import CheckFailed

    config = project[0]

    async def broken(scope, receive, send):  # an app whose start-up fails
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no model"})
            return

    with (
        pytest.raises(CheckFailed, match="local router did not answer"),
        LocalRouter(config, app=broken),
    ):
        pass


def test_connections_to_the_router_socket_send_without_nagle_delay():
    """asyncio disables Nagle (TCP_NODELAY) only on connections accepted from a socket whose
    protocol says TCP; with Nagle on, each kept-alive response waited ~40 ms for a delayed
    ACK. The router's listening socket must get it, and a bare ``socket.socket()`` does not
    (the contrast shows the check can fail)."""
    import asyncio
    import socket

    from mlci_local.rollout.traffic import listening_socket

    async def nodelay_of_accepted(listening: socket.socket) -> int:
        accepted: asyncio.Future = asyncio.get_running_loop().create_future()

        class Record(asyncio.Protocol):
            def connection_made(self, transport):
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        server = await asyncio.get_running_loop().create_server(Record, sock=listening)
        port = listening.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()
            server.close()

    assert asyncio.run(nodelay_of_accepted(listening_socket())) != 0
    bare = socket.socket()
    bare.bind(("127.0.0.1", 0))
    bare.listen()
    assert asyncio.run(nodelay_of_accepted(bare)) == 0
