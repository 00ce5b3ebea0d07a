"""The local serving router behind ``mlci serve``: production, a candidate, and a traffic split.

Why a router of our own rather than ``mlflow models serve``: MLflow's server serves one model;
a canary needs two behind a split that the controller moves while requests keep flowing, a
sticky assignment so one user sees one model, a shadow mode, and a log of every request's arm,
version and latency for the judge. The request and response bodies stay MLflow's
(``/invocations`` with ``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``,
``{"predictions": ...}``) so a client written against ``mlflow models serve`` works unchanged.
Requests are checked before any model sees them (:mod:`mlci_local.rollout.invocation`): a
client's mistake is a 400/413/415 naming the column and the problem, logged with no arm.

How the pieces fit:

* The split comes from the rollout state file (:mod:`mlci_local.rollout.state`). Each request
  costs one ``os.stat`` of it; the file is re-read only when its identity (inode, mtime, size)
  changes, so the controller's weight changes apply on the next request, without a restart.
* The aliases decide, the file only refines: a state is obeyed only while it names the
  production the router last read from the ``production`` alias (version and move tag) and a
  candidate that is not production. A stale one is refused: production serves everything,
  and /health (``rollout_refused``), the request log and a warning on stderr say why. The
  alias is re-read whenever the file changes and at least every ``PRODUCTION_CHECK_SECONDS``.
* Routing is sticky: a hash of the request key (``X-Request-Key``, else the request id) gives
  a number in [0, 1); below the weight means the candidate. Raising the weight only moves keys
  from production to the candidate, never back.
* A model that answers in less than ``INLINE_BUDGET_MS`` runs on the event loop; a slower one
  (or one not yet timed) in a worker thread. Typical scikit-learn models hold the GIL for their
  1-3 ms, so a thread buys no parallelism, only GIL hand-overs between the loop and the worker
  that multiplied p99 latency by four in ``benchmarks/bench_router.py``; a slow model in a
  thread keeps the loop free for /health and the other arm.
* Shadow scoring happens after the answer is sent, in batches: a model's per-call overhead
  dominates small requests (2.1 ms for 1 row, 2.2 ms for 50 here), so batching lets the
  candidate see all traffic without doubling the server's work. A full shadow queue skips a
  copy and logs that it did, rather than slowing production.
* A request takes a reference to its arm's model when it is routed. A rollback (weight 0)
  changes what later requests get; a request already in flight finishes on the model it
  started with, so none is dropped.
* Blue-green (``mode = "blue-green"``): at weight 0 the candidate answers only preview
  requests (``X-Mlci-Arm: candidate``, the controller's smoke test and warm-up); at weight 1
  it answers everyone while production stays loaded, and a request it fails is answered by
  production instead (logged as the candidate's error, so the judge still sees it).
* Models come from the registry through ``artifact_check.load_verified`` (the store checked
  against the sha256 manifest on every load, the checked bytes loaded; skops trusted types,
  pickle only if allowed), in worker threads so a load never blocks the event loop. Tests
  and benchmarks inject models instead.
* Every request appends one JSON line to ``.mlci/rollout/requests.jsonl`` (request id, time,
  arm, version, model latency, error, predictions, and the shadow arm's answer in shadow mode);
  ``/feedback`` appends delayed labels to ``feedback.jsonl``, joined by request id later.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlci_local.rollout.invocation import (
    BadRequest,
    Declared,
    InputContract,
    build_contract,
    declared_inputs,
    model_features,
    read_body,
)
from mlci_local.rollout.state import (
    TAG_PRODUCTION_MOVE,
    RolloutState,
    parse_state,
    rollout_dir,
    stale_reason,
    state_path,
)
from pytest_mlci.errors import DataError
from pytest_mlci.redact import redact_text, redact_uri

PRODUCTION, CANDIDATE = "production", "candidate"
#: ``X-Mlci-Arm: candidate`` sends a request to a blue-green candidate before the switch (its
#: smoke test and warm-up); logged as a preview, never counted as traffic; ignored otherwise.
PREVIEW_HEADER = "x-mlci-arm"
REQUEST_LOG, FEEDBACK_LOG = "requests.jsonl", "feedback.jsonl"
INJECTED = "injected"  # the version label of a model passed to build_app instead of loaded
MAX_LOGGED_PREDICTIONS = 100  # a request log line stays small even for a large batch
RETRY_SECONDS = 5.0  # a version that failed to load is not retried more often than this
PRODUCTION_CHECK_SECONDS = 30.0  # the production alias is re-read at least this often
MAX_REQUEST_ID = 128
INLINE_BUDGET_MS = 4.0  # below Python's 5 ms GIL switch interval: a thread only adds hand-overs
INLINE_MAX_ROWS = 64  # larger batches always go to a worker thread
INLINE_WALL_LIMIT_MS = 20.0  # a model that waits this long goes to a thread however cheap
SHADOW_WINDOW_SECONDS = 0.25  # gather copies this long: few, large batches pause the loop rarely
SHADOW_MAX_ROWS = 512
SHADOW_QUEUE = 10_000  # copies waiting for the shadow; beyond this they are skipped and logged
LOG = logging.getLogger("mlci.router")


# --------------------------------------------------------------------------- routing


def bucket(key: str) -> float:
    """A request key's stable position in [0, 1): the same key always lands in the same place.

    A cryptographic digest rather than ``hash()``, which Python salts per process and would
    reassign every user whenever the server restarts. The formula is the one offline replay
    (:mod:`mlci_local.rollout.replay`) uses, so a replayed canary splits traffic exactly as the
    live router would.
    """
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) / float(16**12)


def choose_arm(state: RolloutState, key: str) -> str:
    """``candidate`` or ``production`` for ``key`` under ``state`` (shadow answers production).

    Raising the weight only moves keys from production to the candidate, never back, so a user
    who saw the candidate at 5 % keeps seeing it at 25 %.
    """
    share = state.candidate_share
    if share <= 0.0:
        return PRODUCTION
    if share >= 1.0:
        return CANDIDATE
    return CANDIDATE if bucket(key) < share else PRODUCTION


# --------------------------------------------------------------------------- request bodies


def predict_output(model: Any, frame: Any, task: str) -> tuple[list[Any], list[Any] | None]:
    """What ``/invocations`` returns per row, and the predicted labels when they differ.

    A binary classifier with ``predict_proba`` answers the positive-class probability; its
    labels (``classes_[argmax]``, what ``predict`` returns, without a second model call) go to
    the request log so delayed labels can be scored. Anything else answers ``predict``.
    """
    import numpy as np

    from pytest_mlci.model_adapters import predict_scores

    proba = predict_scores(model, frame) if task == "binary_classification" else None
    if proba is not None and proba.ndim == 2 and proba.shape[1] == 2:
        classes = getattr(model, "classes_", None)
        labels = None
        if classes is not None and len(classes) == 2:
            labels = np.asarray(classes)[proba.argmax(axis=1)].tolist()
        return proba[:, 1].tolist(), labels
    return np.asarray(model.predict(frame)).tolist(), None


@dataclass(frozen=True)
class Outcome:
    """One arm's answer to one request: predictions or an error, and the model's time.

    ``latency_ms`` is wall time (what the judge compares); ``cpu_ms`` is the scoring thread's
    CPU time, which waiting for the GIL or a core does not inflate, so the inline decision
    does not flip to threads, and worse contention, just because the server is busy.
    """

    predictions: list[Any] | None
    latency_ms: float
    error: str | None
    labels: list[Any] | None = None
    cpu_ms: float = 0.0


_THREAD = threading.local()


def one_openmp_thread() -> None:
    """Score with one OpenMP thread in this thread (set once per thread).

    Models such as HistGradientBoosting parallelise even a one-row ``predict`` over every
    core; with concurrent requests those threads fight each other and the server: a one-row
    ``predict_proba`` of the bundled example took 20-60 ms on a busy 2-core machine against
    4.5 ms single-threaded. A server gets its parallelism from concurrent requests instead
    (the usual ``OMP_NUM_THREADS=1`` advice for model servers).
    """
    if getattr(_THREAD, "limited", False):
        return
    _THREAD.limited = True
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1, user_api="openmp")
    except Exception:  # threadpoolctl missing or unable: score as before
        pass


def score(model: Any, frame: Any, task: str) -> Outcome:
    """Run the model (in a worker thread); an exception becomes an error, never a crash."""
    one_openmp_thread()
    started, started_cpu = time.perf_counter(), time.thread_time()
    predictions: list[Any] | None = None
    labels: list[Any] | None = None
    error: str | None = None
    try:
        predictions, labels = predict_output(model, frame, task)
        if len(predictions) != len(frame):
            raise ValueError(f"model returned {len(predictions)} predictions for {len(frame)} rows")
        if any(isinstance(p, float) and not math.isfinite(p) for p in predictions):
            raise ValueError("model returned NaN or infinite predictions")
    except Exception as exc:
        predictions, labels, error = None, None, _describe(exc)
    wall = round(1000 * (time.perf_counter() - started), 4)
    return Outcome(predictions, wall, error, labels, 1000 * (time.thread_time() - started_cpu))


# --------------------------------------------------------------------------- logs and state


class JsonlWriter:
    """Appends JSON lines safely under concurrency.

    One ``os.write`` of a whole line to a file opened with ``O_APPEND`` keeps lines whole even
    across processes (several uvicorn workers); the lock orders writers within one process.
    The file is opened per line so log rotation by renaming just works.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        """One line."""
        self.append_many([record])

    def append_many(self, records: list[dict[str, Any]]) -> None:
        """Several lines in one write (a shadow batch's)."""
        line = "".join(
            json.dumps(record, separators=(",", ":"), default=str) + "\n" for record in records
        ).encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)


