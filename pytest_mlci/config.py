"""Read ``[tool.mlci]`` (pyproject.toml) or ``mlci.toml`` once into frozen, validated objects.

Why a hand-written validator rather than pydantic: the config is read by pre-commit hooks and
by ``mlci --help``-adjacent commands that must start fast, and every error has to name the
file, the key and the closest valid key in words a user can act on. The schema below is the
single place that lists which keys exist.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_mlci.errors import ConfigError

TASKS = ("binary_classification", "multiclass", "regression")
TIERS = ("low", "medium", "high")
BASELINE_POLICIES = ("fail", "allow-first")
# What baseline gates say when production cannot score the evaluation data (another feature
# set, another input format); absolute gates are judged either way.
INCOMPATIBLE_POLICIES = ("fail", "inconclusive")
#: How the artifact is read; "auto" decides by its name and content (pytest_mlci/flavours.py).
FLAVOURS = ("auto", "skops", "pickle", "mlflow", "xgboost", "lightgbm", "custom")
DEFAULT_REGISTRY = "sqlite:///.mlci/mlflow.db"
REGISTRY_ENV = "MLCI_REGISTRY"  # overrides `registry`, e.g. from a CI secret
SPARK_MASTER_ENV = "MLCI_SPARK_MASTER"  # overrides [spark] master, e.g. per CI job
ENGINES = ("local", "spark")
SPARK_FORMATS = ("parquet", "delta", "csv", "json", "orc")
DATABASE_ENV = "MLCI_DATABASE"  # overrides `database` (it carries credentials)
DATABASE_SCHEMES = ("postgresql://", "postgres://")
STATE_DIR = ".mlci"
MODEL_ENV = "MLCI_MODEL"  # which model of a many-model repository (mlci --model, children)
#: How a version reaches full traffic (mlci_local/rollout): stepwise, all at once with the
#: old version kept hot, or a shadow comparison first and then the canary steps.
STRATEGIES = ("canary", "blue-green", "shadow-then-canary")
#: What an environment of the promotion chain may demand before a version enters it.
ENVIRONMENT_CHECKS = ("staging", "approvals", "canary")


@dataclass(frozen=True)
class StaticSettings:
    """What the static ML rules look at and which codes they report."""

    paths: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # the least certain findings reported: "high" (default) or "medium" (everything)
    confidence: str = "high"


@dataclass(frozen=True)
class SparkSettings:
    """``[tool.mlci.spark]``: which Spark runs the checks of datasets with ``engine = "spark"``.

    Only ``master`` changes between a laptop (``local[*]``), a cluster (``yarn``,
    ``spark://host:7077``, ``k8s://...``) and Spark Connect (``sc://host:15002``); ``conf``
    is passed to the session builder as it is.
    """

    master: str = "local[*]"
    conf: Mapping[str, str] = field(default_factory=dict)
    app_name: str = "pytest-mlci"


@dataclass(frozen=True)
class DatasetConfig:
    """One declared dataset: where it lives and what it must look like.

    Which checks run follows from what is declared: ``schema`` switches on the schema check,
    ``expected_rows`` or a ``reference`` the volume check, a ``reference`` or any quality key
    the quality check, ``max_age_hours`` the freshness check, a ``reference`` the drift check.
    Declared keys are kept in ``declared`` so a default never silently switches a check on.
    """

    name: str
    path: Path
    schema: str | None = None
    reference: Path | None = None
    target: str | None = None
    protected: tuple[str, ...] = ()
    # volume: a row count within +-volume_tolerance (a fraction) of expected_rows, else of
    # the reference's row count
    expected_rows: int | None = None
    volume_tolerance: float = 0.2
    # freshness: the newest `timestamp` (or, without one, the file's mtime) is younger than this
    timestamp: str | None = None
    max_age_hours: float | None = None
    # quality: nulls fail unless allowed (fail closed, like pandera's default); duplicate rows
    # are reported, and fail only above a declared max_duplicate_rate (real data repeats rows)
    max_null_rate: float = 0.0
    null_rates: Mapping[str, float] = field(default_factory=dict)
    max_duplicate_rate: float | None = None
    allow_constant: tuple[str, ...] = ()
    min_label_share: float = 0.01
    # drift: effect size decides (PSI, Wasserstein in reference standard deviations), the test's
    # p-value confirms; below drift_min_rows rows on either side the answer is "inconclusive"
    drift_columns: tuple[str, ...] = ()
    drift_ignore: tuple[str, ...] = ()
    drift_psi: float = 0.2
    drift_distance: float = 0.25
    drift_alpha: float = 0.01
    drift_min_rows: int = 200
    drift_thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    max_unseen_share: float = 0.01
    # multivariate drift (opt-in): a classifier told to separate reference rows from current
    # rows; its cross-validated ROC AUC at or above this fails (0.5 = indistinguishable)
    drift_domain_auc: float | None = None
    stream: str = "auto"
    # file shape: a CSV/TSV delimiter (None: sniffed) and a headerless file's column names
    sep: str | None = None
    columns: tuple[str, ...] = ()
    # the model's input: exactly ``features`` (in order), else every column but the target and
    # ``drop``; the frame the checks read keeps every column
    features: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    # "module:function" called with the path (and the reference's): returns a DataFrame or
    # (X, y[, feature_names]) with X a DataFrame, 2-D numpy array or scipy sparse matrix
    loader: str | None = None
    # where the checks run: "local" (this process, streamed for large parquet) or "spark"
    # (the cluster of [tool.mlci.spark]); with Spark the data may be a URI or a table name
    engine: str = "local"
    #: Spark only: the current/reference data as a catalog table, a URI or a local path
    #: (``path`` keeps a local path for everything that reads files here)
    location: str | None = None
    reference_location: str | None = None
    #: Spark only: how each location is stored ("table" for a catalog table; None: from the
    #: name, parquet unless it ends in .csv/.json/.orc or holds a _delta_log)
    format: str | None = None
    reference_format: str | None = None
    spark: SparkSettings | None = None
    declared: frozenset[str] = frozenset()

    def psi_threshold(self, column: str) -> float:
        """The PSI at which ``column`` counts as drifted (per-column override or default)."""
        return self.drift_thresholds.get(column, {}).get("psi", self.drift_psi)

    def distance_threshold(self, column: str) -> float:
        """The normalised Wasserstein distance at which ``column`` counts as drifted."""
        return self.drift_thresholds.get(column, {}).get("distance", self.drift_distance)

    def allowed_null_rate(self, column: str) -> float:
        """The largest share of nulls ``column`` may have."""
        return self.null_rates.get(column, self.max_null_rate)


@dataclass(frozen=True)
class GateSpec:
    """One gate as written in config: ``metric = "<op> <threshold>"``."""

    metric: str
    expression: str

    @property
    def text(self) -> str:
        """The whole expression, e.g. ``f1 >= baseline - 0.01``."""
        return f"{self.metric} {self.expression}"


@dataclass(frozen=True)
class UserMetricSpec:
    """A project metric: ``name = "module:function"`` in ``[tool.mlci.metrics]``, or the table
    form ``name = { function = "module:function", greater_is_better = false }``."""

    name: str
    function: str
    greater_is_better: bool = True


@dataclass(frozen=True)
class EvaluationSettings:
    """How gates are computed: bootstrap resamples, interval confidence, seed."""

    resamples: int = 500
    confidence: float = 0.95
    seed: int = 0
    ratchet: int = 0  # "best" gates compare with the best of the last N production versions
    segments: tuple[str, ...] = ()  # columns whose values get their own metrics in reports
    engine: str = "local"  # "spark": the models score the rows on the cluster


@dataclass(frozen=True)
class FairnessSettings:
    """Groups smaller than ``min_group_size`` rows are reported but left out of gaps."""

    min_group_size: int = 30


@dataclass(frozen=True)
class CostSettings:
    """How latency is measured: warm-up calls, timed single rows, batch size, repeats."""

    warmup: int = 20
    single_row_calls: int = 200
    batch_rows: int = 1000
    batch_repeats: int = 5


@dataclass(frozen=True)
class RobustnessSettings:
    """Rows hypothesis tries, the columns that must not matter, and by how much they may."""

    examples: int = 100
    invariant: tuple[str, ...] = ()
    tolerance: float = 0.05
    enabled: bool = False  # on when [tool.mlci.robustness] is present (it generates data)


@dataclass(frozen=True)
class StagingSettings:
    """The staging load test: how much traffic, and the limits it must stay within."""

    load_requests: int = 500
    load_concurrency: int = 4
    load_seconds: float = 30.0  # a bound on the test's duration, whatever the request count
    p95_ms: float | None = None  # single-row latency limit; None: no limit
    max_error_rate: float = 0.0


DEFAULT_MAX_BODY_MB = 5.0
MAX_BODY_MB_LIMIT = 1024.0


@dataclass(frozen=True)
class ServeSettings:
    """``[tool.mlci.serve]``: what ``mlci serve`` accepts from a client.

    ``max_body_mb`` bounds one request body: a larger one is answered 413 before it is read
    into memory (a few MB is thousands of rows; bigger batches belong in batch scoring).
    """

    max_body_mb: float = DEFAULT_MAX_BODY_MB
    #: ``/metrics`` in the Prometheus text format (requests, errors, latency and prediction
    #: scores per arm and version); ``metrics = false`` removes the route and its cost.
    metrics: bool = True
    #: Log the first rows of each request's features (``mlci monitor`` compares them with the
    #: reference); ``log_features = false`` when inputs must not be written to disk.
    log_features: bool = True

    @property
    def max_body_bytes(self) -> int:
        """The body limit in bytes (MB here are MiB, 2**20 bytes)."""
        return int(self.max_body_mb * 2**20)


#: How an approver is identified: an OpenSSH (or OpenPGP) signature checked against the
#: signers committed in the promoted commit, or (explicitly) the unauthenticated $MLCI_ACTOR.
APPROVAL_IDENTITIES = ("ssh", "gpg", "unverified")
DEFAULT_ALLOWED_SIGNERS = ".allowed_signers"


@dataclass(frozen=True)
class ApprovalSettings:
    """Who may approve a high-tier promotion, how many distinct approvals it needs, and how
    an approver's identity is established (``identity``: "ssh" by default for tier high,
    "unverified" for the tiers that need no approvals to promote)."""

    approvers: tuple[str, ...] = ()
    required: int | None = None  # None: the tier's default (2 for high)
    identity: str = "ssh"
    allowed_signers: str = DEFAULT_ALLOWED_SIGNERS  # relative to the project root, in git


DEFAULT_CANARY_STEPS = (0.05, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class CanaryTraffic:
    """The bounded synthetic traffic ``mlci run`` sends through the local router for its canary.

    Rows are sampled from the evaluation dataset and sent one per request; their target
    values go to ``/feedback`` as delayed labels, ``label_lag`` batches after the requests.
    """

    batch: int = 500  # requests between two looks of the judge
    max_requests_per_step: int = 5000  # the bound on one step's traffic
    rate: float = 0.0  # requests per second; 0: as fast as the router answers
    concurrency: int = 4
    label_fraction: float = 1.0  # share of requests whose label arrives
    label_lag: int = 1  # labels arrive this many batches after their requests
    seed: int = 0


@dataclass(frozen=True)
class CanarySettings:
    """``[tool.mlci.canary]``: traffic steps per tier, what each step needs, the judge's
    thresholds, and whether ``mlci run`` runs the canary itself."""

    steps: Mapping[str, tuple[float, ...]] = field(
        default_factory=lambda: dict.fromkeys(TIERS, DEFAULT_CANARY_STEPS)
    )
    min_samples: int | tuple[int, ...] = 0  # candidate requests a step needs before it passes
    min_seconds: float | tuple[float, ...] = 0.0  # how long a step lasts at least
    in_run: bool | None = None  # None: only tiers whose policy needs a canary (high)
    judge: Mapping[str, Any] = field(default_factory=dict)  # JudgeSettings fields
    traffic: CanaryTraffic = field(default_factory=lambda: CanaryTraffic())

    def steps_for(self, tier: str) -> tuple[float, ...]:
        """The traffic shares of ``tier``'s canary, ending at 1.0."""
        return tuple(self.steps.get(tier, DEFAULT_CANARY_STEPS))

    def minimums(self, index: int) -> tuple[int, float]:
        """(candidate requests, seconds) step ``index`` needs before it may pass."""
        samples, seconds = self.min_samples, self.min_seconds
        return (
            samples if isinstance(samples, int) else samples[index],
            seconds if isinstance(seconds, (int, float)) else seconds[index],
        )


