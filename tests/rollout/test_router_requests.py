"""`mlci serve` checks requests before any model sees them: a client's mistake is a 400/413/415
in MLflow's error shape naming the column and the problem, never a 500, never the candidate's
error in the canary judge's eyes; the body limit holds without reading a large body.

The app is driven through the ASGI interface as in ``test_router.py``; the body-limit tests
also use real HTTP under uvicorn, where streaming and ``Content-Length`` are the server's.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlci_local.rollout.router import CANDIDATE, PRODUCTION, build_app
from pytest_mlci.config import ServeSettings, load_config
from pytest_mlci.errors import ConfigError
from tests.rollout.test_router import (
    CAND,
    COLUMNS,
    PROD,
    ROW,
    Client,
    Constant,
    FailsOnNegativeX0,
    Reply,
    as_record,
    request_log,
    serve,
    set_state,
)


@pytest.fixture
def config(tiny_dir):
    """The tiny project: x0..x3 float (not nullable), group a string in {'a', 'b'}."""
    return load_config(tiny_dir.root / "pyproject.toml")


@pytest.fixture
def model(tiny_assets):
    """The tiny project's real scikit-learn pipeline (it records ``feature_names_in_``)."""
    from pytest_mlci.model_io import load_model

    return load_model(tiny_assets / "good.skops")


def post(client: Client, body: Any) -> Reply:
    return client.post("/invocations", body)


def post_raw(client: Client, content: bytes, content_type: str = "application/json") -> Reply:
    return client.post("/invocations", content=content, headers={"content-type": content_type})


def refused(reply: Reply, status: int = 400) -> str:
    """The message of a refusal, after checking its status and MLflow's error shape."""
    assert reply.status == status, reply.body
    body = reply.json()
    assert body["error_code"] == "BAD_REQUEST", body
    return body["message"]


def with_row(**changes: Any) -> dict[str, Any]:
    """One valid row with some values replaced (``None`` sends JSON null)."""
    return {**as_record(ROW), **changes}


def in_every_format(row: dict[str, Any]) -> dict[str, Any]:
    """The same one-row request in each of MLflow's four JSON formats."""
    return {
        "dataframe_split": {
            "dataframe_split": {"columns": list(row), "data": [list(row.values())]}
        },
        "dataframe_records": {"dataframe_records": [row]},
        "instances": {"instances": [row]},
        "inputs": {"inputs": {name: [value] for name, value in row.items()}},
    }


# --------------------------------------------------------------------------- one per error class


def test_a_missing_column_is_named(config):
    row = as_record(ROW)
    del row["x2"]
    message = refused(post(serve(config), {"dataframe_records": [row]}))
    assert message == "missing column ['x2']"


def test_a_misspelt_column_is_named_with_the_likely_typo(config):
    row = as_record(ROW)
    row["x_2"] = row.pop("x2")
    message = refused(post(serve(config), {"dataframe_records": [row]}))
    assert "missing column ['x2']" in message and "did you mean 'x_2' for 'x2'?" in message


def test_a_string_where_a_number_belongs_names_the_column_row_and_value(config):
    rows = [as_record(ROW), with_row(x1="0.3")]
    message = refused(post(serve(config), {"dataframe_records": rows}))
    assert message == "column 'x1', row 1: expected a number, got a string '0.3'"


def test_a_number_where_a_string_belongs_is_refused(config):
    message = refused(post(serve(config), {"dataframe_records": [with_row(group=1)]}))
    assert message == "column 'group', row 0: expected a string, got a number 1"


def test_a_boolean_is_not_a_number(config):
    message = refused(post(serve(config), {"dataframe_records": [with_row(x0=True)]}))
    assert message == "column 'x0', row 0: expected a number, got a boolean true"


def test_a_category_the_schema_does_not_list_is_refused(config):
    message = refused(post(serve(config), {"dataframe_records": [with_row(group="c")]}))
    assert message == "column 'group', row 0: 'c' is not an allowed value (allowed: 'a', 'b')"


