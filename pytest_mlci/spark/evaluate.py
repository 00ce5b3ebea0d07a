"""Evaluation on Spark: the models score the rows on the executors, metrics come from sums.

One pass over the evaluation data: ``mapInPandas`` gives each executor a partition's Arrow
batches; it scores them with the candidate and the production model (the same
:func:`~pytest_mlci.evaluation.scoring.score` the local engine calls, so labels, positive class
and score columns are the same) and adds the batch's statistics
(:mod:`pytest_mlci.evaluation.sufficient`: confusion counts, score-bin counts, loss and error
sums for the point estimate and for every Poisson-bootstrap resample, both models under the
same row weights). Partitions return one statistics block each; Spark merges them in a
``groupBy`` (a tree of sums), and the driver turns the merged sums into estimates and the
gates judge them as they judge the local engine's.

Before the pass, a seeded sample of rows is scored on the driver to place the score-bin edges
(quantiles of each model's positive-class score) and to learn whether the models give scores;
the models travel to the executors pickled inside the task (Spark broadcasts a large task
binary once per executor) and each executor's Python worker unpickles a model once, however
many partitions it scores.

What the Spark engine does not compute: user metrics, ``top_<k>_accuracy``, fairness gates,
"best of the last N versions" gates, segment tables. A gate on one of them fails with the
reason (fail closed) rather than being judged on a sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pytest_mlci.errors import CheckFailed, DataError, MlciError

#: Rows scored on the driver to place score-bin edges (and to check the models run at all).
EDGE_SAMPLE_ROWS = 50_000
_BLOCK = "part long, resampled binary, fine binary"


def unsupported_reason(name: str, task: str, user_metrics: Any) -> str | None:
    """Why the Spark engine cannot compute metric ``name`` (None when it can)."""
    from pytest_mlci.evaluation.sufficient import SUPPORTED

    if name in SUPPORTED.get(task, ()):
        return None
    if name in user_metrics:
        kind = "a project metric (a Python function of all rows)"
    elif name.startswith("fairness."):
        kind = "a fairness gap"
    else:
        kind = "not one of the metrics computed from sums"
    supported = ", ".join(SUPPORTED.get(task, ()))
    return (
        f"{name} is {kind}; the Spark engine computes {supported}. Judge this gate with "
        "[tool.mlci.evaluation] engine = 'local', or remove it"
    )


def spark_statistics(evaluation: Any) -> tuple[Any, Any]:
    """(layout, merged statistics) of the evaluation data on Spark, both models in one pass."""
    from pyspark.sql import functions as F

    from pytest_mlci.data.loading import model_input
    from pytest_mlci.evaluation import sufficient
    from pytest_mlci.spark.data_checks import partition_schema_failures, sample_rows
    from pytest_mlci.spark.session import import_paths, job_failures

    config = evaluation.config
    dataset = config.eval_dataset
    frame = evaluation.spark_frame
    target = dataset.target or config.target
    if target not in frame.columns:
        raise DataError(f"{dataset.location}: no target column '{target}' (key 'target')")
    if dataset.schema:
        failures = partition_schema_failures(frame, evaluation.schema)
        if failures:
            lines = "\n".join(f"  {f.describe()}" for f in failures[:10])
            raise DataError(f"{dataset.location}: evaluation data fails its schema:\n{lines}")
    models = [evaluation.model]
    baseline = evaluation.comparable_baseline
    if baseline.model is not None and baseline.status == "present":
        models.append(baseline.model)
    task = config.task
    sample = sample_rows(frame, frame.columns, EDGE_SAMPLE_ROWS)
    classes: tuple[Any, ...] = (0, 1)
    if task == "multiclass":
        classes = tuple(evaluation.class_labels.tolist())
    scored = [_score_sample(m, model_input(sample, dataset, target), task, classes, dataset)
              for m in models]  # fmt: skip
    coarse: tuple[Any, ...] = ()
    fine: tuple[Any, ...] = ()
    if task == "binary_classification" and all(p.y_score is not None for p in scored):
        coarse = tuple(sufficient.score_edges(p.y_score, sufficient.COARSE_BINS) for p in scored)
        fine = tuple(sufficient.score_edges(p.y_score, sufficient.FINE_BINS) for p in scored)
    settings = config.evaluation
    layout = sufficient.Layout.build(task, len(models), classes, settings.resamples,
                                     settings.seed, coarse, fine)  # fmt: skip
    positive = evaluation.positive_class if task == "binary_classification" else None

    shipped = [_ShippedModel(model) for model in models]
    paths = import_paths()

    def partition(batches: Iterator[Any]) -> Iterator[Any]:
        loaded = [model.load(paths) for model in shipped]
        return _score_partition(batches, layout, loaded, dataset, target, positive)

    with job_failures(f"scoring {dataset.location}"):
        blocks = frame.mapInPandas(partition, _BLOCK)
        groups = max(1, int(blocks.rdd.getNumPartitions() ** 0.5)) if _has_rdd(frame) else 8
        merged = (
            blocks.withColumn("part", F.col("part") % groups)
            .groupBy("part")
            .applyInPandas(lambda b: _sum_blocks(b, layout), _BLOCK)
            .collect()
        )
    total = sufficient.empty(layout)
    for row in merged:
        total = total.merge(_decode(row, layout))
    if total.resampled[0, layout.offsets["rows"]] == 0:
        raise DataError(f"{dataset.location}: the evaluation data has no rows")
    evaluation.spark_scoring = {"candidate": scored[0].how}
    if len(scored) > 1:
        evaluation.spark_scoring["baseline"] = scored[1].how
    evaluation.spark_has_scores = [p.y_score is not None for p in scored]
    return layout, total


#: Models an executor's Python worker has unpickled, by content digest: Spark reuses a worker
#: for many tasks, so each model is rebuilt once per worker, not once per partition.
_WORKER_MODELS: dict[str, Any] = {}


class _ShippedModel:
    """A model as it travels to the executors: pickled bytes and their digest.

    Why bytes and not the object: a task's closure is unpickled for every partition; bytes
    cost a copy, while the model itself is rebuilt only when this worker has not seen it.
    """

    def __init__(self, model: Any) -> None:
        import hashlib

        from pyspark import cloudpickle

        try:
            self.payload = cloudpickle.dumps(model)
        except Exception as exc:
            raise CheckFailed(
                f"the model cannot be sent to the Spark executors ({type(exc).__name__}: "
                f"{exc}); the Spark engine ships models pickled"
            ) from exc
        self.digest = hashlib.sha256(self.payload).hexdigest()

    def load(self, paths: list[str]) -> Any:
        from pytest_mlci.spark.session import on_worker

        if self.digest not in _WORKER_MODELS:
            _WORKER_MODELS[self.digest] = on_worker(paths, self.payload)
        return _WORKER_MODELS[self.digest]


def _score_sample(model: Any, X: Any, task: str, classes: tuple[Any, ...], dataset: Any) -> Any:
    """The driver's scores of the edge sample; a model that raises fails as the local
    engine's does (``CheckFailed`` naming the data), not with a traceback."""
    from pytest_mlci.evaluation.scoring import score

    try:
        return score(model, X, task, _labels(task, classes))
    except MlciError:
        raise
    except Exception as exc:
        raise CheckFailed(
            f"the model failed to predict on {dataset.location}: {type(exc).__name__}: {exc}"
        ) from exc