#: How audit checkpoints are signed: not at all, an HMAC key from a CI secret, an SSH key.
AUDIT_SIGNING = ("none", "hmac", "ssh")
DEFAULT_AUDIT_KEY_ENV = "MLCI_AUDIT_KEY"


@dataclass(frozen=True)
class AuditSettings:
    """``[tool.mlci.audit]``: how ledger checkpoints are signed and where they are anchored.

    Without a key (``signing = "none"``, the default) the ledger's hash chain catches
    accidental damage only: whoever can write ``.mlci/`` can rewrite it and its hashes.
    """

    signing: str = "none"
    key_env: str = DEFAULT_AUDIT_KEY_ENV  # hmac: the env var holding the secret key
    ssh_key: Path | None = None  # ssh: the private key that signs (on the CI runner)
    public_key: Path | None = None  # ssh: its public half, committed, for verification
    anchors: tuple[str, ...] = ()  # "registry", "database", "s3://bucket/prefix", postgresql://
    ledger_id: str | None = None  # names the chain inside signatures; default: the model
    s3_endpoint: str | None = None  # an S3-compatible endpoint (default: boto3's own)
    s3_retention_days: int = 2555  # object lock retention of each checkpoint object


#: Artifact names that say "one model file": wrong for a materialised MLflow model directory.
_FILE_MODEL_SUFFIXES = (".skops", ".pkl", ".pickle", ".joblib")


@dataclass(frozen=True)
class TrainingSettings:
    """``[tool.mlci.training]``: how the training command hands over its model.

    ``mlflow_model``: the training command logs an MLflow model with this name (``name=`` of
    ``mlflow.<flavour>.log_model``, ``"model"`` for autolog); mlci runs ``dvc repro`` inside an
    MLflow run it creates, and that model, downloaded to ``artifact``, is the candidate
    (:mod:`mlci_local.mlflow_training`). ``experiment``: the MLflow experiment of that run
    (default: the one the training script names in ``mlflow.set_experiment``, else the model).
    ``stage``: the ``dvc.yaml`` stage that logs it, forced inside a linked run when DVC finds it
    up to date but no linked model is materialised (default: the stage whose script calls
    ``log_model`` or ``autolog``, else ``train``).
    """

    mlflow_model: str | None = None
    experiment: str | None = None
    stage: str | None = None


@dataclass(frozen=True)
class EnvironmentSettings:
    """One step of the promotion chain: an alias of the same name, and what a version needs
    before it may enter (``requires``: records from ENVIRONMENT_CHECKS; ``soak_minutes``: how
    long it must have been in the environment before this one)."""

    name: str
    requires: tuple[str, ...] = ()
    soak_minutes: float = 0.0


@dataclass(frozen=True)
class BlueGreenSettings:
    """``[tool.mlci.blue_green]``: preview requests that smoke-test and warm the new version
    before the switch, and how long it must hold all traffic, judged, before promotion."""

    warm_requests: int = 100
    soak_seconds: float = 300.0
    # Before/after comparisons carry the machine's drift between the two windows (a canary
    # compares concurrent arms), so the latency threshold is wider than the canary's 0.1.
    latency_effect: float = 0.25


#: Without [tool.mlci.environments]: stage 6 puts a version in staging, stage 7 in production.
DEFAULT_ENVIRONMENTS = (EnvironmentSettings("staging"), EnvironmentSettings("production"))