@pytest.mark.parametrize(
    ("literal", "shown"),
    [("NaN", "NaN is not allowed"), ("Infinity", "inf is not a finite number"),
     ("-Infinity", "-inf is not a finite number"), ("1e999", "inf is not a finite number")],
)  # fmt: skip
def test_non_finite_numbers_are_refused(config, literal, shown):
    body = ('{"dataframe_split": {"columns": ["x0", "x1", "x2", "x3", "group"], '
            f'"data": [[0.5, {literal}, 0.1, 1.0, "a"]]}}}}').encode()  # fmt: skip
    message = refused(post_raw(serve(config), body))
    assert message.startswith(f"column 'x1', row 0: {shown}")


def test_null_is_refused_where_the_schema_does_not_declare_the_column_nullable(config):
    message = refused(post(serve(config), {"dataframe_records": [with_row(x3=None)]}))
    assert message == (
        "column 'x3', row 0: null is not allowed (the schema does not declare the column nullable)"
    )


def test_a_record_without_a_key_is_a_missing_value(config):
    rows = [as_record(ROW), {k: v for k, v in as_record(ROW).items() if k != "x0"}]
    message = refused(post(serve(config), {"dataframe_records": rows}))
    assert message.startswith("column 'x0', row 1: no value (the key is absent) is not allowed")


def test_null_and_nan_are_accepted_in_a_column_the_schema_declares_nullable(tiny_dir):
    schema = (tiny_dir.root / "tiny_schema.py").read_text()
    (tiny_dir.root / "nullable_schema.py").write_text(
        schema.replace(
            "x3: float = pa.Field(nullable=False)", "x3: float = pa.Field(nullable=True)"
        )
    )
    text = (tiny_dir.root / "pyproject.toml").read_text()
    (tiny_dir.root / "pyproject.toml").write_text(
        text.replace("tiny_schema:TinySchema", "nullable_schema:TinySchema")
    )
    client = serve(load_config(tiny_dir.root / "pyproject.toml"))
    body = b'{"dataframe_split": {"columns": %s, "data": [[0.5, 1, 0, NaN, "a"]]}}' % (
        json.dumps(COLUMNS).encode()
    )
    assert post_raw(client, body).status == 200
    assert post(client, {"dataframe_records": [with_row(x3=None)]}).status == 200
    assert "inf is not a finite number" in refused(post_raw(client, body.replace(b"NaN", b"1e999")))


def test_an_integer_column_takes_whole_numbers_only():
    from mlci_local.rollout.invocation import BadRequest, ColumnSpec, InputContract

    contract = InputContract({"age": ColumnSpec("age", kind="integer")})
    assert len(contract.parse(b'{"inputs": {"age": [30, 31.0]}}', None).frame) == 2
    with pytest.raises(BadRequest, match=r"column 'age', row 0: expected an integer, got 30.5"):
        contract.parse(b'{"inputs": {"age": [30.5]}}', None)


def test_integers_beyond_64_bits_are_refused(config):
    message = refused(post(serve(config), {"dataframe_records": [with_row(x0=10**30)]}))
    assert (
        message
        == "column 'x0', row 0: 1000000000000000000000000000000 is outside the 64-bit integer range"
    )


def test_a_list_or_an_object_as_a_value_is_refused(config):
    client = serve(config)
    nested = refused(post(client, {"dataframe_records": [with_row(x0=[1, [2]])]}))
    assert nested == "column 'x0', row 0: expected a number, got a list of 2"
    obj = refused(post(client, {"dataframe_records": [with_row(group={"a": 1})]}))
    assert obj == "column 'group', row 0: expected a string, got an object"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"dataframe_records": []}, "no rows to score: dataframe_records is empty"),
        ({"dataframe_split": {"columns": COLUMNS, "data": []}},
         "no rows to score: dataframe_split.data is empty"),
        ({"instances": []}, "no rows to score: instances is empty"),
        ({"inputs": {name: [] for name in COLUMNS}}, "no rows to score: inputs is empty"),
        ({"inputs": {}}, "no rows to score: inputs is empty"),
    ],
)  # fmt: skip
def test_empty_input_is_a_400_in_every_format(config, body, message):
    assert refused(post(serve(config), body)) == message


