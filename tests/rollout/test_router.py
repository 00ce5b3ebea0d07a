"""The local serving router (`mlci serve`): MLflow's request format, the sticky traffic split,
shadow mode, the request and feedback logs, failures, and rollouts that change under load.

httpx is not installed, so starlette's TestClient cannot be used; the small ASGI driver below
calls the app the way a server does (one http scope, the body, the response messages),
including background tasks, which finish before the call returns.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlci_local.rollout.router import (
    CANDIDATE,
    PRODUCTION,
    bucket,
    build_app,
    choose_arm,
)
from mlci_local.rollout.state import (
    RolloutState,
    read_state,
    rollout_dir,
    state_path,
    write_state,
)
from pytest_mlci.config import load_config
from pytest_mlci.errors import DataError

COLUMNS = ["x0", "x1", "x2", "x3", "group"]
ROW = [0.5, -0.2, 0.1, 1.0, "a"]


def as_record(row: list[Any]) -> dict[str, Any]:
    """One row in ``dataframe_records`` form."""
    return dict(zip(COLUMNS, row, strict=True))


# --------------------------------------------------------------------------- an ASGI client


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def request(
    app: Any, method: str, path: str, *, json_body: Any = None, content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:  # fmt: skip
    """One HTTP request through the ASGI interface, as uvicorn would make it."""
    if json_body is not None:
        content = json.dumps(json_body).encode()
        headers = {"content-type": "application/json", **(headers or {})}
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": raw_headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 5000),
    }  # fmt: skip
    delivered = False
    done = asyncio.Event()
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": content or b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return Reply(start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body)


class Client:
    """A synchronous face over :func:`request` for tests that send one request at a time."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def post(self, path: str, json_body: Any = None, **kwargs: Any) -> Reply:
        return asyncio.run(request(self.app, "POST", path, json_body=json_body, **kwargs))

    def get(self, path: str) -> Reply:
        return asyncio.run(request(self.app, "GET", path))

    def score(self, *, key: str | None = None, rows: int = 1) -> Reply:
        headers = {"X-Request-Key": key} if key else None
        body = {"dataframe_split": {"columns": COLUMNS, "data": [ROW] * rows}}
        return self.post("/invocations", body, headers=headers)


# --------------------------------------------------------------------------- models and setup


class Constant:
    """A binary classifier answering one fixed probability: it tells the arms apart."""

    def __init__(self, probability: float) -> None:
        self.probability = probability
        self.rows = 0

    @property
    def classes_(self):
        import numpy as np

        return np.array([0, 1])

    def predict_proba(self, frame):
        import numpy as np

        self.rows += len(frame)
        p = np.full(len(frame), self.probability)
        return np.column_stack([1 - p, p])


class FailsOnNegativeX0(Constant):
    """Raises for one kind of input only, like a model with an unhandled edge case."""

    def predict_proba(self, frame):
        if (frame["x0"] < 0).any():
            raise ValueError("x0 must not be negative")
        return super().predict_proba(frame)


class Gated(Constant):
    """Blocks inside predict until released: a request kept in flight on purpose."""

    def __init__(self, probability: float) -> None:
        super().__init__(probability)
        self.entered = threading.Event()
        self.release = threading.Event()

    def predict_proba(self, frame):
        self.entered.set()
        assert self.release.wait(10), "the test never released the model"
        return super().predict_proba(frame)


PROD, CAND = 0.25, 0.75  # the probabilities the injected arms answer


@pytest.fixture
def config(tiny_dir):
    """The tiny project's configuration (model 'tiny', binary classification)."""
    return load_config(tiny_dir.root / "pyproject.toml")


def set_state(config, mode: str, weight: float, version: str | None = "2", step: int = 1) -> None:
    """Write a state as the local target does: naming the production alias it applies to."""
    from mlci_local.rollout.local_target import production_binding

    binding = production_binding(config)
    write_state(config, RolloutState(config.model, version, weight, mode, step, "now", *binding))


def request_log(config) -> list[dict[str, Any]]:
    path = rollout_dir(config) / "requests.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def serve(config, production: Any = None, candidate: Any = None) -> Client:
    return Client(
        build_app(
            config,
            production_model=Constant(PROD) if production is None else production,
            candidate_model=Constant(CAND) if candidate is None else candidate,
        )
    )