class StateWatcher:
    """The rollout state, re-read only when the file's identity changes (one stat a call)."""

    def __init__(self, config: Any) -> None:
        self.model = config.model
        self.path = state_path(config)
        self.state = RolloutState(model=self.model)
        self.error: str | None = None
        self._identity: object = object()  # a sentinel no stat result equals

    def poll(self) -> bool:
        """Re-read the state if the file changed; True when it did."""
        try:
            stat = os.stat(self.path)
            identity: tuple[int, int, int] | None = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            identity = None
        if identity == self._identity:
            return False
        self._identity = identity
        if identity is None:
            self.state, self.error = RolloutState(model=self.model), None
            return True
        try:
            text = self.path.read_text(encoding="utf-8")
            self.state, self.error = parse_state(text, model=self.model, source=self.path), None
        except (OSError, DataError) as exc:
            # Fail closed: an unreadable state sends everything to production, the arm that
            # is known to be good, and /health says why.
            self.state, self.error = RolloutState(model=self.model), str(exc)
        return True


class Cost:
    """What a model call costs, as moving averages of CPU time and wall time.

    It decides whether a call runs on the event loop or in a thread. CPU time says whether
    the model is cheap however busy the server is (wall time under load would push a cheap
    model into a thread, where GIL hand-overs make the load worse); wall time catches a model
    that waits (on I/O, a lock) and must not hold up the loop. A racy update is harmless.
    """

    __slots__ = ("cpu_ms", "wall_ms")

    def __init__(self) -> None:
        self.cpu_ms: float | None = None
        self.wall_ms: float | None = None

    def observe(self, outcome: Outcome) -> None:
        cpu, wall = self.cpu_ms, self.wall_ms
        self.cpu_ms = outcome.cpu_ms if cpu is None else 0.9 * cpu + 0.1 * outcome.cpu_ms
        latency = outcome.latency_ms
        self.wall_ms = latency if wall is None else 0.9 * wall + 0.1 * latency

    @property
    def cheap(self) -> bool:
        """Known (timed at least once) to fit the loop's budget."""
        if self.cpu_ms is None or self.wall_ms is None:
            return False
        return self.cpu_ms < INLINE_BUDGET_MS and self.wall_ms < INLINE_WALL_LIMIT_MS