def test_an_empty_csv_is_a_400(config):
    assert "cannot parse the CSV body" in refused(post_raw(serve(config), b"", "text/csv"))


def test_several_problems_are_reported_together(config):
    row = {k: v for k, v in with_row(x1="a", group="z").items() if k != "x0"}
    message = refused(post(serve(config), {"dataframe_records": [row]}))
    assert message == (
        "missing column ['x0']; column 'x1', row 0: expected a number, got a string 'a'; "
        "column 'group', row 0: 'z' is not an allowed value (allowed: 'a', 'b')"
    )


@pytest.mark.parametrize("fmt", ["dataframe_split", "dataframe_records", "instances", "inputs"])
def test_every_mlflow_format_gets_the_same_checks(config, fmt):
    client = serve(config)
    assert post(client, in_every_format(as_record(ROW))[fmt]).status == 200
    bad = refused(post(client, in_every_format(with_row(x1="oops"))[fmt]))
    assert bad == "column 'x1', row 0: expected a number, got a string 'oops'"
    partial = {k: v for k, v in as_record(ROW).items() if k != "group"}
    assert refused(post(client, in_every_format(partial)[fmt])) == "missing column ['group']"


def test_csv_gets_the_same_checks(config):
    client = serve(config)
    good = b"x0,x1,x2,x3,group\n0.5,-0.2,0.1,1.0,a\n"
    assert post_raw(client, good, "text/csv").status == 200
    bad = refused(post_raw(client, good.replace(b"-0.2", b"abc"), "text/csv"))
    assert bad == "column 'x1', row 0: expected a number, got a string 'abc'"
    empty_cell = refused(post_raw(client, good.replace(b"-0.2", b""), "text/csv"))
    assert empty_cell.startswith("column 'x1', row 0: NaN is not allowed")


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"{not json", 400, "the body is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "the body is not valid JSON"),
        (b"\xff\xfe\xfd", 400, "the body is not valid JSON"),
        (b'"text"', 400, "must be a JSON object with one of ['dataframe_split', "
                         "'dataframe_records', 'instances', 'inputs']; got a string 'text'"),
        (b'{"rows": []}', 400, "exactly one of"),
        (b'{"dataframe_records": [], "params": {}}', 400, "unexpected top-level key(s) ['params']"),
        (b'{"inputs": [{"x0": 1}, [1, 2]]}', 400, "inputs must be a list of objects, one per row, "
                                                 "keyed by column name (or an object of column -> "
                                                 "list of values); item 1 is a list of 2"),
        (b'{"inputs": [[1, 2]]}', 400, "inputs rows are lists of values, but the models read "
                                       "columns by name: send objects keyed by ['x0', 'x1', "),
        (b'{"inputs": {"x0": 1}}', 400, "inputs['x0'] must be a list of values, one per row"),
        (b'{"inputs": {"x0": [1], "x1": [1, 2]}}', 400, "different lengths [1, 2]"),
        (b'{"dataframe_split": {"columns": ["x0", "x0"], "data": [[1, 2]]}}', 400,
         "dataframe_split.columns names ['x0'] more than once"),
        (b'{"dataframe_split": {"columns": ["x0", "x1"], "data": [[1]]}}', 400,
         "dataframe_split.data[0] has 1 values for 2 columns"),
        (b'{"dataframe_split": {"data": [[1]]}}', 400, "dataframe_split needs 'columns'"),
        (b'{"dataframe_split": {"columns": [1], "data": [[1]]}}', 400,
         "columns must be a list of column names"),
        (b'{"dataframe_split": {"columns": ["x0"], "data": [[1]], "index": [[0]]}}', 400,
         "dataframe_split.index must be a list of row labels"),
    ],
)  # fmt: skip
def test_malformed_bodies_are_a_400_with_a_clear_message(config, content, status, message):
    assert message in refused(post_raw(serve(config), content), status)