# --------------------------------------------------------------------------- the state file


def test_no_state_file_means_no_rollout(config):
    state = read_state(config)
    assert (state.mode, state.weight, state.candidate_version) == ("none", 0.0, None)


def test_the_state_file_round_trips_and_is_replaced_whole(config):
    set_state(config, "canary", 0.25, step=3)
    assert read_state(config) == RolloutState("tiny", "2", 0.25, "canary", 3, "now")
    assert [p.name for p in state_path(config).parent.iterdir()] == ["tiny.json"]  # no temp


def test_a_malformed_state_file_names_the_file(config):
    state_path(config).parent.mkdir(parents=True)
    state_path(config).write_text('{"mode": "canary", "weight": 1.5, "candidate_version": "2"}')
    with pytest.raises(DataError, match=r"tiny\.json: rollout weight must be a share"):
        read_state(config)


# --------------------------------------------------------------------------- request format


def test_both_mlflow_request_formats_score_with_the_real_model(config, tiny_assets):
    import pandas as pd

    from pytest_mlci.model_io import load_model

    model = load_model(tiny_assets / "good.skops")
    client = serve(config, production=model)
    rows = [ROW, [-1.0, 2.0, 0.0, 0.3, "b"]]
    split = client.post("/invocations", {"dataframe_split": {"columns": COLUMNS, "data": rows}})
    records = client.post("/invocations", {"dataframe_records": [as_record(row) for row in rows]})
    expected = model.predict_proba(pd.DataFrame(rows, columns=COLUMNS))[:, 1].tolist()
    assert split.status == records.status == 200
    assert split.json()["predictions"] == pytest.approx(expected)
    assert records.json()["predictions"] == pytest.approx(expected)
    logged = request_log(config)[-1]
    assert logged["labels"] == model.predict(pd.DataFrame(rows, columns=COLUMNS)).tolist()


def test_the_request_id_is_returned_in_the_header_and_the_body(config):
    client = serve(config)
    given = client.post(
        "/invocations", {"dataframe_records": [as_record(ROW)]},
        headers={"X-Request-Id": "req-42"},
    )  # fmt: skip
    generated = client.score()
    assert given.headers["x-request-id"] == given.json()["request_id"] == "req-42"
    assert len(generated.json()["request_id"]) == 32  # a uuid4, hex
    assert generated.headers["x-request-id"] == generated.json()["request_id"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (b'{"instances": [[1, 2]]}', 400, "instances rows are lists of values, but the models"),
        (b'{"dataframe_split": {"data": [[1]]}, "dataframe_records": []}', 400, "exactly one"),
        (b'{"dataframe_records": {"x0": 1}}', 400, "list of objects"),
        (b'{"dataframe_split": {"rows": []}}', 400, "'data'"),
    ],
)
def test_a_malformed_request_is_a_400_that_blames_no_arm(config, body, status, message):
    client = serve(config)
    reply = client.post("/invocations", content=body, headers={"content-type": "application/json"})
    assert reply.status == status
    assert reply.json()["error_code"] == "BAD_REQUEST" and message in reply.json()["message"]
    logged = request_log(config)[-1]
    assert logged["arm"] is None and logged["error"].startswith("bad request")


def test_an_unsupported_content_type_is_a_415(config):
    reply = serve(config).post("/invocations", content=b"x", headers={"content-type": "text/xml"})
    assert reply.status == 415


# --------------------------------------------------------------------------- the traffic split


def test_without_a_rollout_everything_goes_to_production(config):
    client = serve(config)
    replies = [client.score(key=f"user-{n}") for n in range(50)]
    assert {r.json()["predictions"][0] for r in replies} == {PROD}
    assert {line["arm"] for line in request_log(config)} == {PRODUCTION}


def test_weight_zero_sends_all_to_production_and_weight_one_all_to_the_candidate(config):
    set_state(config, "canary", 0.0)
    client = serve(config)
    assert {client.score(key=f"u{n}").json()["predictions"][0] for n in range(50)} == {PROD}
    set_state(config, "canary", 1.0, step=2)
    assert {client.score(key=f"u{n}").json()["predictions"][0] for n in range(50)} == {CAND}
    arms = [(line["arm"], line["version"], line["step"]) for line in request_log(config)]
    assert arms == [(PRODUCTION, "injected", 1)] * 50 + [(CANDIDATE, "2", 2)] * 50