@dataclass(frozen=True)
class MlciConfig:
    """The validated configuration of one model (a project's only model, or one table of
    ``[tool.mlci.models]`` merged over the shared ``[tool.mlci]`` defaults)."""

    root: Path
    source: Path
    model: str
    task: str
    target: str
    artifact: Path
    tier: str = "medium"
    registry: str = DEFAULT_REGISTRY
    # Team scale: the audit ledger and promotion locks in PostgreSQL (None: local files).
    database: str | None = None
    on_missing_baseline: str = "fail"
    on_incompatible_baseline: str = "fail"
    tests: tuple[str, ...] = ()
    static: StaticSettings = field(default_factory=StaticSettings)
    datasets: Mapping[str, DatasetConfig] = field(default_factory=dict)
    gates: tuple[GateSpec, ...] = ()
    metrics: Mapping[str, UserMetricSpec] = field(default_factory=dict)
    staging_sample_rows: int = 200
    staging: StagingSettings = field(default_factory=lambda: StagingSettings())
    serve: ServeSettings = field(default_factory=lambda: ServeSettings())
    evaluation: EvaluationSettings = field(default_factory=lambda: EvaluationSettings())
    trusted_types: tuple[str, ...] = ()
    allow_pickle: bool = False
    # the model's flavour ("auto": from the artifact), and for anything else a
    # "module:function" that loads the artifact and one that predicts with it
    flavour: str = "auto"
    model_loader: str | None = None
    predict: str | None = None
    fairness: FairnessSettings = field(default_factory=lambda: FairnessSettings())
    cost: CostSettings = field(default_factory=lambda: CostSettings())
    robustness: RobustnessSettings = field(default_factory=lambda: RobustnessSettings())
    approvals: ApprovalSettings = field(default_factory=lambda: ApprovalSettings())
    canary: CanarySettings = field(default_factory=lambda: CanarySettings())
    audit: AuditSettings = field(default_factory=lambda: AuditSettings())
    training: TrainingSettings = field(default_factory=TrainingSettings)
    spark: SparkSettings = field(default_factory=SparkSettings)
    # Many models in one repository (pytest_mlci/project.py): the table's name, whether the
    # configuration holds several, who owns the model, and the code it is built from.
    name: str = ""
    multi: bool = False
    owners: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    strategy: str = "canary"
    environments: tuple[EnvironmentSettings, ...] = DEFAULT_ENVIRONMENTS
    blue_green: BlueGreenSettings = field(default_factory=BlueGreenSettings)

    @property
    def label(self) -> str:
        """How output names this model: its table name in a many-model repository."""
        return self.name or self.model

    @property
    def environment_names(self) -> tuple[str, ...]:
        return tuple(environment.name for environment in self.environments)

    @property
    def state_dir(self) -> Path:
        """Local state of the embedded default: registry, artifacts, ledger, caches."""
        return self.root / STATE_DIR

    @property
    def registry_uri(self) -> str:
        """The registry URI with a relative sqlite path made absolute against the root."""
        prefix = "sqlite:///"
        if self.registry.startswith(prefix) and not self.registry.startswith(prefix + "/"):
            return prefix + str((self.root / self.registry[len(prefix) :]).resolve())
        return self.registry

    @property
    def eval_dataset(self) -> DatasetConfig:
        """The dataset gates are computed on: ``eval`` if declared, else the only one."""
        if "eval" in self.datasets:
            return self.datasets["eval"]
        if len(self.datasets) == 1:
            return next(iter(self.datasets.values()))
        raise ConfigError(
            "no evaluation dataset; declare [tool.mlci.datasets.eval] with a 'path'",
            file=self.source.name,
            key="datasets",
        )


# --------------------------------------------------------------------------- schema

_TOP_KEYS = {
    "model": str,
    "task": str,
    "target": str,
    "artifact": str,
    "tier": str,
    "registry": str,
    "database": str,
    "on_missing_baseline": str,
    "on_incompatible_baseline": str,
    "tests": list,
    "static": dict,
    "datasets": dict,
    "gates": dict,
    "metrics": dict,
    "staging": dict,
    "serve": dict,
    "evaluation": dict,
    "trusted_types": list,
    "allow_pickle": bool,
    "flavour": str,
    "model_loader": str,
    "predict": str,
    "fairness": dict,
    "cost": dict,
    "robustness": dict,
    "approvals": dict,
    "canary": dict,
    "audit": dict,
    "training": dict,
    "spark": dict,
    "owners": list,
    "paths": list,
    "strategy": (str, dict),
    "environments": dict,
    "blue_green": dict,
}
_REQUIRED = ("model", "task", "target", "artifact")
_STATIC_KEYS = {
    "paths": list,
    "select": list,
    "ignore": list,
    "per-file-ignores": dict,
    "confidence": str,
}
_DATASET_KEYS = {
    "path": str,
    "schema": str,
    "reference": str,
    "target": str,
    "protected": list,
    "expected_rows": int,
    "volume_tolerance": float,
    "timestamp": str,
    "max_age_hours": float,
    "max_null_rate": float,
    "null_rates": dict,
    "max_duplicate_rate": float,
    "allow_constant": list,
    "min_label_share": float,
    "drift_columns": list,
    "drift_ignore": list,
    "drift_psi": float,
    "drift_distance": float,
    "drift_alpha": float,
    "drift_min_rows": int,
    "drift_thresholds": dict,
    "max_unseen_share": float,
    "drift_domain_auc": float,
    "stream": str,
    "sep": str,
    "header": bool,
    "columns": list,
    "features": list,
    "drop": list,
    "loader": str,
    "engine": str,
    "table": str,
    "reference_table": str,
    "format": str,
}
_QUALITY_KEYS = frozenset(
    {"max_null_rate", "null_rates", "max_duplicate_rate", "allow_constant", "min_label_share"}
)
# key -> (lowest, highest, inclusive lowest?, example) for the numeric dataset keys
_DATASET_RANGES = {
    "expected_rows": (1, None, True, "expected_rows = 18000"),
    "volume_tolerance": (0.0, 1.0, False, "volume_tolerance = 0.2 (+-20%)"),
    "max_age_hours": (0.0, None, False, "max_age_hours = 36"),
    "max_null_rate": (0.0, 1.0, True, "max_null_rate = 0.05"),
    "max_duplicate_rate": (0.0, 1.0, True, "max_duplicate_rate = 0.01"),
    "min_label_share": (0.0, 0.5, True, "min_label_share = 0.01"),
    "drift_psi": (0.0, None, False, "drift_psi = 0.2"),
    "drift_distance": (0.0, None, False, "drift_distance = 0.25"),
    "drift_alpha": (0.0, 0.5, False, "drift_alpha = 0.01"),
    "drift_min_rows": (2, None, True, "drift_min_rows = 200"),
    "max_unseen_share": (0.0, 1.0, True, "max_unseen_share = 0.01"),
    "drift_domain_auc": (0.5, 1.0, False, "drift_domain_auc = 0.6 (0.5: indistinguishable)"),
}
STREAM_MODES = ("auto", "always", "never")