def test_a_wrong_content_type_is_a_415(config):
    reply = post_raw(serve(config), b"x0=1", "application/x-www-form-urlencoded")
    assert "unsupported content type 'application/x-www-form-urlencoded'" in refused(reply, 415)


def test_an_unknown_path_or_method_answers_in_mlflow_error_shape(config):
    client = serve(config)
    missing = client.get("/predict")
    assert missing.status == 404 and missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    wrong = client.get("/invocations")
    assert wrong.status == 405 and wrong.json()["error_code"] == "BAD_REQUEST"
    assert wrong.headers["allow"] == "POST"


# --------------------------------------------------------------------------- the contract


class Recording(Constant):
    """Records the columns it was fitted on (like scikit-learn) and the frames it is given."""

    def __init__(self, probability: float, features: list[str]) -> None:
        super().__init__(probability)
        import numpy as np

        self.feature_names_in_ = np.array(features, dtype=object)
        self.seen: list[list[str]] = []

    def predict_proba(self, frame):
        self.seen.append(list(frame.columns))
        return super().predict_proba(frame)


def test_extra_columns_are_ignored_each_model_gets_its_own_columns_and_the_log_names_them(config):
    production = Recording(PROD, ["group", "x0", "x1", "x2", "x3"])
    client = serve(config, production=production)
    row = {"user_id": "u-1", **as_record(ROW), "label": 1}
    reply = post(client, {"dataframe_records": [row]})
    assert reply.status == 200 and reply.json()["predictions"] == [PROD]
    assert production.seen == [["group", "x0", "x1", "x2", "x3"]]  # its columns, its order
    assert request_log(config)[-1]["ignored_columns"] == ["user_id", "label"]


def test_the_models_own_columns_decide_which_are_required(config):
    # Production was fitted without x3: a request without it is valid for production alone ...
    production = Recording(PROD, ["x0", "x1", "x2", "group"])
    client = serve(config, production=production)
    row = {k: v for k, v in as_record(ROW).items() if k != "x3"}
    assert post(client, {"dataframe_records": [row]}).status == 200
    # ... and the schema still types the columns it declares.
    assert "expected a number" in refused(post(client, {"dataframe_records": [{**row, "x0": "a"}]}))


def test_during_a_rollout_a_request_must_fit_both_arms_whichever_arm_it_is_routed_to(config):
    set_state(config, "canary", 0.0)  # no traffic to the candidate yet, but it is loaded
    candidate = Recording(CAND, [*COLUMNS, "x4"])  # the candidate reads a new column
    client = serve(config, production=Recording(PROD, COLUMNS), candidate=candidate)
    client.get("/health")
    assert client.app.state.router.ensure_candidate("2") is not None
    message = refused(post(client, {"dataframe_records": [as_record(ROW)]}))
    assert message == "missing column ['x4']"
    reply = post(client, {"dataframe_records": [{**as_record(ROW), "x4": 0.0}]})
    assert reply.status == 200 and reply.json()["predictions"] == [PROD]


def test_the_bundled_examples_schema_gives_types_nullability_and_categories():
    from pathlib import Path

    from mlci_local.rollout.invocation import declared_inputs

    root = Path(__file__).resolve().parents[2]
    declared = declared_inputs(load_config(root / "pyproject.toml"))
    columns = declared.columns
    assert "converted" not in columns  # the target is never an input
    assert (columns["age"].kind, columns["income"].kind, columns["channel"].kind) == (
        "integer", "number", "string",
    )  # fmt: skip
    assert columns["channel"].allowed == {"email", "social", "search", "display", "referral"}
    assert not columns["age"].nullable and columns["age"].allowed is None  # no range checks
    assert columns["post_conversion_survey"].required is False


def test_a_schema_that_cannot_be_loaded_stops_serving_with_the_key_named(tiny_dir):
    text = (tiny_dir.root / "pyproject.toml").read_text()
    (tiny_dir.root / "pyproject.toml").write_text(text.replace("tiny_schema:", "no_such_mod:"))
    config = load_config(tiny_dir.root / "pyproject.toml")
    with pytest.raises(ConfigError, match=r"datasets\.eval\.schema.*cannot import 'no_such_mod'"):
        build_app(config, production_model=Constant(PROD))