def test_weight_0_3_sends_about_30_percent_and_each_key_sticks_to_its_arm(config):
    set_state(config, "canary", 0.3)
    app = serve(config).app

    async def score_keys(keys: list[str]) -> list[float]:
        body = {"dataframe_split": {"columns": COLUMNS, "data": [ROW]}}
        replies = [
            await request(app, "POST", "/invocations", json_body=body,
                          headers={"X-Request-Key": key})
            for key in keys
        ]  # fmt: skip
        return [r.json()["predictions"][0] for r in replies]

    keys = [f"customer-{n}" for n in range(2000)]
    first = asyncio.run(score_keys(keys))
    share = sum(p == CAND for p in first) / len(keys)
    assert 0.26 <= share <= 0.34  # binomial sd is 0.010 at n = 2000
    again = asyncio.run(score_keys(keys[:300]))
    assert again == first[:300]
    assert all((p == CAND) == (choose_arm(read_state(config), k) == CANDIDATE)
               for k, p in zip(keys, first, strict=True))  # fmt: skip


def test_raising_the_weight_only_moves_keys_towards_the_candidate():
    keys = [f"k{n}" for n in range(1000)]
    at = {w: {k for k in keys if choose_arm(RolloutState("m", "2", w, "canary"), k) == CANDIDATE}
          for w in (0.05, 0.25, 0.5, 1.0)}  # fmt: skip
    assert at[0.05] <= at[0.25] <= at[0.5] <= at[1.0] == set(keys)
    assert all(0 <= bucket(k) < 1 for k in keys)


def test_without_a_request_key_the_request_id_decides(config):
    set_state(config, "canary", 0.5)
    client = serve(config)
    for n in range(20):
        reply = client.post(
            "/invocations", {"dataframe_records": [as_record(ROW)]},
            headers={"X-Request-Id": f"r{n}"},
        )  # fmt: skip
        expected = CAND if bucket(f"r{n}") < 0.5 else PROD
        assert reply.json()["predictions"] == [expected]


def test_a_state_change_is_picked_up_without_a_restart(config):
    client = serve(config)
    assert client.score(key="alice").json()["predictions"] == [PROD]
    set_state(config, "canary", 1.0)
    assert client.score(key="alice").json()["predictions"] == [CAND]
    assert client.get("/health").json()["weight"] == 1.0
    state_path(config).unlink()  # the controller finished and removed it: production only
    assert client.score(key="alice").json()["predictions"] == [PROD]


def test_an_unreadable_state_file_fails_closed_to_production(config):
    set_state(config, "canary", 1.0)
    client = serve(config)
    state_path(config).write_text("{ half a file")
    assert client.score(key="alice").json()["predictions"] == [PROD]
    health = client.get("/health").json()
    assert health["mode"] == "none" and "not valid JSON" in health["state_error"]


# --------------------------------------------------------------------------- shadow mode


def test_shadow_mode_answers_with_production_and_only_logs_the_candidate(config):
    set_state(config, "shadow", 0.0)
    candidate = Constant(CAND)
    client = serve(config, candidate=candidate)
    replies = [client.score(key=f"u{n}") for n in range(20)]
    assert {r.json()["predictions"][0] for r in replies} == {PROD}
    assert client.app.state.router.shadows.drain()
    assert candidate.rows == 20
    lines = {line["request_id"]: line for line in request_log(config)}
    assert sorted(lines) == sorted(r.json()["request_id"] for r in replies)
    for line in lines.values():
        assert (line["arm"], line["predictions"]) == (PRODUCTION, [PROD])
        assert line["shadow"]["version"] == "2" and line["shadow"]["predictions"] == [CAND]
        assert line["shadow"]["error"] is None and line["shadow"]["latency_ms"] >= 0