def _parse_dataset(
    reader: _Reader, name: str, spec: Mapping[str, Any], *, root: Path, target: str
) -> DatasetConfig:
    """One ``[datasets.<name>]`` table (keys and types already checked) -> DatasetConfig."""
    where = f"datasets.{name}."
    for key, (low, high, inclusive, example) in _DATASET_RANGES.items():
        if key not in spec:
            continue
        value = spec[key]
        too_low = value < low if inclusive else value <= low
        if too_low or (high is not None and value > high):
            bound = f"{'at least' if inclusive else 'above'} {low}"
            bound += f" and at most {high}" if high is not None else ""
            raise reader.error(where + key, f"must be {bound}, got {value!r}; e.g. {example}")
    if spec.get("stream", "auto") not in STREAM_MODES:
        raise reader.error(
            where + "stream", f"{spec['stream']!r} is not valid; choose one of {list(STREAM_MODES)}"
        )
    if "timestamp" in spec and "max_age_hours" not in spec:
        raise reader.error(
            where + "max_age_hours",
            "is required with 'timestamp' (how old the newest row may be); e.g. max_age_hours = 36",
        )
    null_rates: dict[str, float] = {}
    for column, rate in spec.get("null_rates", {}).items():
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise reader.error(
                f"{where}null_rates.{column}", f"must be a share between 0 and 1, got {rate!r}"
            )
        null_rates[column] = float(rate)
    thresholds: dict[str, dict[str, float]] = {}
    for column, value in spec.get("drift_thresholds", {}).items():
        key = f"{where}drift_thresholds.{column}"
        # A number is the column's PSI threshold; a table may set 'psi' and 'distance'.
        table = value if isinstance(value, dict) else {"psi": value}
        unknown = sorted(set(table) - {"psi", "distance"})
        if unknown:
            raise reader.error(key, f"unknown key {unknown[0]!r}; use 'psi' and/or 'distance'")
        for metric, number in table.items():
            if isinstance(number, bool) or not isinstance(number, (int, float)) or number <= 0:
                raise reader.error(
                    key,
                    f"{metric} must be a positive number, got {number!r}; "
                    f"e.g. {column} = 0.3 or {column} = {{ psi = 0.3, distance = 0.4 }}",
                )
        thresholds[column] = {metric: float(number) for metric, number in table.items()}
    numbers = {k: float(v) for k, v in spec.items() if _DATASET_KEYS[k] is float}
    shape = _parse_shape(reader, where, spec, target=spec.get("target", target))
    return DatasetConfig(
        name=name,
        path=root / spec.get("path", name),  # a Spark table has none: set by _with_engine
        schema=spec.get("schema"),
        reference=root / spec["reference"] if "reference" in spec else None,
        target=spec.get("target", target),
        protected=reader.strings(spec.get("protected", []), where + "protected"),
        expected_rows=spec.get("expected_rows"),
        timestamp=spec.get("timestamp"),
        null_rates=null_rates,
        allow_constant=reader.strings(spec.get("allow_constant", []), where + "allow_constant"),
        drift_columns=reader.strings(spec.get("drift_columns", []), where + "drift_columns"),
        drift_ignore=reader.strings(spec.get("drift_ignore", []), where + "drift_ignore"),
        drift_min_rows=spec.get("drift_min_rows", 200),
        drift_thresholds=thresholds,
        stream=spec.get("stream", "auto"),
        declared=frozenset(spec),
        **shape,
        **numbers,
    )


def _parse_shape(
    reader: _Reader, where: str, spec: Mapping[str, Any], *, target: str
) -> dict[str, Any]:
    """The file-shape keys (sep, header, columns) and the model-input keys (features, drop)."""
    columns = reader.strings(spec.get("columns", []), where + "columns")
    features = reader.strings(spec.get("features", []), where + "features")
    drop = reader.strings(spec.get("drop", []), where + "drop")
    if "sep" in spec and len(spec["sep"]) != 1:
        raise reader.error(
            where + "sep",
            f'must be one character, got {spec["sep"]!r}; for a tab write sep = "\\t" '
            "(double quotes: in single quotes TOML keeps the backslash)",
        )
    if spec.get("header", True) is False and not columns:
        raise reader.error(
            where + "columns",
            "is required with header = false (the file has no header line to name its "
            "columns); e.g. columns = ['age', 'income', 'label']",
        )
    if "columns" in spec and spec.get("header", True) is not False:
        raise reader.error(
            where + "columns",
            "names the columns of a headerless file; add header = false (a file with a "
            "header line names its own columns)",
        )
    if len(set(columns)) != len(columns):
        twice = next(c for c in columns if columns.count(c) > 1)
        raise reader.error(where + "columns", f"names {twice!r} twice")
    loader = spec.get("loader")
    if loader is not None:
        module, _, function = loader.partition(":")
        if not module or not function:
            raise reader.error(
                where + "loader",
                f"{loader!r} is not 'module:function'; e.g. loader = 'features:load' (called "
                "with the dataset's path, returning a DataFrame or (X, y))",
            )
        for key in ("sep", "header", "columns"):
            if key in spec:
                raise reader.error(
                    where + key, "does not apply with 'loader' (the loader reads the file)"
                )
    delimited = (".csv", ".tsv", ".txt")
    files = [spec.get("path", ""), *([spec["reference"]] if "reference" in spec else [])]
    for key in ("sep", "header", "columns"):
        if key in spec and not any(Path(f).suffix.lower() in delimited for f in files):
            raise reader.error(
                where + key,
                f"applies to CSV/TSV files only, and {files[0]!r} is not one; remove {key!r}",
            )
    if features and drop:
        raise reader.error(
            where + "drop",
            "cannot be used with 'features' (features already lists every input the model "
            "gets); keep one of the two",
        )
    if target in features:
        raise reader.error(
            where + "features",
            f"lists the target {target!r}; the model must not be given its own label",
        )
    return {
        "sep": spec.get("sep"),
        "columns": columns,
        "features": features,
        "drop": drop,
        "loader": loader,
    }


_STAGING_KEYS = {
    "sample_rows": int,
    "load_requests": int,
    "load_concurrency": int,
    "load_seconds": float,
    "p95_ms": float,
    "max_error_rate": float,
}
_SERVE_KEYS = {"max_body_mb": float, "metrics": bool, "log_features": bool}
_EVALUATION_KEYS = {
    "resamples": int,
    "confidence": float,
    "seed": int,
    "ratchet": int,
    "segments": list,
    "engine": str,
}
_SPARK_KEYS = {"master": str, "conf": dict, "app_name": str}
_FAIRNESS_KEYS = {"min_group_size": int}
_APPROVAL_KEYS = {"approvers": list, "required": int, "identity": str, "allowed_signers": str}
_ROBUSTNESS_KEYS = {"examples": int, "invariant": list, "tolerance": float}
_COST_KEYS = {"warmup": int, "single_row_calls": int, "batch_rows": int, "batch_repeats": int}
_TYPE_NAMES = {
    str: "a string",
    list: "a list",
    dict: "a table",
    int: "an integer",
    bool: "true or false",
    float: "a number",
    (str, dict): "a string or a table",
}