# --------------------------------------------------------------------------- the canary judge


def test_client_mistakes_are_never_the_candidates_errors_but_a_model_failure_is(config):
    from mlci_local.rollout.live import LogSource
    from mlci_local.rollout.state import rollout_dir

    set_state(config, "canary", 1.0)  # every request is routed to the candidate
    source = LogSource(rollout_dir(config))
    client = serve(config, candidate=FailsOnNegativeX0(CAND))
    mistakes = [
        {"dataframe_records": []},
        {"dataframe_records": [with_row(x0="a")]},
        {"dataframe_records": [with_row(group="c")]},
        {"instances": [{"x0": 1}]},
    ]
    for body in mistakes:
        assert post(client, body).status == 400
    assert post_raw(client, b"{").status == 400
    assert post(client, {"dataframe_records": [as_record(ROW)]}).status == 200
    failure = post(client, {"dataframe_records": [with_row(x0=-1.0)]})
    assert failure.status == 500 and failure.json()["error_code"] == "INTERNAL_ERROR"
    control, canary = source.poll()
    assert (canary.requests, canary.errors) == (2, 1)  # the valid one and the model failure
    assert (control.requests, control.errors) == (0, 0)
    logged = request_log(config)
    assert [line["arm"] for line in logged if line["status"] == 400] == [None] * 5
    assert {line["arm"] for line in logged if line["status"] != 400} == {CANDIDATE}


# --------------------------------------------------------------------------- scoring is unchanged


def test_a_valid_request_scores_exactly_as_the_model_does_in_every_format(config, model):
    import pandas as pd

    rows = [ROW, [-1.0, 2.0, 0.0, 3, "b"], [0.0, 0.0, 0.0, 0.0, "a"]]
    expected = model.predict_proba(pd.DataFrame(rows, columns=COLUMNS))[:, 1].tolist()
    client = serve(config, production=model)
    records = [as_record(row) for row in rows]
    bodies = [
        {"dataframe_split": {"columns": COLUMNS, "data": rows, "index": [7, 8, 9]}},
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": records},
        {"inputs": {name: [row[i] for row in rows] for i, name in enumerate(COLUMNS)}},
        {"dataframe_records": [{**r, "extra": "ignored"} for r in records]},
        {"dataframe_split": {"columns": COLUMNS[::-1], "data": [row[::-1] for row in rows]}},
    ]
    for body in bodies:
        reply = post(client, body)
        assert reply.status == 200, reply.body
        assert reply.json()["predictions"] == expected  # exactly, not approximately
    csv = "x0,x1,x2,x3,group\n" + "".join(",".join(map(str, row)) + "\n" for row in rows)
    assert post_raw(client, csv.encode(), "text/csv").json()["predictions"] == expected


# --------------------------------------------------------------------------- the body limit


def small_limit(config, megabytes: float = 0.01):
    return replace(config, serve=ServeSettings(max_body_mb=megabytes))