def test_a_failing_shadow_is_logged_never_seen_and_blames_only_its_own_request(config):
    set_state(config, "shadow", 0.0)
    app = serve(config, candidate=FailsOnNegativeX0(CAND)).app
    rows = [ROW, [-1.0, 0, 0, 0, "a"], ROW, ROW]

    async def together() -> list[Reply]:  # close together: the shadow scores them as a batch
        return await asyncio.gather(
            *(request(app, "POST", "/invocations", json_body={"dataframe_records": [as_record(r)]},
                      headers={"X-Request-Id": f"r{n}"}) for n, r in enumerate(rows))
        )  # fmt: skip

    replies = asyncio.run(together())
    assert [r.json()["predictions"] for r in replies] == [[PROD]] * 4
    assert app.state.router.shadows.drain()
    shadows = {line["request_id"]: line["shadow"] for line in request_log(config)}
    assert "x0 must not be negative" in shadows["r1"]["error"]
    assert [shadows[f"r{n}"]["predictions"] for n in (0, 2, 3)] == [[CAND]] * 3


def test_a_full_shadow_queue_skips_the_copy_and_logs_it_without_slowing_production(
    config, monkeypatch
):
    from mlci_local.rollout import router as router_module

    monkeypatch.setattr(router_module, "SHADOW_QUEUE", 2)
    set_state(config, "shadow", 0.0)
    client = serve(config)
    replies = [client.score() for _ in range(4)]  # two copies wait, two find the queue full
    assert [r.json()["predictions"] for r in replies] == [[PROD]] * 4
    assert client.app.state.router.shadows.drain()
    shadows = [line["shadow"] for line in request_log(config)]
    assert len(shadows) == 4
    assert sum("shadow queue is full" in (s["error"] or "") for s in shadows) == 2
    assert sum(s["predictions"] == [CAND] for s in shadows) == 2


# --------------------------------------------------------------------------- failures


def test_a_model_that_raises_is_a_500_logged_for_its_arm_and_the_next_request_is_fine(config):
    set_state(config, "canary", 1.0)
    client = serve(config, candidate=FailsOnNegativeX0(CAND))
    bad = client.post("/invocations", {"dataframe_records": [as_record([-1.0, 0, 0, 0, "a"])]})
    assert bad.status == 500
    assert bad.json()["error_code"] == "INTERNAL_ERROR"
    assert "ValueError: x0 must not be negative" in bad.json()["message"]
    good = client.score()
    assert good.status == 200 and good.json()["predictions"] == [CAND]
    failed, served = request_log(config)
    assert (failed["arm"], failed["status"], failed["predictions"]) == (CANDIDATE, 500, None)
    assert failed["error"] == "ValueError: x0 must not be negative"
    assert (served["arm"], served["status"], served["error"]) == (CANDIDATE, 200, None)


def test_a_model_answering_nan_is_an_error_not_invalid_json(config):
    client = serve(config, production=Constant(float("nan")))
    reply = client.score()
    assert reply.status == 500 and "NaN" in reply.json()["message"]


def test_without_a_production_model_health_and_invocations_answer_503(config):
    client = Client(build_app(config))  # nothing registered in the tiny project's registry
    health = client.get("/health")
    assert health.status == 503
    assert "no 'production' alias" in health.json()["production"]["error"]
    reply = client.score()
    assert reply.status == 503 and reply.json()["error_code"] == "SERVICE_UNAVAILABLE"
    assert not (config.state_dir / "mlflow.db").exists()  # serving created no empty registry
    line = request_log(config)[-1]
    assert (line["arm"], line["routed"], line["status"]) == (None, PRODUCTION, 503)


def test_health_reports_versions_mode_and_weight(config):
    set_state(config, "canary", 0.25, step=2)
    health = serve(config).get("/health")
    assert health.status == 200
    body = health.json()
    assert body["production"] == {"version": "injected", "error": None}
    assert body["candidate"] == {"version": "2", "loaded": True, "error": None}
    assert (body["mode"], body["weight"], body["step"]) == ("canary", 0.25, 2)


# --------------------------------------------------------------------------- feedback


def test_feedback_is_appended_for_later_joining_by_request_id(config):
    client = serve(config)
    request_id = client.score().json()["request_id"]
    assert client.post("/feedback", {"request_id": request_id, "label": 1}).json() == {
        "accepted": 1
    }
    batch = [{"request_id": "a", "label": 0}, {"request_id": "b", "label": "yes"}]
    assert client.post("/feedback", batch).json() == {"accepted": 2}
    lines = (rollout_dir(config) / "feedback.jsonl").read_text().splitlines()
    assert [(r["request_id"], r["label"]) for r in map(json.loads, lines)] == [
        (request_id, 1), ("a", 0), ("b", "yes")
    ]  # fmt: skip