class Loaded:
    """A model ready to score, the registry version it came from, and what a call costs.

    The version and model never change (a reload makes a new Loaded), so a request holding
    one finishes on the model it started with.
    """

    __slots__ = ("cost", "features", "model", "version")

    def __init__(self, version: str, model: Any) -> None:
        self.version = version
        self.model = model
        self.cost = Cost()  # of small requests (at most INLINE_MAX_ROWS rows)
        self.features = model_features(model)  # the columns it was fitted on, if recorded

    def inputs(self, frame: Any) -> Any:
        """``frame`` cut to the columns this model was fitted on, in its order.

        A request carries the union of both arms' columns; an estimator fitted on a
        DataFrame refuses extra or reordered columns. Only a mismatch costs a copy. A frame
        lacking one of them (possible only in the instant a new candidate's columns reach the
        contract) is passed as it is and the model's error is its own.
        """
        features = self.features
        if features is None and _positional(frame):
            # rows sent as plain lists, for a model fitted on an unnamed array (numpy, sparse)
            return frame.to_numpy()
        if features is None or tuple(frame.columns) == features:
            return frame
        if not set(features) <= set(frame.columns):
            return frame
        return frame[list(features)]

    def observe(self, outcome: Outcome, rows: int) -> None:
        """Fold one request's model time into the cost of small requests."""
        if rows <= INLINE_MAX_ROWS:
            self.cost.observe(outcome)

    def runs_inline(self, rows: int) -> bool:
        """A small request to a model known to be cheap runs on the event loop."""
        return rows <= INLINE_MAX_ROWS and self.cost.cheap


class RegistryLoader:
    """Loads registered versions verified (sha256 manifest) and safely (skops trusted types).

    Called from worker threads only; one lock serialises registry access because loads are
    rare and the MLflow client is not documented as thread-safe.
    """

    def __init__(self, config: Any) -> None:
        self.config = config
        self._client: Any = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        from pytest_mlci import registry_read as rr

        if self._client is None:
            self._client = rr.open_client(self.config.registry_uri)
        return self._client

    def production_version(self) -> str | None:
        """The version behind the ``production`` alias, or None when there is none."""
        return self.production_alias()[0]

    def production_alias(self) -> tuple[str | None, str | None]:
        """(version, move tag) behind the ``production`` alias; (None, None) without one."""
        from pytest_mlci import registry_read as rr

        if not rr.registry_exists(self.config.registry_uri):
            # serving must not create an empty embedded registry as a side effect
            return None, None
        with self._lock:
            found = rr.version_by_alias(self._open(), self.config.model, "production")
        if found is None:
            return None, None
        return found.version, found.tags.get(TAG_PRODUCTION_MOVE)

    def load(self, version: str) -> Loaded:
        """Check ``version``'s files in the store against its manifest (on every load: a
        tampered version is refused, never served) and load the checked bytes with the
        config's policy."""
        from pytest_mlci import registry_read as rr
        from pytest_mlci.artifact_check import load_verified
        from pytest_mlci.errors import RegistryError
        from pytest_mlci.flavours import ModelPolicy

        with self._lock:
            client = self._open()
            try:
                found = rr.RegisteredVersion.from_mlflow(
                    client.get_model_version(self.config.model, version)
                )
            except Exception as exc:
                raise RegistryError(
                    f"cannot read {self.config.model} v{version} from the registry: "
                    + redact_text(str(exc))
                ) from None
            try:
                model = load_verified(
                    found,
                    Path(self.config.state_dir) / "cache" / "models",
                    registry_uri=self.config.registry_uri,
                    state_dir=Path(self.config.state_dir),
                    policy=ModelPolicy.from_config(self.config),
                )
            except DataError as exc:  # a tampered or unloadable version: never served
                LOG.error("%s: refusing to serve v%s: %s", self.config.model, version, exc)
                raise
        return Loaded(found.version, model)


def _positional(frame: Any) -> bool:
    """Whether ``frame``'s columns are the positions 0..n-1 (rows that came as lists)."""
    return list(frame.columns) == list(range(len(frame.columns)))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _describe(exc: BaseException) -> str:
    return redact_text(f"{type(exc).__name__}: {exc}")