async def chunked(app: Any, chunks: list[bytes], headers: dict[str, str]) -> tuple[Reply, int]:
    """Send ``chunks`` as a streamed body; the reply and how many chunks the app asked for."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/invocations", "raw_path": b"/invocations",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 5000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    asked = 0
    done = asyncio.Event()
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if asked < len(chunks):
            asked += 1
            return {"type": "http.request", "body": chunks[asked - 1],
                    "more_body": asked < len(chunks)}  # fmt: skip
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
    return Reply(start["status"], {}, body), asked


def body_of_size(size: int) -> bytes:
    """A valid request of exactly ``size`` bytes (padding spaces after the JSON)."""
    body = json.dumps({"dataframe_records": [as_record(ROW)] * max(1, size // 120)}).encode()
    while len(body) > size:
        body = json.dumps({"dataframe_records": json.loads(body)["dataframe_records"][:-1]})
        body = body.encode()
    return body + b" " * (size - len(body))


def test_a_content_length_over_the_limit_is_a_413_before_the_body_is_read(config):
    app = serve(small_limit(config)).app
    limit = small_limit(config).serve.max_body_bytes
    reply, asked = asyncio.run(
        chunked(
            app, [b"{}"], {"content-type": "application/json", "content-length": str(limit + 1)}
        )
    )
    assert reply.status == 413 and asked == 0  # refused on the header alone
    message = reply.json()["message"]
    assert f"the body is {limit + 1:,} bytes, more than the limit of 0.01 MB" in message
    assert "[tool.mlci.serve] max_body_mb" in message
    assert request_log(config)[-1]["arm"] is None


def test_a_chunked_body_over_the_limit_is_a_413_and_reading_stops_at_the_limit(config):
    app = serve(small_limit(config)).app
    limit = small_limit(config).serve.max_body_bytes
    chunks = [b" " * 1024] * 100  # 100 KiB streamed without a Content-Length
    reply, asked = asyncio.run(chunked(app, chunks, {"content-type": "application/json"}))
    assert reply.status == 413
    assert "the body is larger than the limit of 0.01 MB" in reply.json()["message"]
    assert asked == limit // 1024 + 1  # the chunk that crossed the limit, and not one more


def test_a_body_just_under_the_limit_is_accepted_streamed_or_not(config):
    client = serve(small_limit(config))
    limit = small_limit(config).serve.max_body_bytes
    body = body_of_size(limit)
    assert len(body) == limit
    assert post_raw(client, body).status == 200
    pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    reply, _ = asyncio.run(chunked(client.app, pieces, {"content-type": "application/json"}))
    assert reply.status == 200 and len(reply.json()["predictions"]) > 1
    assert refused(post_raw(client, body + b" "), 413)


def test_a_client_that_disconnects_mid_body_is_its_own_mistake_not_a_router_error(config):
    app = serve(config).app
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/invocations",
             "raw_path": b"/invocations", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json")]}  # fmt: skip
    messages = iter([{"type": "http.request", "body": b'{"dataframe_re', "more_body": True},
                     {"type": "http.disconnect"}])  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    logged = request_log(config)[-1]
    assert logged["arm"] is None and "disconnected before sending the whole body" in logged["error"]


def test_feedback_has_the_same_limit(config):
    client = serve(small_limit(config))
    items = [{"request_id": f"r{n}", "label": 1} for n in range(1000)]
    assert client.post("/feedback", items).status == 413


def test_the_limit_holds_over_real_http_and_the_server_stays_healthy(config):
    import http.client
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = serve(small_limit(config, 0.05)).app
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    big = b" " * (2 * 2**20)  # 2 MiB against a 0.05 MB limit

    def exchange(body: Any, **options: Any) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("POST", "/invocations", body,
                               {"Content-Type": "application/json"}, **options)  # fmt: skip
            reply = connection.getresponse()
            return reply.status, reply.read()
        finally:
            connection.close()

    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert exchange(big)[0] == 413
        stream = (big[i : i + 65536] for i in range(0, len(big), 65536))
        status, text = exchange(stream, encode_chunked=True)
        assert status == 413 and b"larger than the limit" in text
        ok = json.dumps({"dataframe_records": [as_record(ROW)]}).encode()
        assert exchange(ok)[0] == 200
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/health")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "must be above 0 and at most 1024 (MB), got 0"),
     ("2048", "must be above 0 and at most 1024 (MB), got 2048"),
     ('"5MB"', "must be a number")],
)  # fmt: skip
def test_a_bad_body_limit_names_the_key(tiny_dir, value, message):
    tiny_dir.extra += f"[tool.mlci.serve]\nmax_body_mb = {value}\n"
    tiny_dir.write_config()
    with pytest.raises(ConfigError, match=r"tool\.mlci\.serve\.max_body_mb") as raised:
        load_config(tiny_dir.root / "pyproject.toml")
    assert message in str(raised.value)


def test_the_body_limit_defaults_to_5_mb_and_is_configurable(tiny_dir):
    assert load_config(tiny_dir.root / "pyproject.toml").serve.max_body_bytes == 5 * 2**20
    tiny_dir.extra += "[tool.mlci.serve]\nmax_body_mb = 0.5\n"
    tiny_dir.write_config()
    assert load_config(tiny_dir.root / "pyproject.toml").serve.max_body_bytes == 2**19


# --------------------------------------------------------------------------- fuzzing


NAMES = st.sampled_from([*COLUMNS, "x4", "label", "", "é", "x0 "])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["a", "b", "c", "1.5", "NaN"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
VALID = st.fixed_dictionaries(
    {name: st.floats(-1e6, 1e6) | st.integers(-(10**6), 10**6) for name in COLUMNS[:4]}
    | {"group": st.sampled_from(["a", "b"])}
)


@st.composite
def rows(draw: Any) -> dict[str, Any]:
    """A valid row, one with a column spoilt or dropped or added, or any object at all."""
    how = draw(st.sampled_from(["valid", "spoilt", "dropped", "extra", "random"]))
    if how == "random":
        return draw(st.dictionaries(NAMES, VALUES, max_size=7))
    row = draw(VALID)
    if how == "spoilt":
        row[draw(st.sampled_from(COLUMNS))] = draw(VALUES)
    elif how == "dropped":
        del row[draw(st.sampled_from(COLUMNS))]
    elif how == "extra":
        row[draw(st.text(max_size=5))] = draw(VALUES)
    return row


@st.composite
def bodies(draw: Any) -> tuple[bytes, str]:
    """Request bodies from valid to nonsense, in every format and some non-formats."""
    kind = draw(st.sampled_from(["split", "records", "instances", "inputs", "junk", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64)), draw(st.sampled_from(["application/json", "text/csv"]))
    sent = draw(st.lists(rows(), max_size=4))
    if kind == "records" or kind == "instances":
        payload: Any = {"dataframe_records" if kind == "records" else kind: sent}
    elif kind == "inputs":
        names = list(dict.fromkeys(name for row in sent for name in row))
        payload = {"inputs": {name: [row.get(name) for row in sent] for name in names}}
    elif kind == "split":
        names = draw(st.permutations(COLUMNS) | st.lists(NAMES, max_size=7))
        data = [[row.get(name) for name in names] for row in sent]
        payload = {"dataframe_split": {"columns": names, "data": data}}
    else:
        payload = draw(st.one_of(VALUES, st.dictionaries(
            st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs", "x"]),
            VALUES, max_size=2)))  # fmt: skip
    return json.dumps(payload, allow_nan=True).encode(), "application/json"


def test_fuzzed_requests_never_get_a_500_and_the_server_stays_healthy(config, model):
    set_state(config, "canary", 0.5)  # both arms: the real scikit-learn model behind each
    client = serve(config, production=model, candidate=model)
    statuses: list[int] = []

    # MLCI_FUZZ_EXAMPLES=3000 for a longer hunt (3,000 drew no 500 when this was written).
    @settings(max_examples=int(os.environ.get("MLCI_FUZZ_EXAMPLES", "200")), deadline=None,
              database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(bodies())
    def never_a_500(sent: tuple[bytes, str]) -> None:
        content, content_type = sent
        reply = post_raw(client, content, content_type)
        statuses.append(reply.status)
        body = reply.json()  # always JSON
        if reply.status == 200:
            assert all(isinstance(p, float) and math.isfinite(p) for p in body["predictions"])
        else:
            assert reply.status in (400, 413, 415), (reply.status, body, content[:300])
            assert body["error_code"] == "BAD_REQUEST" and body["message"]

    never_a_500()
    assert 200 in statuses and 400 in statuses  # the fuzzing reached both outcomes
    health = client.get("/health")
    assert health.status == 200 and health.json()["status"] == "ok"
    logged = request_log(config)
    assert all(line["arm"] is None for line in logged if line["status"] != 200)
    assert {line["arm"] for line in logged if line["status"] == 200} <= {PRODUCTION, CANDIDATE}
    assert post(client, {"dataframe_records": [as_record(ROW)]}).status == 200