@pytest.mark.parametrize(
    "body", [{"label": 1}, {"request_id": "", "label": 1}, {"request_id": "a"}, [], "text"]
)
def test_unusable_feedback_is_a_400_and_nothing_is_written(config, body):
    reply = serve(config).post("/feedback", body)
    assert reply.status == 400
    assert not (rollout_dir(config) / "feedback.jsonl").exists()


# --------------------------------------------------------------------------- concurrency


def test_only_fast_timed_models_with_small_requests_run_on_the_event_loop():
    from mlci_local.rollout.router import INLINE_MAX_ROWS, Loaded, Outcome

    fast, slow, waits = Loaded("1", object()), Loaded("2", object()), Loaded("3", object())
    assert not fast.runs_inline(1)  # never timed: a worker thread, in case it is slow
    fast.observe(Outcome([0.1], latency_ms=9.0, error=None, cpu_ms=1.5), rows=1)  # a busy server
    assert fast.runs_inline(1) and not fast.runs_inline(INLINE_MAX_ROWS + 1)
    for _ in range(3):
        slow.observe(Outcome([0.1], latency_ms=40.0, error=None, cpu_ms=40.0), rows=1)
        waits.observe(Outcome([0.1], latency_ms=80.0, error=None, cpu_ms=0.1), rows=1)
    assert not slow.runs_inline(1) and not waits.runs_inline(1)


def test_concurrent_requests_each_log_one_whole_line(config):
    set_state(config, "shadow", 0.0)
    app = serve(config).app
    body = {"dataframe_split": {"columns": COLUMNS, "data": [ROW] * 3}}

    async def burst() -> list[Reply]:
        return await asyncio.gather(
            *(request(app, "POST", "/invocations", json_body=body) for _ in range(200))
        )

    replies = asyncio.run(burst())
    assert {r.status for r in replies} == {200}
    assert app.state.router.shadows.drain()
    lines = request_log(config)  # json.loads of every line: none torn
    assert sorted(line["request_id"] for line in lines) == sorted(
        r.json()["request_id"] for r in replies
    )


def test_a_rollback_drops_no_request_in_flight_on_the_candidate(config):
    set_state(config, "canary", 1.0)
    candidate = Gated(CAND)
    app = serve(config, candidate=candidate).app
    body = {"dataframe_split": {"columns": COLUMNS, "data": [ROW]}}

    async def scenario() -> tuple[Reply, list[Reply]]:
        in_flight = asyncio.create_task(request(app, "POST", "/invocations", json_body=body))
        while not candidate.entered.is_set():
            await asyncio.sleep(0.005)
        set_state(config, "canary", 0.0, step=2)  # the controller rolls back
        after = [await request(app, "POST", "/invocations", json_body=body) for _ in range(5)]
        candidate.release.set()
        return await in_flight, after

    started_on_candidate, after = asyncio.run(scenario())
    assert started_on_candidate.status == 200
    assert started_on_candidate.json()["predictions"] == [CAND]
    assert [r.json()["predictions"] for r in after] == [[PROD]] * 5
    arms = sorted((line["step"], line["arm"]) for line in request_log(config))
    assert arms == [(1, CANDIDATE)] + [(2, PRODUCTION)] * 5


# --------------------------------------------------------------------------- the registry


def register_and_promote(config, tiny_assets) -> tuple[str, str]:
    """v1 (good) in production, v2 (bad) registered: the setup of a canary."""
    from mlci_local.promotion import ledger_for, promote
    from mlci_local.registry import Registry
    from pytest_mlci.model_io import sha256_file

    registry, ledger = Registry(config), ledger_for(config)
    versions = []
    for name in ("good.skops", "bad.skops"):
        shutil.copy(tiny_assets / name, config.artifact)
        digest = sha256_file(config.artifact)
        versions.append(registry.register(config.artifact, digest, tags={}).version.version)
        for action in ("evaluation", "staging"):
            ledger.append(action, {"model": config.model, "digest": digest, "passed": True})
    promote(config, registry, ledger, versions[0])
    return versions[0], versions[1]