def _labels(task: str, classes: tuple[Any, ...]) -> Any:
    import numpy as np

    return np.asarray(classes) if task == "multiclass" else None


def _has_rdd(frame: Any) -> bool:
    """Classic Spark (not Spark Connect) exposes the RDD and its partition count."""
    try:
        frame.rdd  # noqa: B018 - raises under Spark Connect
    except Exception:
        return False
    return True


def _score_partition(batches: Iterator[Any], layout: Any, models: list[Any], dataset: Any,
                     target: str, positive: Any) -> Iterator[Any]:  # fmt: skip
    """Runs on an executor: score each batch with every model, add up its statistics."""
    import numpy as np
    import pandas as pd
    from pyspark import TaskContext

    from pytest_mlci.data.loading import model_input
    from pytest_mlci.evaluation import sufficient
    from pytest_mlci.evaluation.scoring import score

    total = sufficient.empty(layout)
    labels = np.asarray(layout.classes) if layout.task == "multiclass" else None
    for batch in batches:
        if batch.empty:
            continue
        keys = sufficient.row_keys(batch)
        X = model_input(batch, dataset, target)
        predictions = [score(model, X, layout.task, labels) for model in models]
        y = batch[target].to_numpy()
        if layout.task == "binary_classification":
            y = (y == positive).astype(np.int64)
        total = total.merge(sufficient.accumulate(layout, y, predictions, keys))
    context = TaskContext.get()
    part = context.partitionId() if context is not None else 0
    yield pd.DataFrame({"part": [part], "resampled": [total.resampled.tobytes()],
                        "fine": [total.fine.tobytes()]})  # fmt: skip


def _decode(row: Any, layout: Any) -> Any:
    import numpy as np

    from pytest_mlci.evaluation import sufficient

    shape = sufficient.empty(layout)
    resampled = np.frombuffer(row["resampled"], dtype=np.float64).reshape(shape.resampled.shape)
    fine = np.frombuffer(row["fine"], dtype=np.float64).reshape(shape.fine.shape)
    return sufficient.Statistics(resampled.copy(), fine.copy())


def _sum_blocks(blocks: Any, layout: Any) -> Any:
    """Runs on an executor: add the statistics blocks of one group of partitions."""
    import pandas as pd

    from pytest_mlci.evaluation import sufficient

    total = sufficient.empty(layout)
    for _, row in blocks.iterrows():
        total = total.merge(_decode(row, layout))
    part = int(blocks["part"].iloc[0]) if len(blocks) else 0
    return pd.DataFrame({"part": [part], "resampled": [total.resampled.tobytes()],
                         "fine": [total.fine.tobytes()]})  # fmt: skip


def check_scores(evaluation: Any, name: str) -> None:
    """A score-ranked metric needs scores from both models (the local engine's message)."""
    from pytest_mlci.evaluation.metrics import get_metric

    if not get_metric(name, evaluation.config.task).needs_score:
        return
    for who, has, how in zip(
        ("the candidate", "production"),
        evaluation.spark_has_scores,
        (evaluation.spark_scoring.get("candidate"), evaluation.spark_scoring.get("baseline")),
        strict=False,
    ):
        if not has:
            raise CheckFailed(
                f"{name} ranks rows by score, and {who} gives labels only ({how}); gate on "
                "accuracy/f1/precision/recall, or make the model return probabilities"
            )