class ShadowScorer:
    """Scores the candidate's copies of requests in batches and logs each request's line
    (production's answer with the shadow's) once its batch is scored.

    Copies gather for ``SHADOW_WINDOW_SECONDS``; the batch then runs on the event loop when the
    last batches were cheap (one short, predictable pause), else on one worker thread.
    A worker thread scoring a GIL-bound model beside the loop made every syscall of every
    request wait for the GIL: p95 latency rose from 4 to 17 ms at 200 requests/s in
    ``benchmarks/bench_router.py``, where the same batches on the loop cost under a millisecond.
    """

    def __init__(self, router: Router, task: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.router = router
        self.task = task
        self._lock = threading.Lock()
        self._pending: list[tuple[dict[str, Any], Any, str]] = []
        self._pending_rows = 0
        self._timer: Any = None  # the asyncio TimerHandle of the next flush
        self._timer_loop: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlci-shadow")
        self._in_thread: list[Any] = []  # futures of batches scored in the worker thread
        self._waiting = 0  # copies pending or being scored
        self._cost = Cost()  # of a whole shadow batch: the pause it puts on the loop

    def submit(self, record: dict[str, Any], frame: Any, version: str) -> None:
        """Queue a copy for the shadow (on the event loop); when too many wait, log the
        request without it rather than let the shadow fall ever further behind."""
        import asyncio

        with self._lock:
            if self._waiting >= SHADOW_QUEUE:
                full = True
            else:
                full = False
                self._waiting += 1
                self._pending.append((record, frame, version))
                self._pending_rows += len(frame)
        if full:
            record["shadow"] = _shadow_error(version, "skipped: the shadow queue is full")
            self.router.log(record)
            return
        if self._pending_rows >= SHADOW_MAX_ROWS:
            self.flush()
            return
        loop = asyncio.get_running_loop()
        if self._timer is None or self._timer_loop is not loop:
            self._timer_loop = loop
            self._timer = loop.call_later(SHADOW_WINDOW_SECONDS, self.flush)

    def flush(self) -> None:
        """Score what is pending now: cheap groups here, the rest on the worker thread."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._timer_loop = None
            batch, self._pending, self._pending_rows = self._pending, [], 0
        groups: dict[tuple[str, tuple[str, ...]], list[tuple[dict[str, Any], Any]]] = {}
        for record, frame, version in batch:
            key = (version, tuple(map(str, frame.columns)))
            groups.setdefault(key, []).append((record, frame))
        for (version, _), items in groups.items():
            loaded = self.router.ready_candidate(version)
            if loaded is not None and self._cost.cheap:
                self._score_safely(version, items)
            else:
                future = self._executor.submit(self._score_safely, version, items)
                with self._lock:
                    self._in_thread = [f for f in self._in_thread if not f.done()] + [future]

    def drain(self, timeout: float = 10.0) -> bool:
        """Score and log everything submitted so far; False if that took over ``timeout``."""
        from concurrent.futures import wait

        self.flush()
        with self._lock:
            futures = list(self._in_thread)
        wait(futures, timeout=timeout)
        return self._waiting == 0

    def close(self, timeout: float = 10.0) -> None:
        """Score what is queued, then stop the worker (server shutdown)."""
        self.drain(timeout)
        self._executor.shutdown(wait=False)

    def _score_safely(self, version: str, items: list[tuple[dict[str, Any], Any]]) -> None:
        try:
            self._score(version, items)
        except Exception as exc:  # never lose the lines, whatever went wrong
            for record, _ in items:
                if "shadow" not in record:
                    record["shadow"] = _shadow_error(version, _describe(exc))
                    self.router.log(record)
        finally:
            with self._lock:
                self._waiting -= len(items)

    def _score(self, version: str, items: list[tuple[dict[str, Any], Any]]) -> None:
        """Score one group (same version and columns) with one model call."""
        import pandas as pd

        loaded = self.router.ensure_candidate(version)
        if loaded is None:
            reason = f"candidate unavailable: {self.router.candidate_error}"
            for record, _ in items:
                record["shadow"] = _shadow_error(version, reason)
                self.router.log(record)
            return
        frames = [frame for _, frame in items]
        joined = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        outcome = score(loaded.model, loaded.inputs(joined), self.task)
        self._cost.observe(outcome)
        if outcome.error is not None and len(items) > 1:
            # One bad request must not blame the others: score them one by one.
            outcomes = [score(loaded.model, loaded.inputs(frame), self.task) for frame in frames]
        else:
            outcomes = _split(outcome, [len(frame) for frame in frames])
        for (record, _), part in zip(items, outcomes, strict=True):
            record["shadow"] = {"version": loaded.version, **_summary(part),
                                "batch_rows": len(joined)}  # fmt: skip
        self.router.requests.append_many([record for record, _ in items])


def _split(outcome: Outcome, sizes: list[int]) -> list[Outcome]:
    """One batch's outcome cut back into per-request outcomes (the batch's model time each)."""
    parts, start = [], 0
    for size in sizes:
        end = start + size
        predictions = None if outcome.predictions is None else outcome.predictions[start:end]
        labels = None if outcome.labels is None else outcome.labels[start:end]
        parts.append(Outcome(predictions, outcome.latency_ms, outcome.error, labels))
        start = end
    return parts


def _shadow_error(version: str, message: str) -> dict[str, Any]:
    return {"version": version, "latency_ms": None, "error": message, "predictions": None}


# --------------------------------------------------------------------------- the router


class Router:
    """The serving state shared by all requests: the two arms, the rollout state, the logs.

    Everything a request reads is replaced whole (never mutated), so a request that took a
    reference keeps a consistent model even while the controller moves traffic.
    """

    def __init__(
        self,
        config: Any,
        *,
        production_model: Any = None,
        candidate_model: Any = None,
        loader: Callable[[], RegistryLoader] | None = None,
    ) -> None:
        self.config = config
        self.watcher = StateWatcher(config)
        self.requests = JsonlWriter(rollout_dir(config) / REQUEST_LOG)
        self.feedback = JsonlWriter(rollout_dir(config) / FEEDBACK_LOG)
        self.metrics: Any = None  # RouterMetrics when [serve] metrics is on (build_app)
        self._make_loader = loader or (lambda: RegistryLoader(config))
        self._loader: RegistryLoader | None = None
        self._loader_lock = threading.Lock()
        self._injected_production = production_model is not None
        self._injected_candidate = candidate_model
        self.production: Loaded | None = (
            Loaded(INJECTED, production_model) if production_model is not None else None
        )
        self.production_error: str | None = None
        self.candidate: Loaded | None = None
        self.candidate_error: str | None = None
        self._production_lock = threading.Lock()
        self._candidate_lock = threading.Lock()
        self._production_checked = 0.0
        self._production_failed_at = -RETRY_SECONDS
        self._candidate_failed: tuple[str, float] | None = None
        self._refresh_lock = threading.Lock()
        # The production alias as last read (version, move tag); None until the first read.
        self.alias: tuple[str | None, str | None] | None = None
        self.refused: str | None = None  # why the rollout state is not obeyed, if it is not
        # The rollout state whose named production was last synchronised (see catch_up).
        self._caught_up_with: RolloutState | None = None
        self.shadows: ShadowScorer | None = None  # set by build_app
        # What requests are checked against: the schema's columns (read once, here, so a
        # schema that cannot be loaded stops `mlci serve` with the key named) and the loaded
        # models' own columns; the contract is rebuilt only when a loaded model changes.
        self.declared: Declared | None = declared_inputs(config)
        self._contract: tuple[Loaded | None, Loaded | None, InputContract] | None = None
        self._refreshing = False
        self._refresh_wanted = False

    # ------------------------------------------------------------------ loading (worker threads)

    def _registry(self) -> RegistryLoader:
        with self._loader_lock:
            if self._loader is None:
                self._loader = self._make_loader()
            return self._loader

    def ensure_production(self, *, force: bool = False) -> Loaded | None:
        """Load (or re-resolve) production; errors are kept for /health, never raised.

        ``force`` re-reads the alias even when a model is loaded (after a state change or
        every PRODUCTION_CHECK_SECONDS), so a promotion reaches the router without a restart.
        """
        if self._injected_production:
            return self.production
        with self._production_lock:
            now = time.monotonic()
            if self.production is not None and not force:
                return self.production
            if self.production is None and now - self._production_failed_at < RETRY_SECONDS:
                return None
            self._production_checked = now
            try:
                registry = self._registry()
                self.alias = registry.production_alias()
                version = self.alias[0]
                if version is None:
                    raise DataError(
                        f"{self.config.model} has no 'production' alias in "
                        f"{redact_uri(self.config.registry_uri)}; promote a version first"
                    )
                if self.production is None or self.production.version != version:
                    self.production = registry.load(version)
                self.production_error = None
            except Exception as exc:
                self.production_error = _describe(exc)
                if self.production is None:
                    self._production_failed_at = now
            return self.production

    def ensure_candidate(self, version: str) -> Loaded | None:
        """The candidate model for ``version``, loading it if needed; None if it cannot load.

        Requests for the candidate that arrive during a load wait on the lock in their worker
        thread and then share the loaded model.
        """
        if self._injected_candidate is not None:
            loaded = self.candidate
            if loaded is None or loaded.version != version:
                loaded = self.candidate = Loaded(version, self._injected_candidate)
            return loaded
        with self._candidate_lock:
            loaded = self.candidate
            if loaded is not None and loaded.version == version:
                return loaded
            failed = self._candidate_failed
            if failed and failed[0] == version and time.monotonic() - failed[1] < RETRY_SECONDS:
                return None
            try:
                self.candidate = self._registry().load(version)
                self.candidate_error, self._candidate_failed = None, None
                return self.candidate
            except Exception as exc:
                self.candidate_error = f"v{version}: {_describe(exc)}"
                self._candidate_failed = (version, time.monotonic())
                return None

    def ready_candidate(self, version: str | None) -> Loaded | None:
        """The loaded candidate if it is ``version`` (no waiting, no loading)."""
        loaded = self.candidate
        if version is not None and loaded is not None and loaded.version == version:
            return loaded
        return None

    def contract(self) -> InputContract:
        """What a request must carry for production and, during a rollout, the candidate.

        Both arms, whichever one a request is routed to: whether a request is valid must not
        depend on the traffic split. Two identity checks per request; rebuilt on a change.
        """
        production = self.production
        state = self.watcher.state
        candidate = self.ready_candidate(state.candidate_version) if state.mode != "none" else None
        cached = self._contract
        if cached is not None and cached[0] is production and cached[1] is candidate:
            return cached[2]
        loaded = [arm for arm in (production, candidate) if arm is not None]
        contract = build_contract(
            self.declared,
            [arm.features for arm in loaded],
            widths=[getattr(arm.model, "n_features_in_", None) for arm in loaded],
        )
        self._contract = (production, candidate, contract)
        return contract

    # ------------------------------------------------------------------ state (event loop)

    def refresh(self) -> RolloutState:
        """The current rollout state; on a change, reload what it names in the background."""
        changed = self.watcher.poll()
        due = (
            not self._injected_production
            and time.monotonic() - self._production_checked >= PRODUCTION_CHECK_SECONDS
        )
        if changed or due:
            self._kick()
        return self.obeyed()

    def production_behind(self) -> bool:
        """Whether a freshly written rollout state names a production other than the loaded one.

        Promote and rollback rewrite the state with the production they moved to. The
        background refresh would load it, but the requests that arrive meanwhile would still
        get the version moved away from: after a rollback, exactly the answers the rollback
        was for. So the next request waits for :meth:`catch_up` instead. Once per state
        written, so a stale state (one naming a production the alias no longer has) costs
        one registry read, not one per request.
        """
        if self._injected_production or self.production is None:
            return False
        state = self.watcher.state
        named = state.production_version
        return (
            named is not None
            and named != self.production.version
            and state is not self._caught_up_with
        )

    def catch_up(self) -> RolloutState:
        """Re-read the production alias and load what it names now (a worker thread)."""
        self._caught_up_with = self.watcher.state
        self.ensure_production(force=True)
        return self.obeyed()

    def obeyed(self) -> RolloutState:
        """The rollout state if it applies to production as the alias says, else production only.

        Injected models (tests, benchmarks) have no alias to check against. Until the alias is
        read, or when it cannot be, a state that sends traffic anywhere but production is not
        obeyed: failing closed sends users to the arm the aliases vouch for.
        """
        state = self.watcher.state
        if self._injected_production or state.mode == "none":
            reason = None
        elif self.alias is None:
            reason = f"the production alias is not read yet ({state.describe()})"
        else:
            reason = stale_reason(state, *self.alias)
        if reason != self.refused:
            if reason:
                LOG.warning("%s: rollout state refused, production serves all traffic: %s",
                            self.config.model, reason)  # fmt: skip
            elif self.refused:
                LOG.warning("%s: rollout state accepted again: %s", self.config.model,
                            state.describe())  # fmt: skip
            self.refused = reason
        return RolloutState(model=self.config.model) if reason else state

    def start(self) -> RolloutState:
        """Read the state and load both arms now, before the first request (serve start-up)."""
        self.watcher.poll()
        self.ensure_production()
        state = self.obeyed()
        if state.mode != "none" and state.candidate_version:
            self.ensure_candidate(state.candidate_version)
        return state

    def _kick(self) -> None:
        """Ask the refresher thread for another pass, starting it if none is running.

        A change that lands while a pass is running is never lost: the flag makes the thread
        go round once more with the newest state.
        """
        with self._refresh_lock:
            self._refresh_wanted = True
            if self._refreshing:
                return
            self._refreshing = True
        threading.Thread(
            target=self._background_refresh, name="mlci-router-refresh", daemon=True
        ).start()

    def _background_refresh(self) -> None:
        """Re-resolve production and preload the candidate off the request path."""
        while True:
            with self._refresh_lock:
                if not self._refresh_wanted:
                    self._refreshing = False
                    return
                self._refresh_wanted = False
            try:
                if not self._injected_production:
                    self._production_checked = time.monotonic()
                    self.ensure_production(force=True)
                state = self.obeyed()
                if state.mode != "none" and state.candidate_version:
                    self.ensure_candidate(state.candidate_version)
            except Exception as exc:  # ensure_* keep their errors; this is a last resort
                self.production_error = self.production_error or _describe(exc)

    def candidate_loading(self) -> bool:
        """Whether a candidate load is under way (requests wait for it without a thread)."""
        return self._candidate_lock.locked()

    def health(self) -> tuple[int, dict[str, Any]]:
        """The /health status code and body: the routing in force (a refused rollout state
        shows as no rollout, with ``rollout_refused`` saying why)."""
        state = self.obeyed()
        candidate = self.candidate
        production = self.production
        body = {
            "status": "ok" if production is not None else "unavailable",
            "model": self.config.model,
            "production": {
                "version": production.version if production else None,
                "error": self.production_error,
            },
            "candidate": {
                "version": state.candidate_version,
                "loaded": candidate is not None and candidate.version == state.candidate_version,
                "error": self.candidate_error,
            },
            "mode": state.mode,
            "weight": state.weight,
            "step": state.step,
            "state_error": self.watcher.error,
            "rollout_refused": self.refused,
        }
        return (200 if production is not None else 503), body

    def log(self, record: dict[str, Any]) -> None:
        """One line of the request log (and, with ``[serve] metrics``, its counts)."""
        self.requests.append(record)
        if self.metrics is not None:
            self.metrics.observe(record)


def _summary(outcome: Outcome) -> dict[str, Any]:
    """What the request log keeps of one arm's answer."""
    predictions = outcome.predictions
    summary: dict[str, Any] = {
        "latency_ms": outcome.latency_ms,
        "error": outcome.error,
        "predictions": None if predictions is None else predictions[:MAX_LOGGED_PREDICTIONS],
    }
    if outcome.labels is not None:
        summary["labels"] = outcome.labels[:MAX_LOGGED_PREDICTIONS]
    if predictions is not None and len(predictions) > MAX_LOGGED_PREDICTIONS:
        summary["predictions_truncated"] = True
    return summary


