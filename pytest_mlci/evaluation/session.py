"""One evaluation per pytest session: candidate, baseline and data loaded once, shared by all.

The gate items and the ``mlci_eval`` fixture read from the same :class:`Evaluation`, so a gate
means the same thing whether it runs as a collected item, inside a user's test, or from
``mlci run`` (which calls pytest with this plugin). Everything is computed lazily: a run that
selects only static checks with ``-m`` never loads a model.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import CheckFailed, ConfigError, DataError, MlciError
from pytest_mlci.evaluation.compare import BootstrapSettings, Predictions, bootstrap_metric
from pytest_mlci.evaluation.metrics import (
    TOP_K,
    Metric,
    get_metric,
    metrics_for,
    top_k_metric,
    user_metric,
)
from pytest_mlci.gates import (
    FAIL,
    INCONCLUSIVE,
    WAIVED,
    Estimate,
    Gate,
    GateOutcome,
    Reference,
    parse_gate,
)

PRESENT, WAIVED_FIRST, MISSING = "present", "waived", "missing"
#: Production exists but cannot score the evaluation data (another feature set or format).
INCOMPATIBLE = "incompatible"


@dataclass(frozen=True)
class Baseline:
    """The production model to compare with, or why there is none."""

    status: str
    reason: str = ""
    version: str | None = None
    digest: str | None = None
    model: Any = None


@dataclass(frozen=True)
class GateResult:
    """A checked gate with the numbers behind its verdict (one row of every report)."""

    gate: str
    metric: str
    verdict: str
    message: str
    candidate: Estimate | None = None
    baseline: float | None = None
    delta: Estimate | None = None


@dataclass
class Evaluation:
    """Lazily loaded inputs and memoised metric estimates for one session."""

    config: MlciConfig
    candidate_path: Path | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    results: list[GateResult] = field(default_factory=list)
    #: Metrics the selected gates will ask for: the first cache miss computes all of them
    #: under the cache lock, so under pytest-xdist one worker loads and scores the model.
    planned: tuple[str, ...] = ()
    #: Where each metric estimate of this process came from (see :meth:`_note`).
    log: list[dict[str, Any]] = field(default_factory=list)
    #: Spark engine: how each model's labels were obtained, and whether it gave scores.
    spark_scoring: dict[str, str] = field(default_factory=dict)
    spark_has_scores: list[bool] = field(default_factory=list)

    @property
    def spark_engine(self) -> bool:
        """Whether the models score the rows on Spark (``[evaluation] engine = "spark"``)."""
        return self.config.evaluation.engine == "spark"

    @property
    def spark_frame(self) -> Any:
        """The evaluation data as a Spark DataFrame (Spark engine only)."""
        from pytest_mlci.spark.session import read, spark_session

        def build() -> Any:
            dataset = self.config.eval_dataset
            spark = spark_session(self.config.spark, key="evaluation.engine")
            assert dataset.location is not None
            return read(spark, dataset.location, dataset.format, dataset=dataset, key="path")

        return self._memo("spark_frame", build)

    @property
    def positive_class(self) -> Any:
        """The candidate's positive class (binary tasks): what a label of 1 means."""
        return self._memo("positive_class", lambda: _positive_class(self.model))

    # ------------------------------------------------------------------ inputs

    @property
    def artifact(self) -> Path:
        return Path(self.candidate_path or self.config.artifact)

    def _memo(self, key: str, build: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    @property
    def candidate_digest(self) -> str:
        from pytest_mlci.model_io import artifact_digest

        return self._memo("candidate_digest", lambda: artifact_digest(self.artifact))

    @property
    def model(self) -> Any:
        from pytest_mlci.flavours import ModelPolicy
        from pytest_mlci.model_io import load_model

        return self._memo(
            "model",
            lambda: load_model(self.artifact, policy=ModelPolicy.from_config(self.config)),
        )

    @property
    def data(self) -> Any:
        """The evaluation frame, validated against its schema first (fail closed); for a
        loader returning ``(X, y)``, the :class:`~pytest_mlci.data.loaded.LoadedData`; with
        the Spark engine, the Spark DataFrame (nothing is brought to this process)."""
        if self.spark_engine:
            return self.spark_frame
        loaded = self.loaded
        return loaded.frame if loaded.is_table else loaded

    @property
    def row_count(self) -> int | None:
        """Rows of the evaluation data (Spark: as counted by the scoring pass, None before)."""
        if not self.spark_engine:
            return len(self.loaded)
        computed = self._cache.get("spark_statistics")
        if computed is None:
            return None
        layout, statistics = computed
        return int(statistics.resampled[0, layout.offsets["rows"]])

    @property
    def loaded(self) -> Any:
        """The evaluation data in whatever shape it came (:class:`LoadedData`): ask it."""
        return self._memo("data", self._load_data)

    def _load_data(self) -> Any:
        from pytest_mlci.data.loaded import load_evaluation_data
        from pytest_mlci.data.schema import load_schema, validate_frame

        dataset = self.config.eval_dataset
        loaded = load_evaluation_data(self.config)
        if dataset.schema and not loaded.is_table:
            raise ConfigError(
                f"a pandera schema checks a table, and '{dataset.loader}' returns (X, y); "
                "remove 'schema' or make the loader return a DataFrame",
                key=f"datasets.{dataset.name}.schema",
            )
        if dataset.schema:
            schema = load_schema(dataset.schema, root=self.config.root, dataset=dataset.name)
            failures = validate_frame(schema, loaded.frame)
            if failures:
                lines = "\n".join(f"  {f.describe()}" for f in failures[:10])
                raise DataError(f"{dataset.path}: evaluation data fails its schema:\n{lines}")
        return loaded

    @property
    def schema(self) -> Any:
        """The evaluation dataset's pandera schema (``ConfigError`` if none is declared)."""
        from pytest_mlci.data.schema import load_schema
        from pytest_mlci.errors import ConfigError

        dataset = self.config.eval_dataset
        if not dataset.schema:
            raise ConfigError(
                "robustness needs the evaluation data's schema; add schema = 'module:Object'",
                key=f"datasets.{dataset.name}.schema",
            )
        return self._memo(
            "schema",
            lambda: load_schema(dataset.schema, root=self.config.root, dataset=dataset.name),
        )

    @property
    def row_strategy(self) -> Any:
        """Hypothesis strategy of schema-valid one-row frames, without the target column."""
        from pytest_mlci.data.loading import model_input
        from pytest_mlci.evaluation.robustness import row_strategy

        dataset = self.config.eval_dataset
        target = dataset.target or self.config.target
        if dataset.loader and not self.loaded.is_table:
            raise ConfigError(
                "robustness draws rows from a table's schema; the loader returns (X, y)",
                key=f"datasets.{dataset.name}.loader",
            )

        def build() -> Any:
            rows = row_strategy(self.schema, exclude=(target, *dataset.drop))
            if dataset.features:  # exactly the model's inputs, in their order
                rows = rows.map(lambda frame: model_input(frame, dataset, target))
            return rows

        return self._memo("row_strategy", build)

    @property
    def data_digest(self) -> str:
        """sha256 of the evaluation file(s); with a loader, of its source file too, so a
        changed loader is changed data (and no cached estimate survives it)."""
        return self._memo("data_digest", self._data_digest)

    def _data_digest(self) -> str:
        from pytest_mlci.data.loaded import loader_source_digest

        dataset = self.config.eval_dataset
        if self.spark_engine:
            assert dataset.location is not None
            return digest_path(Path(dataset.location))
        digest = digest_path(dataset.path)
        if not dataset.loader:
            return digest
        source = loader_source_digest(dataset, root=self.config.root)
        return hashlib.sha256(f"{digest}\0{dataset.loader}\0{source}".encode()).hexdigest()

    @property
    def features(self) -> Any:
        """What the model is given: the dataset's ``features``, else all but target and
        ``drop``; a loader's X as it returned it (DataFrame, numpy array or CSR, never dense)."""
        return self.loaded.X

    @property
    def y_true(self) -> Any:
        return self._memo("y_true", lambda: self._labels(self.model))

    def _labels(self, model: Any) -> Any:
        import numpy as np

        y = self.loaded.y
        if self.config.task == "binary_classification":
            positive = _positive_class(model)
            return (y == positive).astype(np.int64)
        return y

    @property
    def baseline(self) -> Baseline:
        return self._memo("baseline", self._resolve_baseline)

    def _resolve_baseline(self) -> Baseline:
        from pytest_mlci import registry_read as rr

        uri = self.config.registry_uri
        promoted = False
        version = None
        if rr.registry_exists(uri):
            client = rr.open_client(uri)
            version = rr.version_by_alias(client, self.config.model, "production")
            promoted = version is not None or rr.ever_promoted(client, self.config.model)
        if version is None:
            if promoted:
                return Baseline(
                    MISSING,
                    f"model '{self.config.model}' has been in production before but has no "
                    "'production' alias now; restore it (mlci rollback) before comparing",
                )
            if self.config.on_missing_baseline == "allow-first":
                return Baseline(
                    WAIVED_FIRST,
                    f"no production model yet for '{self.config.model}'; baseline gates waived "
                    "for the first model by on_missing_baseline = 'allow-first'",
                )
            return Baseline(
                MISSING,
                f"no production model for '{self.config.model}' to compare with; baseline gates "
                "fail closed (set on_missing_baseline = 'allow-first' for a first model)",
            )
        model = self._load_registered(version)
        return Baseline(PRESENT, version=version.version, digest=version.digest, model=model)

    # ------------------------------------------------------------------ predictions

    def predictions(self, model: Any) -> Predictions:
        """Labels and (classification) scores of ``model`` on the data, scoring it once."""
        from pytest_mlci.evaluation.scoring import score

        try:
            labels = self.class_labels if self.config.task == "multiclass" else None
            return score(model, self.features, self.config.task, labels)
        except MlciError:  # the data's own problems (a loader, a schema) keep their message
            raise
        except Exception as exc:
            raise CheckFailed(
                f"the model failed to predict on {self.config.eval_dataset.path}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    @property
    def scoring(self) -> dict[str, str]:
        """How each model's labels were obtained (for the report): found out in this process,
        else recorded by the run that computed the cached estimates."""
        import json

        found = self._scoring_here()
        if found:
            return found
        try:
            path = self._cache_dir / f"{self._inputs_key}.scoring.json"
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, MlciError):
            return {}

    def _scoring_here(self) -> dict[str, str]:
        if self.spark_scoring:
            return dict(self.spark_scoring)
        found = {}
        for who, key in (
            ("candidate", "candidate_predictions"),
            ("baseline", "baseline_predictions"),
        ):
            predictions = self._cache.get(key)
            if predictions is not None and predictions.how:
                found[who] = predictions.how
        return found

    @property
    def class_labels(self) -> Any:
        """The candidate's classes: the column order of multiclass scores."""
        import numpy as np

        def build() -> Any:
            classes = getattr(self.model, "classes_", None)
            # a pyfunc or custom model may not name its classes: those of the data, sorted
            return np.asarray(classes) if classes is not None else np.unique(self.y_true)

        return self._memo("class_labels", build)

    @property
    def candidate_predictions(self) -> Predictions:
        return self._memo("candidate_predictions", lambda: self.predictions(self.model))

    @property
    def baseline_predictions(self) -> Predictions | None:
        baseline = self.comparable_baseline
        if baseline.status != PRESENT:
            return None
        return self._memo("baseline_predictions", lambda: self.predictions(baseline.model))

    @property
    def comparable_baseline(self) -> Baseline:
        """The baseline, or ``INCOMPATIBLE`` with the reason when it cannot score this data.

        Checked before any comparison, so absolute gates are judged on the candidate alone
        and baseline gates follow ``on_incompatible_baseline`` instead of crashing.
        """
        return self._memo("comparable_baseline", self._check_baseline)

    @property
    def known_incompatibility(self) -> str | None:
        """Why production cannot score the data, if this process found out (never computes)."""
        baseline = self._cache.get("comparable_baseline")
        return baseline.reason if baseline and baseline.status == INCOMPATIBLE else None

    def _check_baseline(self) -> Baseline:
        """Score production once; the answer is kept on disk with the estimates, so a run
        that reads its estimates from the cache does not score production again."""
        import json

        from pytest_mlci.fileio import write_atomically

        baseline = self.baseline
        if baseline.status != PRESENT:
            return baseline
        path = self._cache_dir / f"{self._inputs_key}.baseline.json"
        try:
            problem = json.loads(path.read_text(encoding="utf-8"))["problem"]
        except (OSError, ValueError, KeyError, TypeError):
            problem, predictions = self._scoring_problem(baseline.model, baseline.version)
            if problem is None:
                self._cache["baseline_predictions"] = predictions
            write_atomically(path, json.dumps({"problem": problem}))
        if problem is None:
            return baseline
        return dataclasses.replace(baseline, status=INCOMPATIBLE, reason=str(problem))

    def _scoring_problem(
        self, model: Any, version: str | None
    ) -> tuple[str | None, Predictions | None]:
        """Why ``model`` (a registered version) cannot score the data, or its predictions."""
        from pytest_mlci.evaluation.compatibility import definitely_unreadable, describe_mismatch

        who = f"production v{version}"
        columns = self.loaded.input_columns  # names, or only a count for an array
        mismatch = describe_mismatch(model, columns, who=who)
        if mismatch and definitely_unreadable(model, columns):
            return mismatch, None
        try:
            return None, self.predictions(model)
        except CheckFailed as exc:
            cause = exc.__cause__ or exc
            error = f"{type(cause).__name__}: {cause}".strip()
            head = mismatch or f"{who} cannot score {self.config.eval_dataset.path}"
            return f"{head} ({error.splitlines()[0] if error else 'no detail'})", None

    def baseline_outcome(self, baseline: Baseline) -> GateOutcome:
        """The verdict of a baseline gate when there is nothing to compare with, and why."""
        if baseline.status == WAIVED_FIRST:
            return GateOutcome(WAIVED, baseline.reason)
        if baseline.status != INCOMPATIBLE:
            return GateOutcome(FAIL, baseline.reason)
        policy = self.config.on_incompatible_baseline
        if policy == "inconclusive":
            return GateOutcome(
                INCONCLUSIVE,
                f"baseline incompatible, inconclusive by on_incompatible_baseline = "
                f"'inconclusive' (fails closed): {baseline.reason}",
            )
        return GateOutcome(
            FAIL,
            f"baseline incompatible, failed by on_incompatible_baseline = 'fail': "
            f"{baseline.reason}; absolute gates are judged on the candidate alone",
        )

    # ------------------------------------------------------------------ metrics and gates

    def metric(self, name: str) -> Metric:
        """The metric a gate names: a user metric, ``top_<k>_accuracy`` with the candidate's
        classes, or a built-in one."""
        spec = self.config.metrics.get(name)
        if spec is not None:
            function = self.user_function(name)
            return user_metric(name, function, spec.function, spec.greater_is_better)
        top_k = TOP_K.match(name)
        if top_k and self.config.task == "multiclass":
            get_metric(name, self.config.task)  # k must be at least 1
            return top_k_metric(int(top_k["k"]), labels=self.class_labels)
        return get_metric(name, self.config.task)

    def user_function(self, name: str) -> Any:
        """Import ``[tool.mlci.metrics] <name>``; a :class:`ConfigError` names the key."""
        from pytest_mlci.importing import import_object

        spec = self.config.metrics[name]
        key = f"metrics.{name}"

        def resolve() -> Any:
            function = import_object(
                spec.function, root=self.config.root, key=key, example="my_metrics:pr_at_10"
            )
            if not callable(function):
                raise ConfigError(f"'{spec.function}' is not a function", key=key)
            return function

        return self._memo(f"user_metric:{name}", resolve)

    def estimate(self, metric_name: str) -> tuple[Estimate, Estimate | None, float | None]:
        """Candidate estimate, paired delta (or None) and the baseline's point value."""
        return self._memo(f"metric:{metric_name}", lambda: self._from_disk_cache(metric_name))

    def _from_disk_cache(self, name: str) -> tuple[Estimate, Estimate | None, float | None]:
        """Reuse an earlier run's estimate for the same model, data, baseline and settings.

        A miss is computed under an exclusive lock on the inputs' key: concurrent processes
        on the same inputs (pytest-xdist workers, parallel CI jobs on one checkout) wait for
        the first one and then read what it wrote, so each estimate is computed once. The
        first miss also computes the other planned metrics, so the model is scored once.
        Measured costs (latency, memory) are never cached: they describe this machine now.
        """
        from pytest_mlci.evaluation.cost import COST_METRICS
        from pytest_mlci.filelock import exclusive_lock

        if name in COST_METRICS or not self._cacheable:
            return self._estimate(name)
        stored = self._read_cached(name)
        if stored is None:
            lock = self._cache_dir / f"{self._inputs_key}.lock"
            with exclusive_lock(lock, what="evaluation cache lock"):
                stored = self._read_cached(name)
                if stored is None:
                    result = self._compute_and_store(name)
                    self._compute_planned(exclude=name)
                    return result
        self._note(name, "cache", 0.0)
        return stored

    @property
    def _cacheable(self) -> bool:
        """Whether estimates may be kept on disk: only when the data can be digested here
        (a Spark table or a remote URI may change under the same name)."""
        if not self.spark_engine:
            return True
        location = self.config.eval_dataset.location
        return location is not None and Path(location).exists()

    @property
    def _cache_dir(self) -> Path:
        return self.config.state_dir / "cache" / "evaluation"

    def _read_cached(self, name: str) -> tuple[Estimate, Estimate | None, float | None] | None:
        import json

        path = self._cache_dir / f"{self._cache_key(name)}.json"
        if not path.is_file():
            return None
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            return (
                Estimate(**stored["candidate"]),
                Estimate(**stored["delta"]) if stored["delta"] else None,
                stored["baseline"],
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged cache entry is recomputed, never trusted

    def _compute_and_store(self, name: str) -> tuple[Estimate, Estimate | None, float | None]:
        """Compute one estimate and write it to the cache (the caller holds the lock)."""
        import json
        import time

        from pytest_mlci.fileio import write_atomically

        started = time.perf_counter()
        candidate, delta, base = self._estimate(name)
        self._note(name, "computed", time.perf_counter() - started)
        payload = {
            "candidate": dataclasses.asdict(candidate),
            "delta": dataclasses.asdict(delta) if delta else None,
            "baseline": base,
        }
        write_atomically(self._cache_dir / f"{self._cache_key(name)}.json", json.dumps(payload))
        if self._scoring_here():
            scoring = self._cache_dir / f"{self._inputs_key}.scoring.json"
            write_atomically(scoring, json.dumps(self._scoring_here()))
        return candidate, delta, base

    def _compute_planned(self, *, exclude: str) -> None:
        """Compute the planned metrics not cached yet (the caller holds the lock).

        A metric that fails here is left alone: its own gate computes it again and reports
        the error where it belongs.
        """
        from pytest_mlci.evaluation.cost import COST_METRICS

        for other in self.planned:
            key = f"metric:{other}"
            if other == exclude or other in COST_METRICS or key in self._cache:
                continue
            try:
                if self._read_cached(other) is None:
                    self._cache[key] = self._compute_and_store(other)
            except Exception:  # reported by the gate that owns the metric
                continue

    def _note(self, metric: str, source: str, seconds: float) -> None:
        """Record where an estimate came from: ``computed`` here, or read from the ``cache``.

        Under pytest-xdist each worker's log goes to the controller with its results, so the
        JSON report shows which process computed what.
        """
        import os

        entry: dict[str, Any] = {"metric": metric, "source": source, "seconds": round(seconds, 3)}
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        if worker:
            entry["worker"] = worker
        self.log.append(entry)

    @property
    def _inputs_key(self) -> str:
        """The digest of everything an estimate depends on except the metric's name."""
        return self._memo("inputs_key", lambda: _digest(self._inputs()))

    def _cache_key(self, name: str) -> str:
        parts = {**self._inputs(), "metric": name}
        if name in self.config.metrics:
            # A user metric's estimate is only as current as its code: key on the source file.
            source = _source_digest(self.user_function(name))
            parts["user_metric"] = [self.config.metrics[name], source]
        return _digest(parts)

    def _inputs(self) -> dict[str, Any]:
        from pytest_mlci import __version__

        baseline = self.baseline
        return {
            "version": __version__,
            "task": self.config.task,
            "candidate": self.candidate_digest,
            "data": self.data_digest,
            "baseline": [baseline.status, baseline.digest],
            "evaluation": [
                getattr(self.config.evaluation, k)
                for k in ("resamples", "confidence", "seed", "engine")
            ],
            "fairness": [self.config.fairness.min_group_size, self.config.eval_dataset.protected],
            # how the file is read and which columns the model is given (features/drop)
            "shape": [getattr(self.config.eval_dataset, k) for k in _SHAPE_KEYS],
        }

    def _estimate(self, name: str) -> tuple[Estimate, Estimate | None, float | None]:
        from pytest_mlci.evaluation.cost import COST_METRICS

        settings = self.config.evaluation
        if name in COST_METRICS:
            return self._cost_estimate(name)
        if self.spark_engine:
            return self._spark_estimate(name)
        if name.startswith("fairness."):
            from pytest_mlci.evaluation.fairness import fairness_estimate

            baseline = self.baseline_predictions
            return fairness_estimate(
                name,
                self.protected_groups,
                self.y_true,
                self.candidate_predictions.y_pred,
                baseline.y_pred if baseline is not None else None,
                min_group_size=self.config.fairness.min_group_size,
                resamples=settings.resamples,
                confidence=settings.confidence,
                seed=settings.seed,
            )
        metric = self.metric(name)
        if metric.needs_score and name not in self.config.metrics:
            for who, predictions in (
                ("the candidate", self.candidate_predictions),
                ("production", self.baseline_predictions),
            ):
                if predictions is not None and predictions.y_score is None:
                    raise CheckFailed(
                        f"{name} ranks rows by score, and {who} gives labels only "
                        f"({predictions.how}); gate on accuracy/f1/precision/recall, or make "
                        "the model return probabilities"
                    )
        candidate, delta = bootstrap_metric(
            metric,
            self.y_true,
            self.candidate_predictions,
            self.baseline_predictions,
            BootstrapSettings(settings.resamples, settings.confidence, settings.seed),
        )
        base_value = candidate.value - delta.value if delta is not None else None
        return candidate, delta, base_value

    def _spark_estimate(self, name: str) -> tuple[Estimate, Estimate | None, float | None]:
        """One metric from the Spark pass (all metrics share it: the rows are scored once)."""
        from pytest_mlci.evaluation import sufficient
        from pytest_mlci.spark.evaluate import check_scores, spark_statistics, unsupported_reason

        reason = unsupported_reason(name, self.config.task, self.config.metrics)
        if reason:
            raise CheckFailed(reason)
        layout, statistics = self._memo("spark_statistics", lambda: spark_statistics(self))
        check_scores(self, name)
        return sufficient.estimates(layout, statistics, name, self.config.evaluation.confidence)

    def _cost_estimate(self, name: str) -> tuple[Estimate, Estimate | None, float | None]:
        from pytest_mlci.evaluation.cost import measure_cost

        candidate = self._memo(
            "cost:candidate",
            lambda: measure_cost(self.model, self.features, self.artifact, self.config.cost),
        )
        value = candidate[name]
        if self.comparable_baseline.status != PRESENT:
            return Estimate(value), None, None
        # The baseline's artifact size is not on disk here; its other costs are measured.
        base = self._memo(
            "cost:baseline",
            lambda: measure_cost(
                self.baseline.model, self.features, self.artifact, self.config.cost
            ),
        )
        if name == "size.model_mb":
            return Estimate(value), None, None
        return Estimate(value), Estimate(value - base[name]), base[name]

    @property
    def measured_cost(self) -> dict[str, float] | None:
        """The candidate's cost measurements if a cost gate asked for them (never measures)."""
        return self._cache.get("cost:candidate")

    @property
    def protected_groups(self) -> dict[str, Any]:
        """Protected attribute name → its column in the evaluation data."""
        dataset = self.config.eval_dataset
        if dataset.protected and not self.loaded.is_table:
            raise ConfigError(
                "a protected column needs a loader returning a DataFrame (or a table file); "
                "the loader returns (X, y), which has no columns by name",
                key=f"datasets.{dataset.name}.protected",
            )
        missing = [c for c in dataset.protected if c not in self.data.columns]
        if missing:
            raise DataError(f"{dataset.path}: protected column(s) {missing} are missing")
        return {column: self.data[column].to_numpy() for column in dataset.protected}

    def slice_tables(self) -> list[dict[str, Any]]:
        """Point metrics of candidate (and baseline) per value of each declared segment column.

        The metrics are those the gates use; a slice with one class only reports NaN for
        metrics undefined there rather than hiding the slice.
        """

        def build() -> list[dict[str, Any]]:
            if self.spark_engine:
                return []  # per-segment tables need every row here; the Spark engine sums
            names = sorted(
                {g.metric for g in self.gates() if g.metric in metrics_for(self.config.task)}
            )
            tables = []
            segments = self.config.evaluation.segments
            if segments and not self.loaded.is_table:
                raise ConfigError(
                    "a segment column needs a loader returning a DataFrame (or a table "
                    "file); the loader returns (X, y), which has no columns by name",
                    key="evaluation.segments",
                )
            for column in segments:
                if column not in self.data.columns:
                    raise DataError(f"evaluation.segments names '{column}', not a data column")
                values = self.data[column].astype(str).to_numpy()
                rows = []
                for value in sorted(set(values)):
                    mask = values == value
                    row: dict[str, Any] = {"value": value, "rows": int(mask.sum())}
                    for name in names:
                        row[name] = _point(name, self, self.candidate_predictions, mask)
                        if self.baseline_predictions is not None:
                            row[f"baseline.{name}"] = _point(
                                name, self, self.baseline_predictions, mask
                            )
                    rows.append(row)
                tables.append({"column": column, "metrics": names, "rows": rows})
            return tables

        return self._memo("slice_tables", build)

    def fairness_tables(self) -> list[Any]:
        """fairlearn's per-group table for each protected attribute (empty if none declared)."""
        from pytest_mlci.evaluation.fairness import group_table

        def build() -> list[Any]:
            if self.config.task != "binary_classification" or self.spark_engine:
                return []
            return [
                group_table(
                    attribute,
                    groups,
                    self.y_true,
                    self.candidate_predictions.y_pred,
                    self.config.fairness.min_group_size,
                )
                for attribute, groups in self.protected_groups.items()
            ]

        return self._memo("fairness_tables", build)

    def _against_best(self, gate: Gate) -> tuple[GateOutcome, Estimate, Estimate | None, Any]:
        """The ratchet: pair the candidate with the best recent production version."""
        if self.spark_engine:
            raise CheckFailed(
                f"gate '{gate.text}' compares with several production versions, which the Spark "
                "engine does not score; compare with the baseline, or use engine = 'local'"
            )
        best = self.best_model(gate.metric)
        if best.status != PRESENT:
            return self.baseline_outcome(best), self.estimate(gate.metric)[0], None, None
        settings = self.config.evaluation
        candidate, delta = bootstrap_metric(
            self.metric(gate.metric),
            self.y_true,
            self.candidate_predictions,
            self.predictions(best.model),
            BootstrapSettings(settings.resamples, settings.confidence, settings.seed),
        )
        outcome = gate.check(candidate, delta)
        note = f" (best of the last {settings.ratchet} production versions: v{best.version})"
        outcome = GateOutcome(outcome.verdict, outcome.message + note)
        return outcome, candidate, delta, candidate.value - delta.value if delta else None

    def best_model(self, metric_name: str) -> Baseline:
        """The recent production version scoring best on ``metric_name`` on this data."""
        return self._memo(f"best:{metric_name}", lambda: self._find_best(metric_name))

    def _load_registered(self, version: Any) -> Any:
        """A registered version, its store checked against the manifest on this use."""
        from pytest_mlci.artifact_check import load_verified
        from pytest_mlci.flavours import ModelPolicy

        return load_verified(
            version,
            self.config.state_dir / "cache" / "models",
            registry_uri=self.config.registry_uri,
            state_dir=self.config.state_dir,
            policy=ModelPolicy.from_config(self.config),
        )

    def _find_best(self, metric_name: str) -> Baseline:
        from pytest_mlci import registry_read as rr

        baseline = self.comparable_baseline
        if baseline.status != PRESENT:
            return baseline  # no production, or one that cannot score: the same policy decides
        metric = self.metric(metric_name)
        client = rr.open_client(self.config.registry_uri)
        best: Baseline | None = None
        best_value = None
        for version in rr.promoted_versions(
            client, self.config.model, self.config.evaluation.ratchet
        ):
            model = self._load_registered(version)
            _, preds = self._scoring_problem(model, version.version)
            if preds is None:
                continue  # an older feature set: not a candidate for "best" on this data
            value = float(metric.fn(self.y_true, preds.y_pred, preds.y_score))
            better = best_value is None or (
                value > best_value if metric.greater_is_better else value < best_value
            )
            if better:
                best_value = value
                best = Baseline(
                    PRESENT, version=version.version, digest=version.digest, model=model
                )
        return best or baseline

    def gates(self) -> list[Gate]:
        """The configured gates, parsed; an unknown metric raises with the closest name."""
        from pytest_mlci.evaluation.catalog import check_metric_name

        protected = self.config.eval_dataset.protected if self.config.datasets else ()
        parsed = []
        for spec in self.config.gates:
            gate = parse_gate(spec.metric, spec.expression)
            check_metric_name(
                gate.metric, self.config.task, protected=protected, user=self.config.metrics
            )
            if gate.metric in self.config.metrics:
                self.user_function(gate.metric)  # an import error is a config error, now
            if gate.reference is Reference.BEST:
                if self.config.evaluation.ratchet < 1:
                    raise ConfigError(
                        f"gate '{gate.text}' compares with the best recent production version; "
                        "set [tool.mlci.evaluation] ratchet = N (how many versions to look at)",
                        key=f"gates.{gate.metric}",
                    )
                if gate.metric not in self.config.metrics:
                    get_metric(gate.metric, self.config.task)  # plain metrics only
            parsed.append(gate)
        return parsed

    def check_gate(self, gate: Gate, *, record: bool = True) -> GateResult:
        """Compute and judge one gate, record the result for the reports, and return it.

        ``record=False`` judges without adding to :attr:`results` (the evaluation status item
        uses it to learn whether a gate that ran in another pytest-xdist worker crashed).
        """
        if gate.reference is Reference.BEST:
            outcome, candidate, delta, base_value = self._against_best(gate)
        elif gate.reference is Reference.BASELINE and self.comparable_baseline.status != PRESENT:
            outcome = self.baseline_outcome(self.comparable_baseline)
            candidate, delta, base_value = self.estimate(gate.metric)[0], None, None
        else:
            candidate, delta, base_value = self.estimate(gate.metric)
            outcome = gate.check(candidate, delta)
        result = GateResult(
            gate=gate.text,
            metric=gate.metric,
            verdict=outcome.verdict,
            message=outcome.message,
            candidate=candidate,
            baseline=base_value,
            delta=delta,
        )
        if record:
            self.results.append(result)
        return result

    # ------------------------------------------------------------------ pytest-xdist

    def export(self) -> dict[str, Any]:
        """What a pytest-xdist worker sends its controller: results, costs, the cache log."""
        return {
            "results": [dataclasses.asdict(r) for r in self.results],
            "cost": self.measured_cost,
            "log": list(self.log),
        }

    def absorb(self, exported: dict[str, Any]) -> None:
        """Add a worker's :meth:`export` to this (the controller's) evaluation."""
        for row in exported.get("results", []):
            self.results.append(
                GateResult(
                    **{
                        **row,
                        "candidate": Estimate(**row["candidate"]) if row["candidate"] else None,
                        "delta": Estimate(**row["delta"]) if row["delta"] else None,
                    }
                )
            )
        if exported.get("cost") and "cost:candidate" not in self._cache:
            self._cache["cost:candidate"] = exported["cost"]
        self.log.extend(exported.get("log", []))


_SHAPE_KEYS = ("target", "sep", "columns", "features", "drop", "loader")


def _digest(parts: dict[str, Any]) -> str:
    import json

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _point(name: str, evaluation: Evaluation, preds: Predictions, mask: Any) -> float:
    """One metric on the rows selected by ``mask`` (NaN where it is undefined)."""
    import warnings

    metric = get_metric(name, evaluation.config.task)
    score = preds.y_score[mask] if preds.y_score is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(metric.fn(evaluation.y_true[mask], preds.y_pred[mask], score))
        except ValueError:
            return float("nan")


def _source_digest(function: Any) -> str:
    """sha256 of the file defining ``function`` ('' where there is none, e.g. a builtin)."""
    import inspect

    from pytest_mlci.model_io import sha256_file

    try:
        source = inspect.getsourcefile(function)
    except TypeError:
        return ""
    return sha256_file(Path(source)) if source else ""


def _positive_class(model: Any) -> Any:
    from pytest_mlci.evaluation.scoring import positive_class

    return positive_class(model)


def digest_path(path: Path) -> str:
    """sha256 of a file, or of the sorted (name, digest) list of a directory's files."""
    from pytest_mlci.model_io import sha256_file

    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for child in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{child.relative_to(path)}\0{sha256_file(child)}\n".encode())
    return digest.hexdigest()