class _Reader:
    """Validates one table, remembering where it came from for error messages."""

    def __init__(self, file: Path, prefix: str) -> None:
        self.file = file
        self.prefix = prefix

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, file=str(self.file), key=f"{self.prefix}{key}")

    def check_keys(self, table: Mapping[str, Any], schema: Mapping[str, type], where: str) -> None:
        for key, value in table.items():
            if key not in schema:
                close = difflib.get_close_matches(key, list(schema), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {sorted(schema)}"
                raise self.error(f"{where}{key}", f"unknown key in [{self._table(where)}]; {hint}")
            expected = schema[key]
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                continue  # 1 is a fine value for a number
            if (expected is int and isinstance(value, bool)) or not isinstance(value, expected):
                raise self.error(
                    f"{where}{key}",
                    f"must be {_TYPE_NAMES[expected]}, got {type(value).__name__} {value!r}",
                )

    def _table(self, where: str) -> str:
        base = self.prefix.rstrip(".") or "mlci.toml"
        return f"{base}.{where.rstrip('.')}" if where else base

    def choice(
        self, table: Mapping[str, Any], key: str, options: tuple[str, ...], where: str = ""
    ) -> None:
        if key in table and table[key] not in options:
            close = difflib.get_close_matches(str(table[key]), options, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"choose one of {list(options)}"
            raise self.error(where + key, f"{table[key]!r} is not valid; {hint}")

    def strings(self, values: list[Any], key: str) -> tuple[str, ...]:
        for value in values:
            if not isinstance(value, str):
                raise self.error(key, f"must be a list of strings, found {value!r}")
        return tuple(values)


_TRAINING_KEYS = {"mlflow_model": str, "experiment": str, "stage": str}


def _parse_training(reader: _Reader, table: Mapping[str, Any], artifact: str) -> TrainingSettings:
    """``[training]``: names checked here, so a typo fails before a long training run."""
    reader.check_keys(table, _TRAINING_KEYS, "training.")
    for key in _TRAINING_KEYS:
        if key in table and not table[key].strip():
            raise reader.error(f"training.{key}", "must not be empty; e.g. mlflow_model = 'model'")
    name = table.get("mlflow_model")
    if name is not None and ("/" in name or name in (".", "..")):
        raise reader.error(
            "training.mlflow_model",
            f"{name!r} is not a model name; use the name the training script passes to "
            "log_model(name=...), e.g. mlflow_model = 'model'",
        )
    if name is not None and artifact.lower().endswith(_FILE_MODEL_SUFFIXES):
        raise reader.error(
            "artifact",
            f"{artifact!r} names one model file, but with training.mlflow_model mlci "
            "materialises the MLflow model directory there; name it without a file "
            "extension, e.g. artifact = 'models/model'",
        )
    return TrainingSettings(
        mlflow_model=name, experiment=table.get("experiment"), stage=table.get("stage")
    )


def _parse_approvals(reader: _Reader, table: Mapping[str, Any], tier: Any) -> ApprovalSettings:
    """``[tool.mlci.approvals]``; signed (``identity = "ssh"``) is the default where promotion
    needs approvals (tier high), so turning it off is an explicit, visible choice."""
    if table.get("identity", "ssh") not in APPROVAL_IDENTITIES:
        raise reader.error(
            "approvals.identity",
            f"{table['identity']!r} is not valid; choose one of {list(APPROVAL_IDENTITIES)} "
            "(ssh / gpg: signed approvals; unverified: $MLCI_ACTOR or git user.email, not "
            "checked)",
        )
    identity = table.get("identity", "ssh" if tier == "high" else "unverified")
    default = DEFAULT_ALLOWED_SIGNERS + (".asc" if identity == "gpg" else "")
    signers = table.get("allowed_signers", default).strip()
    if not signers or Path(signers).is_absolute() or ".." in Path(signers).parts:
        raise reader.error(
            "approvals.allowed_signers",
            f"{signers!r} must be a path inside the repository, relative to the project root "
            f"(it is read from the promoted commit), e.g. allowed_signers = "
            f"'{DEFAULT_ALLOWED_SIGNERS}'",
        )
    return ApprovalSettings(
        approvers=reader.strings(table.get("approvers", []), "approvals.approvers"),
        required=table.get("required"),
        identity=identity,
        allowed_signers=signers,
    )


_CANARY_KEYS = {
    "steps": object,  # a list, or a table of lists per tier: checked below
    "min_samples": object,  # a number, or a list with one per step
    "min_seconds": object,
    "in_run": bool,
    "judge": dict,
    "traffic": dict,
}
_CANARY_JUDGE_KEYS = {
    "min_requests": int,
    "min_labels": int,
    "error_rate_margin": float,
    "quality_margin": float,
    "latency_effect": float,
    "p95_limit_ms": float,
    "alpha": float,
    "quality": bool,
    "regression_error": str,  # task = "regression": "absolute" (default) or "squared"
    "regression_margin": float,  # task = "regression": share of production's mean error
}
# key -> (lowest, highest, lowest allowed?, highest allowed?, example)
_CANARY_RANGES = {
    "judge.min_requests": (1, None, True, True, "min_requests = 200"),
    "judge.min_labels": (1, None, True, True, "min_labels = 100"),
    "judge.error_rate_margin": (0.0, 1.0, False, False, "error_rate_margin = 0.01"),
    "judge.quality_margin": (0.0, 1.0, False, False, "quality_margin = 0.02"),
    "judge.latency_effect": (0.0, 0.5, False, False, "latency_effect = 0.1"),
    "judge.p95_limit_ms": (0.0, None, False, True, "p95_limit_ms = 50"),
    "judge.alpha": (0.0, 0.5, False, False, "alpha = 0.05"),
    "judge.regression_margin": (0.0, 1.0, False, True, "regression_margin = 0.1"),
    "traffic.batch": (1, None, True, True, "batch = 500"),
    "traffic.max_requests_per_step": (1, None, True, True, "max_requests_per_step = 5000"),
    "traffic.rate": (0.0, None, True, True, "rate = 200 (0: as fast as the router answers)"),
    "traffic.concurrency": (1, 64, True, True, "concurrency = 4"),
    "traffic.label_fraction": (0.0, 1.0, True, True, "label_fraction = 0.6"),
    "traffic.label_lag": (0, None, True, True, "label_lag = 1"),
}
_CANARY_TRAFFIC_KEYS = {
    "batch": int,
    "max_requests_per_step": int,
    "rate": float,
    "concurrency": int,
    "label_fraction": float,
    "label_lag": int,
    "seed": int,
}


def _check_quality_keys(reader: _Reader, judge: Mapping[str, Any], task: Any) -> None:
    """The quality keys that fit the task: a margin meant for another task is never ignored.

    A classifier's quality is accuracy (``quality_margin``, in accuracy points); a regression
    model's is its mean absolute or squared error (``regression_error``, and
    ``regression_margin`` as a share of production's mean error).
    """
    error = judge.get("regression_error")
    if error is not None and error not in ("absolute", "squared"):
        raise reader.error(
            "canary.judge.regression_error",
            f'{error!r} is not valid; use "absolute" (mean absolute error, the default) or '
            '"squared" (mean squared error)',
        )
    if task == "regression" and "quality_margin" in judge:
        raise reader.error(
            "canary.judge.quality_margin",
            "is the accuracy margin of a classifier; for task = 'regression' the margin is "
            "relative to production's mean error: use regression_margin = 0.1 (10 %) instead",
        )
    if task in TASKS and task != "regression":
        for key in ("regression_error", "regression_margin"):
            if key in judge:
                raise reader.error(
                    f"canary.judge.{key}",
                    f"applies to task = 'regression' only; this model's task is '{task}', "
                    "whose quality margin is quality_margin (accuracy points)",
                )


def _canary_steps(reader: _Reader, value: Any, key: str) -> tuple[float, ...]:
    """One list of traffic shares: increasing, each in (0, 1], the last 1.0."""
    example = "e.g. steps = [0.05, 0.25, 0.5, 1.0]"
    if not isinstance(value, list) or not value:
        raise reader.error(key, f"must be a non-empty list of traffic shares; {example}")
    for share in value:
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise reader.error(key, f"{share!r} is not a share of traffic in (0, 1]; {example}")
    if any(value[i + 1] <= value[i] for i in range(len(value) - 1)):
        raise reader.error(key, f"must increase step by step, got {value}; {example}")
    if value[-1] != 1:
        raise reader.error(
            key, f"must end at 1.0 (all traffic) before promotion, got {value}; {example}"
        )
    return tuple(float(share) for share in value)


def _parse_canary(reader: _Reader, table: Mapping[str, Any], task: Any = None) -> CanarySettings:
    """``[canary]`` (keys and types of the nested tables checked here) -> CanarySettings."""
    reader.check_keys(table, _CANARY_KEYS, "canary.")
    judge = table.get("judge", {})
    reader.check_keys(judge, _CANARY_JUDGE_KEYS, "canary.judge.")
    _check_quality_keys(reader, judge, task)
    traffic = table.get("traffic", {})
    reader.check_keys(traffic, _CANARY_TRAFFIC_KEYS, "canary.traffic.")
    for key, (low, high, low_ok, high_ok, example) in _CANARY_RANGES.items():
        section, name = key.split(".")
        value = {"judge": judge, "traffic": traffic}[section].get(name)
        if value is None:
            continue
        if (value < low or (value == low and not low_ok)) or (
            high is not None and (value > high or (value == high and not high_ok))
        ):
            bound = f"{'at least' if low_ok else 'above'} {low}"
            if high is not None:
                bound += f" and {'at most' if high_ok else 'below'} {high}"
            raise reader.error(f"canary.{key}", f"must be {bound}, got {value!r}; e.g. {example}")
    raw_steps = table.get("steps", list(DEFAULT_CANARY_STEPS))
    if isinstance(raw_steps, dict):
        unknown = sorted(set(raw_steps) - set(TIERS))
        if unknown:
            raise reader.error(
                f"canary.steps.{unknown[0]}", f"is not a tier; use one of {list(TIERS)}"
            )
        steps = {
            tier: _canary_steps(reader, raw_steps[tier], f"canary.steps.{tier}")
            if tier in raw_steps
            else DEFAULT_CANARY_STEPS
            for tier in TIERS
        }
    else:
        shared = _canary_steps(reader, raw_steps, "canary.steps")
        steps = dict.fromkeys(TIERS, shared)
    minimums: dict[str, Any] = {}
    for key, kind in (("min_samples", int), ("min_seconds", float)):
        value = table.get(key, 0)
        example = f"e.g. {key} = 200 or {key} = [50, 200, 200, 500], one per step"
        listed = value if isinstance(value, list) else [value]
        for item in listed:
            number = isinstance(item, (int, float)) and not isinstance(item, bool)
            if not number or item < 0 or (kind is int and not isinstance(item, int)):
                raise reader.error(
                    f"canary.{key}", f"must be a non-negative number or a list; {example}"
                )
        if isinstance(value, list):
            lengths = {len(s) for s in steps.values()}
            if lengths != {len(value)}:
                raise reader.error(
                    f"canary.{key}",
                    f"lists {len(value)} values but the steps have {sorted(lengths)}; give one "
                    f"value per step, or a single number for every step",
                )
            minimums[key] = tuple(kind(v) for v in value)
        else:
            minimums[key] = kind(value)
    return CanarySettings(
        steps=steps,
        min_samples=minimums["min_samples"],
        min_seconds=minimums["min_seconds"],
        in_run=table.get("in_run"),
        judge={k: float(v) if _CANARY_JUDGE_KEYS[k] is float else v for k, v in judge.items()},
        traffic=CanaryTraffic(
            **{k: float(v) if _CANARY_TRAFFIC_KEYS[k] is float else v for k, v in traffic.items()}
        ),
    )


_AUDIT_KEYS = {
    "signing": str,
    "key_env": str,
    "ssh_key": str,
    "public_key": str,
    "anchors": list,
    "ledger_id": str,
    "s3_endpoint": str,
    "s3_retention_days": int,
}
_AUDIT_ANCHOR_WORDS = ("registry", "database")


def _parse_audit(reader: _Reader, table: Mapping[str, Any], root: Path) -> AuditSettings:
    """``[tool.mlci.audit]``: a signing mode whose key can be found, and anchors we know.

    Anchors without a key would be checkpoints anyone can write, so they need ``signing``.
    The key itself is never in the file: an env var name (hmac) or a key file path (ssh).
    """
    reader.check_keys(table, _AUDIT_KEYS, "audit.")
    signing = table.get("signing", "none")
    if signing not in AUDIT_SIGNING:
        raise reader.error(
            "audit.signing", f"{signing!r} is not valid; choose one of {list(AUDIT_SIGNING)}"
        )
    key_env = table.get("key_env", DEFAULT_AUDIT_KEY_ENV)
    if not key_env.replace("_", "").isalnum():
        raise reader.error("audit.key_env", f"{key_env!r} is not an environment variable name")

    def path(key: str) -> Path | None:
        value = table.get(key)
        return None if value is None else root / Path(value).expanduser()

    if signing == "ssh" and "public_key" not in table:
        raise reader.error(
            "audit.public_key",
            "signing = 'ssh' needs the public key that verifies checkpoints, committed with "
            "the project, e.g. public_key = '.mlci-audit.pub' (and ssh_key = the private key "
            "on the runner that signs)",
        )
    anchors = reader.strings(table.get("anchors", []), "audit.anchors")
    for anchor in anchors:
        known = anchor in _AUDIT_ANCHOR_WORDS or anchor.startswith(
            ("s3://", "postgresql://", "postgres://")
        )
        if not known:
            raise reader.error(
                "audit.anchors",
                f"{anchor!r} is not an anchor; use 'registry', 'database' (the configured "
                "PostgreSQL), 's3://bucket/prefix' or a postgresql:// URL",
            )
        if anchor.startswith("s3://") and not anchor[len("s3://") :].split("/")[0]:
            raise reader.error("audit.anchors", f"{anchor!r} names no bucket; e.g. s3://audit/mlci")
    if anchors and signing == "none":
        raise reader.error(
            "audit.signing",
            "anchors need signed checkpoints (anyone who can write an anchor could add "
            "unsigned ones); set signing = 'hmac' or 'ssh'",
        )
    retention = table.get("s3_retention_days", 2555)
    if retention < 1:
        raise reader.error("audit.s3_retention_days", "must be at least 1, e.g. 2555 (7 years)")
    return AuditSettings(
        signing=signing,
        key_env=key_env,
        ssh_key=path("ssh_key"),
        public_key=path("public_key"),
        anchors=anchors,
        ledger_id=table.get("ledger_id"),
        s3_endpoint=table.get("s3_endpoint"),
        s3_retention_days=retention,
    )


_METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_USER_METRIC_KEYS = {"function": str, "greater_is_better": bool}


def _parse_user_metrics(reader: _Reader, table: Mapping[str, Any]) -> dict[str, UserMetricSpec]:
    """``[tool.mlci.metrics]``: names checked here, functions imported when a gate uses one."""
    from pytest_mlci.evaluation.metrics import is_builtin

    metrics = {}
    for name, value in table.items():
        key = f"metrics.{name}"
        if not _METRIC_NAME.match(name):
            raise reader.error(key, "a metric name is letters, digits and '_', e.g. pr_at_10")
        if is_builtin(name):
            raise reader.error(key, f"'{name}' is a built-in metric; give yours another name")
        if isinstance(value, dict):
            reader.check_keys(value, _USER_METRIC_KEYS, f"{key}.")
            value, better = value.get("function"), value.get("greater_is_better", True)
        else:
            better = True
        if not isinstance(value, str) or value.count(":") != 1 or value.startswith(":"):
            raise reader.error(
                key,
                "must name a function as 'module:function' taking (y_true, y_score) and "
                "returning a number, e.g. pr_at_10 = 'my_metrics:precision_at_10'",
            )
        metrics[name] = UserMetricSpec(name, value, better)
    return metrics


def find_config_file(start: Path | None = None) -> Path | None:
    """The nearest ``mlci.toml``, or ``pyproject.toml`` with a ``[tool.mlci]`` table, upwards."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "mlci.toml"
        if candidate.is_file():
            return candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and "[tool.mlci" in pyproject.read_text(encoding="utf-8"):
            return pyproject
    return None


def child_env(config: MlciConfig) -> dict[str, str] | None:
    """The environment of a process mlci starts for ``config`` (the evaluation's pytest, the
    staging probe, the router): in a many-model repository it names the model in
    ``$MLCI_MODEL``; otherwise None, the parent's environment unchanged."""
    if not config.multi:
        return None
    return {**os.environ, MODEL_ENV: config.name}


def load_config(
    path: Path | None = None, *, start: Path | None = None, model: str | None = None
) -> MlciConfig:
    """Load and validate the configuration of one model; raise :class:`ConfigError` naming
    what to fix. In a many-model repository ``model`` (else ``$MLCI_MODEL``) picks it."""
    from pytest_mlci.project import load_project

    return load_project(path, start=start).select(model)


def parse_config(
    table: Mapping[str, Any], *, root: Path, source: Path, prefix: str = ""
) -> MlciConfig:
    """Validate an already-parsed table (the body of ``[tool.mlci]`` or of ``mlci.toml``)."""
    reader = _Reader(source, prefix)
    reader.check_keys(table, _TOP_KEYS, "")
    for key in _REQUIRED:
        if key not in table:
            raise reader.error(key, f"is required; add e.g. {key} = {_EXAMPLES[key]!r}")
    reader.choice(table, "task", TASKS)
    reader.choice(table, "tier", TIERS)
    reader.choice(table, "on_missing_baseline", BASELINE_POLICIES)
    reader.choice(table, "on_incompatible_baseline", INCOMPATIBLE_POLICIES)
    reader.choice(table, "flavour", FLAVOURS)
    flavour = table.get("flavour", "auto")
    if flavour == "custom" and "predict" not in table:
        raise reader.error(
            "predict",
            "is required with flavour = 'custom'; name the function that scores rows, "
            "e.g. predict = 'my_model:predict' (called as predict(model, X))",
        )
    if ("predict" in table or "model_loader" in table) and flavour not in ("auto", "custom"):
        raise reader.error(
            "flavour",
            f"is {flavour!r}, but predict/model_loader are set; they define the 'custom' "
            "flavour: set flavour = 'custom' (or remove them)",
        )

    static_table = table.get("static", {})
    reader.check_keys(static_table, _STATIC_KEYS, "static.")
    if static_table.get("confidence", "high") not in ("high", "medium"):
        raise reader.error(
            "static.confidence",
            f"is {static_table['confidence']!r}; choose 'high' (the default: findings the code "
            "shows) or 'medium' (also findings that may be problems)",
        )
    per_file: dict[str, tuple[str, ...]] = {}
    for pattern, codes in static_table.get("per-file-ignores", {}).items():
        if not isinstance(codes, list):
            raise reader.error(f"static.per-file-ignores.{pattern}", "must be a list of codes")
        per_file[pattern] = reader.strings(codes, f"static.per-file-ignores.{pattern}")
    static = StaticSettings(
        paths=reader.strings(static_table.get("paths", []), "static.paths"),
        select=reader.strings(static_table.get("select", []), "static.select"),
        ignore=reader.strings(static_table.get("ignore", []), "static.ignore"),
        per_file_ignores=per_file,
        confidence=static_table.get("confidence", "high"),
    )

    spark = _parse_spark(reader, table.get("spark", {}))
    datasets: dict[str, DatasetConfig] = {}
    for name, spec in table.get("datasets", {}).items():
        where = f"datasets.{name}."
        if not isinstance(spec, dict):
            raise reader.error(f"datasets.{name}", "must be a table with at least 'path'")
        reader.check_keys(spec, _DATASET_KEYS, where)
        if "path" not in spec and "table" not in spec:
            raise reader.error(where + "path", "is required; e.g. path = 'data/test.parquet'")
        parsed = _parse_dataset(reader, name, spec, root=root, target=table["target"])
        datasets[name] = _with_engine(reader, parsed, spec, spark, root=root)

    metrics = _parse_user_metrics(reader, table.get("metrics", {}))
    gates = []
    for metric, expressions in table.get("gates", {}).items():
        # One gate ("roc_auc = '>= 0.8'") or several on the same metric (a list).
        listed = expressions if isinstance(expressions, list) else [expressions]
        for expression in listed:
            if not isinstance(expression, str) or not expression.strip():
                raise reader.error(
                    f"gates.{metric}",
                    "must be a comparison string such as '>= 0.8' or '>= baseline - 0.01', "
                    "or a list of them",
                )
            gates.append(GateSpec(metric=metric, expression=expression.strip()))

    staging_table = table.get("staging", {})
    reader.check_keys(staging_table, _STAGING_KEYS, "staging.")
    serve_table = table.get("serve", {})
    reader.check_keys(serve_table, _SERVE_KEYS, "serve.")
    max_body_mb = float(serve_table.get("max_body_mb", DEFAULT_MAX_BODY_MB))
    if not 0 < max_body_mb <= MAX_BODY_MB_LIMIT:
        raise reader.error(
            "serve.max_body_mb",
            f"must be above 0 and at most {MAX_BODY_MB_LIMIT:g} (MB), got {max_body_mb:g}; "
            "e.g. max_body_mb = 5",
        )
    evaluation_table = table.get("evaluation", {})
    reader.check_keys(evaluation_table, _EVALUATION_KEYS, "evaluation.")
    reader.choice(evaluation_table, "engine", ENGINES, where="evaluation.")
    evaluation = EvaluationSettings(
        **{
            **evaluation_table,
            "segments": reader.strings(evaluation_table.get("segments", []), "evaluation.segments"),
        }
    )
    if evaluation.resamples < 100:
        raise reader.error("evaluation.resamples", "must be at least 100 for a usable interval")
    if not 0.5 < evaluation.confidence < 1:
        raise reader.error("evaluation.confidence", "must be between 0.5 and 1, e.g. 0.95")
    fairness_table = table.get("fairness", {})
    reader.check_keys(fairness_table, _FAIRNESS_KEYS, "fairness.")
    cost_table = table.get("cost", {})
    reader.check_keys(cost_table, _COST_KEYS, "cost.")
    approvals_table = table.get("approvals", {})
    reader.check_keys(approvals_table, _APPROVAL_KEYS, "approvals.")
    approvals = _parse_approvals(reader, approvals_table, table.get("tier", "medium"))
    if table.get("tier") == "high" and not approvals.approvers:
        raise reader.error(
            "approvals.approvers",
            "tier 'high' needs the list of people who may approve; add "
            "[tool.mlci.approvals] approvers = ['alice@example.com', 'bob@example.com']",
        )
    robustness_table = table.get("robustness", {})
    reader.check_keys(robustness_table, _ROBUSTNESS_KEYS, "robustness.")
    robustness = RobustnessSettings(
        examples=robustness_table.get("examples", 100),
        invariant=reader.strings(robustness_table.get("invariant", []), "robustness.invariant"),
        tolerance=robustness_table.get("tolerance", 0.05),
        enabled="robustness" in table,
    )

    canary = _parse_canary(reader, table.get("canary", {}), table.get("task"))
    audit = _parse_audit(reader, table.get("audit", {}), root)
    training = _parse_training(reader, table.get("training", {}), table["artifact"])
    database = os.environ.get(DATABASE_ENV) or table.get("database")
    if database is not None and not database.startswith(DATABASE_SCHEMES):
        where = f"${DATABASE_ENV}" if os.environ.get(DATABASE_ENV) else "database"
        raise reader.error(
            "database" if where == "database" else where,
            "the ledger and lock database must be a PostgreSQL URL, e.g. "
            "database = 'postgresql://mlci@db.internal:5432/mlci' (or set $MLCI_DATABASE)",
        )
    shared = [a for a in audit.anchors if a == "database" or a.startswith(DATABASE_SCHEMES)]
    if database and audit.signing != "none" and not shared:
        # Each runner's local checkpoint log stays on its own disk: without one shared,
        # insert-only anchor, verifying elsewhere would see other runners' records unsigned.
        raise reader.error(
            "audit.anchors",
            "a shared PostgreSQL ledger with signed checkpoints needs them in one place every "
            "runner writes: add anchors = ['database'] (an insert-only table an administrator "
            "creates, see docs/governance.md 'What the audit trail proves')",
        )

    strategy = _parse_strategy(reader, table.get("strategy", "canary"), table.get("tier", "medium"))
    environments = _parse_environments(reader, table.get("environments", {}))
    blue_green_table = table.get("blue_green", {})
    reader.check_keys(blue_green_table, _BLUE_GREEN_KEYS, "blue_green.")
    blue_green = BlueGreenSettings(**blue_green_table)
    if (
        blue_green.warm_requests < 1
        or blue_green.soak_seconds < 0
        or not 0 < blue_green.latency_effect < 0.5
    ):
        raise reader.error(
            "blue_green",
            "warm_requests must be at least 1, soak_seconds 0 or more and latency_effect "
            "between 0 and 0.5, e.g. warm_requests = 100, soak_seconds = 600",
        )
    owners = reader.strings(table.get("owners", []), "owners")
    return MlciConfig(
        root=root,
        source=source,
        model=table["model"],
        task=table["task"],
        target=table["target"],
        artifact=root / table["artifact"],
        tier=table.get("tier", "medium"),
        # CI runners point at the team's server through a secret, not a committed file.
        registry=os.environ.get(REGISTRY_ENV) or table.get("registry", DEFAULT_REGISTRY),
        database=database,
        on_missing_baseline=table.get("on_missing_baseline", "fail"),
        on_incompatible_baseline=table.get("on_incompatible_baseline", "fail"),
        tests=reader.strings(table.get("tests", []), "tests"),
        static=static,
        datasets=datasets,
        gates=tuple(gates),
        metrics=metrics,
        staging_sample_rows=staging_table.get("sample_rows", 200),
        staging=StagingSettings(**{k: v for k, v in staging_table.items() if k != "sample_rows"}),
        serve=ServeSettings(
            max_body_mb=max_body_mb,
            metrics=serve_table.get("metrics", True),
            log_features=serve_table.get("log_features", True),
        ),
        evaluation=evaluation,
        trusted_types=reader.strings(table.get("trusted_types", []), "trusted_types"),
        allow_pickle=table.get("allow_pickle", False),
        flavour="custom" if "predict" in table else flavour,
        model_loader=table.get("model_loader"),
        predict=table.get("predict"),
        fairness=FairnessSettings(**fairness_table),
        cost=CostSettings(**cost_table),
        robustness=robustness,
        approvals=approvals,
        canary=canary,
        audit=audit,
        training=training,
        spark=spark,
        owners=owners,
        paths=reader.strings(table.get("paths", []), "paths"),
        strategy=strategy,
        environments=environments,
        blue_green=blue_green,
    )


def _parse_strategy(reader: _Reader, value: Any, tier: Any) -> str:
    """``strategy``: one name, or a table by tier (``{ high = "blue-green" }``, the others
    ``canary``), so a team template can release every high-risk model one way."""
    if isinstance(value, dict):
        for key in value:
            if key not in TIERS:
                raise reader.error(f"strategy.{key}", f"is not a tier; use {list(TIERS)}")
            reader.choice(value, key, STRATEGIES, where="strategy.")
        return str(value.get(tier, "canary"))
    reader.choice({"strategy": value}, "strategy", STRATEGIES)
    return str(value)


_BLUE_GREEN_KEYS = {"warm_requests": int, "soak_seconds": float, "latency_effect": float}
_ENVIRONMENT_KEYS = {"requires": list, "soak_minutes": float}


def _parse_environments(
    reader: _Reader, table: Mapping[str, Any]
) -> tuple[EnvironmentSettings, ...]:
    """``[environments]``: ``chain`` in promotion order, ending at production, and one table
    per environment with what entering it requires."""
    if not table:
        return DEFAULT_ENVIRONMENTS
    chain = table.get("chain")
    example = "chain = ['dev', 'staging', 'preprod', 'production']"
    if not isinstance(chain, list) or not chain:
        raise reader.error("environments.chain", f"is required, a list such as {example}")
    names = reader.strings(chain, "environments.chain")
    if names[-1] != "production" or len(set(names)) != len(names):
        raise reader.error(
            "environments.chain",
            f"must name each environment once and end at 'production', e.g. {example}",
        )
    for name in names:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in RESERVED_ALIASES:
            raise reader.error(
                "environments.chain",
                f"{name!r} cannot name an environment (it becomes a registry alias): use "
                f"lower-case letters, digits and _, and none of {sorted(RESERVED_ALIASES)}",
            )
    for key, value in table.items():
        if key == "chain":
            continue
        if key not in names:
            raise reader.error(
                f"environments.{key}",
                f"is not in environments.chain {list(names)}; add it there or remove the table",
            )
        if not isinstance(value, dict):
            raise reader.error(f"environments.{key}", "must be a table (requires, soak_minutes)")
        reader.check_keys(value, _ENVIRONMENT_KEYS, f"environments.{key}.")
        for check in value.get("requires", []):
            if check not in ENVIRONMENT_CHECKS:
                raise reader.error(
                    f"environments.{key}.requires",
                    f"{check!r} is not a check; choose from {list(ENVIRONMENT_CHECKS)}",
                )
        if value.get("soak_minutes", 0) < 0:
            raise reader.error(f"environments.{key}.soak_minutes", "must be 0 or more minutes")
    if "soak_minutes" in table.get(names[0], {}):
        raise reader.error(
            f"environments.{names[0]}.soak_minutes",
            "the first environment has no environment before it to soak in; remove the key",
        )
    return tuple(
        EnvironmentSettings(
            name,
            reader.strings(
                table.get(name, {}).get("requires", []), f"environments.{name}.requires"
            ),
            float(table.get(name, {}).get("soak_minutes", 0.0)),
        )
        for name in names
    )


#: Aliases mlci itself uses; an environment of the chain may not take one of these names.
RESERVED_ALIASES = frozenset({"candidate", "previous", "latest"})


def _parse_spark(reader: _Reader, table: Mapping[str, Any]) -> SparkSettings:
    """``[tool.mlci.spark]``; ``$MLCI_SPARK_MASTER`` overrides ``master`` (one config, many
    clusters: a laptop, a CI runner in local mode, a Databricks job)."""
    reader.check_keys(table, _SPARK_KEYS, "spark.")
    conf: dict[str, str] = {}
    for key, value in table.get("conf", {}).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, (str, int, float)):
            raise reader.error(
                f"spark.conf.{key}",
                f"must be a string or a number, got {type(value).__name__}; "
                'e.g. conf = { "spark.driver.memory" = "4g" }',
            )
        conf[str(key)] = str(value)
    master = os.environ.get(SPARK_MASTER_ENV) or table.get("master", SparkSettings.master)
    if not master.strip():
        raise reader.error("spark.master", "is empty; e.g. master = 'local[*]' or 'yarn'")
    return SparkSettings(
        master=master, conf=conf, app_name=table.get("app_name", SparkSettings.app_name)
    )


def is_uri(location: str) -> bool:
    """``s3a://bucket/x``, ``hdfs://...``, ``dbfs:/...``: a location only Spark can read."""
    scheme, colon, _ = location.partition(":")
    return bool(colon) and len(scheme) > 1 and scheme.replace("+", "").isalnum()


def _with_engine(
    reader: _Reader,
    dataset: DatasetConfig,
    spec: Mapping[str, Any],
    spark: SparkSettings,
    *,
    root: Path,
) -> DatasetConfig:
    """Add the engine keys (``engine``, ``table``, ``reference_table``, ``format``).

    Why every dataset gets a Spark location, not only Spark ones: ``[tool.mlci.evaluation]
    engine = "spark"`` reads the evaluation dataset through Spark whatever its own checks use.
    A table name or a URI needs ``engine = "spark"``: nothing on this machine can read them.
    """
    where = f"datasets.{dataset.name}."
    reader.choice(spec, "engine", ENGINES, where=where)
    engine = spec.get("engine", "local")
    reader.choice(spec, "format", SPARK_FORMATS, where=where)
    spark_only = [key for key in ("table", "reference_table", "format") if key in spec]
    uris = [key for key in ("path", "reference") if key in spec and is_uri(spec[key])]
    if engine != "spark" and (spark_only or uris):
        key = (spark_only or uris)[0]
        raise reader.error(
            where + key,
            f"is read by Spark only; add engine = 'spark' to [datasets.{dataset.name}] "
            "(and [tool.mlci.spark] master) or use a local file path",
        )
    for one, other in (("path", "table"), ("reference", "reference_table")):
        if one in spec and other in spec:
            raise reader.error(where + other, f"cannot be used with '{one}'; keep one of the two")
    if engine == "spark" and dataset.loader:
        raise reader.error(
            where + "loader",
            "does not apply with engine = 'spark' (a loader returns data in this process); "
            "point 'path' or 'table' at the data Spark reads",
        )

    def location(path_key: str, table_key: str) -> str | None:
        if table_key in spec:
            return str(spec[table_key])
        if path_key not in spec:
            return None
        raw = str(spec[path_key])
        return raw if is_uri(raw) else str(root / raw)

    tabled = "table" in spec or "reference_table" in spec
    if tabled and "format" in spec:
        raise reader.error(where + "format", "does not apply to a table (the catalog knows)")
    path = dataset.path
    if "table" in spec or "path" in uris:
        path = root / ".mlci" / "spark-only" / dataset.name  # nothing local: never a file here
    reference = dataset.reference
    if "reference_table" in spec:
        reference = root / ".mlci" / "spark-only" / f"{dataset.name}.reference"
    return replace(
        dataset,
        path=path,
        reference=reference,
        engine=engine,
        location=location("path", "table"),
        reference_location=location("reference", "reference_table"),
        format="table" if "table" in spec else spec.get("format"),
        reference_format="table" if "reference_table" in spec else spec.get("format"),
        spark=spark,
    )


_EXAMPLES = {
    "model": "conversion",
    "task": "binary_classification",
    "target": "converted",
    "artifact": "models/model.skops",
}