def _logged_rows(frame: Any) -> list[dict[str, Any]]:
    """The request's first rows as plain JSON values, for drift monitoring (NaN, inf -> None).

    One ``to_numpy(dtype=object)`` for the whole head: about 50 us a one-row request, where
    pandas' ``to_dict("records")`` took 450 us (measured; benchmarks/bench_router.py).
    """
    import math

    head = frame if len(frame) <= MAX_LOGGED_PREDICTIONS else frame.iloc[:MAX_LOGGED_PREDICTIONS]
    names = [str(column) for column in head.columns]
    rows = []
    for values in head.to_numpy(dtype=object).tolist():
        row = {}
        for name, value in zip(names, values, strict=True):
            if hasattr(value, "item"):
                value = value.item()  # a numpy scalar left in an object column
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            row[name] = value
        rows.append(row)
    return rows


def _request_id(headers: Any) -> str:
    """The caller's ``X-Request-Id`` when usable, else a fresh uuid4."""
    given = headers.get("x-request-id", "").strip()
    if 0 < len(given) <= MAX_REQUEST_ID and given.isprintable():
        return given
    return uuid.uuid4().hex


# --------------------------------------------------------------------------- the app


def build_app(config: Any, *, production_model: Any = None, candidate_model: Any = None) -> Any:
    """The Starlette app serving ``config.model``.

    By default production is loaded from the registry now (a failure leaves /health at 503 and
    is retried) and the candidate when the rollout state names one. ``production_model`` and
    ``candidate_model`` replace the registry for tests and benchmarks; an injected candidate
    stands for whichever version the state names.
    """
    import anyio
    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from mlci_local.dashboard.serve import routes as dashboard_routes

    router = Router(config, production_model=production_model, candidate_model=candidate_model)
    router.shadows = ShadowScorer(router, config.task)
    if config.serve.metrics:
        from mlci_local.rollout.metrics import RouterMetrics

        router.metrics = RouterMetrics(config.task)
    router.start()
    task = config.task
    max_body = config.serve.max_body_bytes
    log_features = config.serve.log_features

    async def invocations(request: Request) -> JSONResponse:
        request_id = _request_id(request.headers)
        try:
            return await route(request, request_id)
        except Exception as exc:
            # Our own bug, not the model's (model errors are caught in score): still a JSON
            # answer and a log line, and the server keeps serving.
            message = f"router error: {_describe(exc)}"
            router.log({"request_id": request_id, "time": _now(), "arm": None, "version": None,
                        "status": 500, "latency_ms": None, "error": message})  # fmt: skip
            return JSONResponse(
                {"error_code": "INTERNAL_ERROR", "message": message, "request_id": request_id},
                status_code=500,
                headers={"X-Request-Id": request_id},
            )

    async def route(request: Request, request_id: str) -> JSONResponse:
        headers = {"X-Request-Id": request_id}
        record: dict[str, Any] = {"request_id": request_id, "time": _now()}
        try:
            body = await read_body(request, max_body)
            parsed = router.contract().parse(body, request.headers.get("content-type"))
        except BadRequest as exc:
            # A client's mistake (malformed, too large, not what the models take) says
            # nothing about either model: no arm, so it never counts against the candidate's
            # error rate, and only a request that passed these checks can be a 500.
            router.log({**record, "arm": None, "version": None, "status": exc.status,
                        "latency_ms": None, "error": f"bad request: {exc}"})  # fmt: skip
            return JSONResponse(
                {"error_code": "BAD_REQUEST", "message": str(exc), "request_id": request_id},
                status_code=exc.status,
                headers=headers,
            )
        frame = parsed.frame
        if parsed.ignored:
            record["ignored_columns"] = list(parsed.ignored)
        state = router.refresh()
        if router.production_behind():
            state = await anyio.to_thread.run_sync(router.catch_up)
        arm = choose_arm(state, request.headers.get("x-request-key") or request_id)
        blue_green = state.mode == "blue-green" and bool(state.candidate_version)
        preview = blue_green and request.headers.get(PREVIEW_HEADER, "") == CANDIDATE
        if preview:  # blue-green's smoke test and warm-up: the loaded candidate, on request
            arm = CANDIDATE
        record.update(arm=arm, step=state.step, mode=state.mode, rows=len(frame))
        if preview:
            record["preview"] = True
        if router.refused:
            record["rollout_refused"] = router.refused
        loaded: Loaded | None = None
        if arm == CANDIDATE and state.candidate_version:
            version = state.candidate_version
            loaded = await candidate_model(version)
            if loaded is None:
                # Users get production's answer; the log says why, and the controller sees
                # no candidate traffic, which never counts as a pass.
                arm = PRODUCTION
                record.update(arm=arm, fallback=f"candidate unavailable: {router.candidate_error}")
        if arm == PRODUCTION:
            loaded = router.production or await anyio.to_thread.run_sync(router.ensure_production)
        if loaded is None:
            message = f"production model unavailable: {router.production_error}"
            # No model answered, so no arm is blamed (the judge compares the arms' answers);
            # "routed" keeps where the request would have gone.
            router.log({**record, "arm": None, "routed": arm, "version": None, "status": 503,
                        "latency_ms": None, "error": message})  # fmt: skip
            return JSONResponse(
                {"error_code": "SERVICE_UNAVAILABLE", "message": message, "request_id": request_id},
                status_code=503,
                headers=headers,
            )
        if loaded.runs_inline(len(frame)):
            outcome = score(loaded.model, loaded.inputs(frame), task)
        else:
            outcome = await anyio.to_thread.run_sync(
                score, loaded.model, loaded.inputs(frame), task
            )
        loaded.observe(outcome, len(frame))
        record.update(version=loaded.version, status=500 if outcome.error else 200)
        record.update(_summary(outcome))
        if outcome.error and blue_green and arm == CANDIDATE and not preview:
            # Blue-green keeps production hot: it answers what the new version failed, so
            # no user sees the failure while the log (and the judge) still counts it.
            kept = router.production or await anyio.to_thread.run_sync(router.ensure_production)
            if kept is not None:
                spare = await anyio.to_thread.run_sync(score, kept.model, kept.inputs(frame), task)
                if spare.error is None:
                    outcome = spare
                    record.update(status=200, answered_by=kept.version)
        if log_features:  # what `mlci monitor` compares with the reference data
            record["features"] = _logged_rows(frame)
        if outcome.error is None:
            response = JSONResponse(
                {"predictions": outcome.predictions, "request_id": request_id}, headers=headers
            )
        else:
            response = JSONResponse(
                {
                    "error_code": "INTERNAL_ERROR",
                    "message": f"the model raised {outcome.error}",
                    "request_id": request_id,
                },
                status_code=500,
                headers=headers,
            )
        if state.mode == "shadow" and state.candidate_version:
            # The shadow scores after the answer is sent and is only ever logged.
            router.shadows.submit(record, frame, state.candidate_version)
        else:
            router.log(record)
        return response

    async def candidate_model(version: str) -> Loaded | None:
        """The candidate for ``version``; while another load runs, wait without holding a
        worker thread, so a slow load cannot starve production requests of threads."""
        loaded = router.ready_candidate(version)
        while loaded is None and router.candidate_loading():
            await anyio.sleep(0.005)
            loaded = router.ready_candidate(version)
        return loaded or await anyio.to_thread.run_sync(router.ensure_candidate, version)

    async def health(request: Request) -> JSONResponse:
        router.refresh()
        if router.production_behind():
            await anyio.to_thread.run_sync(router.catch_up)
        if router.production is None:
            await anyio.to_thread.run_sync(router.ensure_production)
        status, body = router.health()
        return JSONResponse(body, status_code=status)

    async def feedback(request: Request) -> JSONResponse:
        try:
            payload = json.loads(await read_body(request, max_body))
        except BadRequest as exc:
            return JSONResponse(
                {"error_code": "BAD_REQUEST", "message": str(exc)}, status_code=exc.status
            )
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            return JSONResponse(
                {"error_code": "BAD_REQUEST", "message": f"the body is not valid JSON: {exc}"},
                status_code=400,
            )
        items = payload if isinstance(payload, list) else [payload]
        problems = [_feedback_problem(item) for item in items]
        bad = next((p for p in problems if p), None)
        if bad or not items:
            return JSONResponse(
                {"error_code": "BAD_REQUEST", "message": bad or "no feedback given"},
                status_code=400,
            )
        received = _now()
        for item in items:
            router.feedback.append(
                {"request_id": item["request_id"], "label": item["label"], "time": received}
            )
        return JSONResponse({"accepted": len(items)})

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's own 404 and 405 in MLflow's error shape, like every other answer.
        status = getattr(exc, "status_code", 400)
        message = f"{request.method} {request.url.path}: {getattr(exc, 'detail', exc)}"
        code = "ENDPOINT_NOT_FOUND" if status == 404 else "BAD_REQUEST"
        return JSONResponse({"error_code": code, "message": message}, status_code=status,
                            headers=getattr(exc, "headers", None))  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # On shutdown, the shadow's queued copies are scored and logged, not dropped.
        await anyio.to_thread.run_sync(router.shadows.close)

    async def metrics(request: Request) -> Response:
        body, content_type = router.metrics.exposition()
        return Response(body, media_type=content_type)

    app = Starlette(
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
        routes=[
            Route("/invocations", invocations, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/ping", health, methods=["GET"]),
            Route("/feedback", feedback, methods=["POST"]),
            *dashboard_routes(config),
            *([Route("/metrics", metrics, methods=["GET"])] if router.metrics else []),
        ],
    )
    app.state.router = router
    return app


def _feedback_problem(item: Any) -> str | None:
    """Why a feedback item is unusable, or None."""
    if not isinstance(item, dict):
        return 'each feedback item must be an object {"request_id": ..., "label": ...}'
    request_id = item.get("request_id")
    if not isinstance(request_id, str) or not request_id.strip():
        return "feedback needs a non-empty string 'request_id'"
    if "label" not in item or isinstance(item["label"], (dict, list)):
        return "feedback needs a 'label' (a number, string, boolean or null)"
    return None


def run_server(app: Any, host: str = "127.0.0.1", port: int = 5000) -> None:
    """Serve ``app`` under uvicorn until interrupted: what ``mlci serve`` runs.

    Everything loaded so far (MLflow, pandas, scikit-learn, the models) is moved out of the
    garbage collector's reach first: a full collection otherwise walks those millions of
    objects and stalled requests for 20-40 ms (p99 25 ms instead of 6.5 ms in
    ``benchmarks/bench_router.py``). They live as long as the server anyway.
    """
    import gc

    import uvicorn

    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_level="warning")