def test_models_are_loaded_verified_from_the_registry(config, tiny_assets):
    import pandas as pd

    from pytest_mlci.model_io import load_model

    production, candidate = register_and_promote(config, tiny_assets)
    set_state(config, "canary", 1.0, version=candidate)
    client = Client(build_app(config))
    body = client.get("/health").json()
    assert body["production"]["version"] == production
    assert body["candidate"] == {"version": candidate, "loaded": True, "error": None}
    frame = pd.DataFrame([ROW], columns=COLUMNS)
    bad = load_model(tiny_assets / "bad.skops").predict_proba(frame)[:, 1].tolist()
    good = load_model(tiny_assets / "good.skops").predict_proba(frame)[:, 1].tolist()
    assert client.score().json()["predictions"] == pytest.approx(bad)
    set_state(config, "canary", 0.0, version=candidate, step=2)
    assert client.score().json()["predictions"] == pytest.approx(good)
    assert [line["version"] for line in request_log(config)] == [candidate, production]


def test_a_new_candidate_version_and_a_promotion_reach_the_router_without_a_restart(
    config, tiny_assets
):
    import time

    from mlci_local.promotion import ledger_for, promote
    from mlci_local.registry import Registry

    first, second = register_and_promote(config, tiny_assets)
    set_state(config, "canary", 1.0, version=second)
    client = Client(build_app(config))
    assert client.score().status == 200
    # A state naming the production version as its candidate is stale: production answers.
    set_state(config, "canary", 1.0, version=first, step=2)
    assert client.score().status == 200
    promote(config, Registry(config), ledger_for(config), second)
    set_state(config, "none", 0.0, version=None, step=0)  # what the local target writes
    deadline = time.monotonic() + 30
    while client.get("/health").json()["production"]["version"] != second:
        assert time.monotonic() < deadline, "the promotion never reached the router"
        time.sleep(0.05)
    assert client.score().status == 200
    served = [(line["arm"], line["version"]) for line in request_log(config)]
    assert served == [(CANDIDATE, second), (PRODUCTION, first), (PRODUCTION, second)]


def test_a_tampered_candidate_is_never_served(config, tiny_assets):
    from mlci_local.registry import Registry

    production, candidate = register_and_promote(config, tiny_assets)
    source = Registry(config).by_version(candidate).source
    with open(Path(source.removeprefix("file://")) / "model.skops", "ab") as handle:
        handle.write(b"tampered")
    set_state(config, "canary", 1.0, version=candidate)
    client = Client(build_app(config))
    reply = client.score()
    assert reply.status == 200  # the user is answered by production
    line = request_log(config)[-1]
    assert (line["arm"], line["version"]) == (PRODUCTION, production)
    assert "does not match the registered" in line["fallback"]
    health = client.get("/health").json()
    assert health["candidate"]["loaded"] is False
    assert "does not match the registered" in health["candidate"]["error"]


# --------------------------------------------------------------------------- mlci serve


def test_serve_runs_uvicorn_on_loopback_by_default(config, monkeypatch):
    import uvicorn
    from click.testing import CliRunner

    from mlci_local.commands.serve import command
    from mlci_local.workspace import Workspace

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    result = CliRunner().invoke(command, [], obj=Workspace(config.source))
    assert result.exit_code == 0, result.output
    (app, options), = calls  # fmt: skip
    assert options == {"host": "127.0.0.1", "port": 5000, "log_level": "warning"}
    assert app.state.router.config.model == "tiny"
    assert "production not loaded" in result.output and "serving on http://127.0.0.1:5000" in (
        result.output
    )


def test_importing_the_serve_command_loads_no_server_or_ml_library():
    import subprocess
    import sys

    probe = (
        "import sys, mlci_local.commands.serve\n"
        "heavy = ('starlette', 'uvicorn', 'anyio', 'mlflow', 'pandas', 'sklearn', 'numpy')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_the_app_serves_real_http_on_loopback(config):
    import http.client
    import socket
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(serve(config).app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        body = json.dumps({"dataframe_records": [as_record(ROW)]})
        connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        reply = connection.getresponse()
        assert reply.status == 200
        assert json.loads(reply.read())["predictions"] == [PROD]
        assert reply.getheader("X-Request-Id")
        connection.close()
    finally:
        server.should_exit = True
        thread.join(10)
