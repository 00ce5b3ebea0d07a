"""The data checks of one dataset on Spark: the local engine's rows, from Spark aggregations.

Every check returns the :class:`~pytest_mlci.data.results.CheckRow` rows the local engine
returns, judged by the same functions (``quality_rows``, ``check_volume``, ``check_freshness``,
``streamed_numeric_rows``, ``categorical_rows``), so a report reads the same whichever engine
ran. What differs is only where the numbers come from:

* **Schema**: the project's pandera schema (the pandas one it already has) is applied to each
  partition on the executors with ``mapInPandas``; failures come back as (column, check,
  count) and are merged as the streamed local engine merges record batches (row-level
  failures add up, frame-level ones count once). Why not ``pandera.pyspark``: it needs a
  second schema written in its own API, does not import with pandas 3, never raises (errors
  sit in ``df.pandera.errors``) and reports no failure counts; pandera on the pandas-on-Spark
  API converts every partition through pandas-on-Spark and was 24 times slower in our lab.
  As in the streamed engine, a check that needs the whole column (``unique=True``) is judged
  per partition.
* **Volume, quality, freshness**: one ``agg`` pass: row count, nulls (and NaN) per column,
  minimum and maximum per column (a constant column has min = max), the newest timestamp;
  label counts with one ``groupBy``. Duplicate rows are counted exactly as ``count(*) - number
  of distinct row hashes`` with a 64-bit ``xxhash64`` of every value and its null flag (the
  flag keeps ``(null, 1)`` and ``(1, null)`` apart); the local engine streams 64-bit hashes too.
* **Drift**: the same mergeable sketches as the streamed local engine
  (:mod:`pytest_mlci.data.stats`): fine bin edges at the quantiles of a seeded reference
  sample (``SAMPLE_ROWS`` rows), each partition counted into those bins by
  :class:`~pytest_mlci.data.stats.NumericSketch` on the executor and merged by a Spark
  ``groupBy``; categorical columns counted exactly by ``groupBy``. So the KS, PSI and
  Wasserstein bounds documented there hold here too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from pytest_mlci.config import DatasetConfig
from pytest_mlci.data.results import FAIL, CheckRow, no_columns_row

_SCHEMA_ROWS = "column string, check string, failures long, row_level boolean"
_SKETCH_ROWS = "col int, bin int, n long, s double, ss double, lo double, hi double"
_SORTABLE = (
    "string",
    "boolean",
    "date",
    "timestamp",
    "timestamp_ntz",
    "byte",
    "short",
    "integer",
    "long",
    "float",
    "double",
    "decimal",
)


class SparkDataset:
    """One dataset read through Spark; each check is one or two Spark jobs."""

    def __init__(self, dataset: DatasetConfig, *, classification: bool) -> None:
        from pytest_mlci.spark.session import spark_session

        assert dataset.spark is not None
        self.dataset = dataset
        self.classification = classification
        self.spark = spark_session(dataset.spark, key=f"datasets.{dataset.name}.engine")
        self._frames: dict[str, Any] = {}
        self._summary: dict[str, Any] | None = None

    def frame(self, which: str = "current") -> Any:
        """The current (or reference) data as a Spark DataFrame (lazy: nothing is read yet)."""
        from pytest_mlci.errors import DataError
        from pytest_mlci.spark.session import read

        if which not in self._frames:
            dataset = self.dataset
            if which == "current":
                location, kind, key = dataset.location, dataset.format, "path"
            else:
                location, kind = dataset.reference_location, dataset.reference_format
                key = "reference"
            if location is None:
                raise DataError(f"dataset '{dataset.name}' declares no {which} data")
            self._frames[which] = read(self.spark, location, kind, dataset=dataset, key=key)
        return self._frames[which]

    @property
    def where(self) -> str:
        return self.dataset.location or self.dataset.name

    def job(self, doing: str) -> Any:
        """Spark failures inside say what was being done to which data (session.job_failures)."""
        from pytest_mlci.spark.session import job_failures

        return job_failures(f"{doing} {self.where}")

    # ------------------------------------------------------------------ one pass

    def summary(self) -> dict[str, Any]:
        """Row count, nulls, extremes and newest timestamp of every column in one job."""
        if self._summary is None:
            with self.job("summarising"):
                self._summary = _summarise(self.frame(), self.dataset.timestamp)
        return self._summary

    def rows(self) -> int:
        return int(self.summary()["rows"])

    # ------------------------------------------------------------------ checks

    def schema(self, schema: Any) -> tuple[int, list[Any]]:
        """(rows, merged failures) of ``schema`` applied to every partition."""
        rows = self.rows()
        with self.job("validating the schema of"):
            return rows, partition_schema_failures(self.frame(), schema)

    def quality(self) -> list[CheckRow]:
        from pytest_mlci.data.quality import QualityTally, duplicate_row, quality_rows

        summary = self.summary()
        frame = self.frame()
        target = self.dataset.target if self.classification else None
        tally = QualityTally(target=target, rows=summary["rows"])
        for column, facts in summary["columns"].items():
            tally.columns.append(column)
            tally.nulls[column] = facts["nulls"]
            if facts["low"] is None:
                continue
            if facts["numeric"]:
                tally.low[column], tally.high[column] = facts["low"], facts["high"]
            else:
                distinct = [facts["low"]] + (
                    [facts["high"]] if facts["high"] != facts["low"] else []
                )
                tally.seen[column] = distinct
        with self.job("counting labels and repeated rows of"):
            if target is not None and target in summary["columns"]:
                counts = frame.where(frame[target].isNotNull()).groupBy(target).count().collect()
                tally.labels = {row[0]: int(row[1]) for row in counts}
            duplicates = count_duplicate_rows(frame) if summary["rows"] else 0
        row = duplicate_row(
            duplicates,
            summary["rows"],
            self.dataset.max_duplicate_rate,
            "Spark: counted from 64-bit row hashes",
        )
        return quality_rows(tally, row, self.dataset)

    def newest(self) -> float | None:
        """The newest value of the timestamp column as POSIX seconds (None: none parse)."""
        from pytest_mlci.errors import DataError

        timestamp = self.dataset.timestamp
        if timestamp not in self.summary()["columns"]:
            raise DataError(
                f"{self.where}: missing timestamp column '{timestamp}' (key 'timestamp')"
            )
        micros = self.summary()["newest"]
        return None if micros is None else micros / 1e6

    def drift(self) -> list[CheckRow]:
        """Drift rows of the current data against the reference (see the module docstring)."""
        from pytest_mlci.data.drift import Thresholds, categorical_rows, drift_columns
        from pytest_mlci.data.stats import streamed_numeric_rows

        reference, current = self.frame("reference"), self.frame()
        ref_kinds, cur_kinds = column_kinds(reference), column_kinds(current)
        columns, missing = drift_columns(list(ref_kinds), list(cur_kinds), self.dataset)
        rows = [
            CheckRow(
                "drift",
                column,
                "present",
                None,
                None,
                None,
                None,
                FAIL,
                "missing from the reference or the current data",
            )
            for column in missing
        ]
        numeric = [c for c in columns if ref_kinds[c] and cur_kinds[c]]
        categorical = [c for c in columns if c not in numeric]
        with self.job("sketching the reference and the current data of"):
            edges = fine_edges(reference, numeric)
            ref_numbers = numeric_sketches(reference, edges)
            cur_numbers = numeric_sketches(current, edges)
            ref_categories = category_counts(reference, categorical)
            cur_categories = category_counts(current, categorical)
        for column in columns:
            limits = Thresholds.for_column(self.dataset, column)
            if column in ref_numbers:
                rows += streamed_numeric_rows(
                    column, ref_numbers[column], cur_numbers[column], limits
                )
            else:
                rows += categorical_rows(
                    column, ref_categories[column], cur_categories[column], limits
                )
        rows = [replace(row, detail=row.detail.replace("streamed:", "Spark sketches:"))
                for row in rows]  # fmt: skip
        if self.dataset.drift_domain_auc is not None:
            from pytest_mlci.data.multivariate import DOMAIN_SAMPLE, domain_rows

            with self.job("sampling rows for the domain classifier from"):
                samples = [sample_rows(f, columns, DOMAIN_SAMPLE) for f in (reference, current)]
            rows += domain_rows(*samples, columns, self.dataset)
        if not rows:
            rows.append(no_columns_row("drift"))
        return rows


# --------------------------------------------------------------------------- one pass


def _summarise(frame: Any, timestamp: str | None) -> dict[str, Any]:
    """One ``agg`` over ``frame``: rows, and per column nulls, min, max; newest timestamp."""
    from pyspark.sql import functions as F

    fields = {f.name: f.dataType.typeName() for f in frame.schema.fields}
    aggregates = [F.count(F.lit(1)).alias("__rows")]
    for i, (name, kind) in enumerate(fields.items()):
        column = F.col(f"`{name}`")
        missing = column.isNull()
        if kind in ("float", "double"):
            missing = missing | F.isnan(column)
            column = F.when(~F.isnan(column), column)  # NaN sorts above every number in Spark
        aggregates.append(F.sum(F.when(missing, 1).otherwise(0)).alias(f"n{i}"))
        if kind in _SORTABLE:
            aggregates += [F.min(column).alias(f"lo{i}"), F.max(column).alias(f"hi{i}")]
    if timestamp and timestamp in fields:
        parsed = F.col(f"`{timestamp}`").cast("timestamp")
        aggregates.append(F.max(F.unix_micros(parsed)).alias("__newest"))
    row = frame.agg(*aggregates).collect()[0].asDict()
    columns = {}
    for i, (name, kind) in enumerate(fields.items()):
        numeric = kind in _NUMERIC_TYPES
        low, high = row.get(f"lo{i}"), row.get(f"hi{i}")
        if numeric and low is not None:
            low, high = float(low), float(high)
        columns[name] = {
            "nulls": int(row[f"n{i}"] or 0),
            "low": low,
            "high": high,
            "numeric": numeric,
        }
    return {"rows": int(row["__rows"]), "columns": columns, "newest": row.get("__newest")}


_NUMERIC_TYPES = ("byte", "short", "integer", "long", "float", "double", "decimal")


def column_kinds(frame: Any) -> dict[str, bool]:
    """Column name -> numeric? from the Spark schema (booleans are categories)."""
    return {f.name: f.dataType.typeName() in _NUMERIC_TYPES for f in frame.schema.fields}


def count_duplicate_rows(frame: Any) -> int:
    """Rows that repeat an earlier row: count(*) minus the number of distinct row hashes."""
    from pyspark.sql import functions as F

    parts = []
    for name in frame.columns:
        column = F.col(f"`{name}`")
        parts += [column, column.isNull()]
    hashed = frame.select(F.xxhash64(*parts).alias("h"))
    row = hashed.agg(F.count(F.lit(1)).alias("rows"), F.count_distinct("h").alias("unique"))
    result = row.collect()[0]
    return int(result["rows"]) - int(result["unique"])


# --------------------------------------------------------------------------- schema


def partition_schema_failures(frame: Any, schema: Any) -> list[Any]:
    """Validate every partition with pandera on the executors; merge (column, check) counts."""
    from pyspark import cloudpickle

    from pytest_mlci.data.schema import SchemaFailure
    from pytest_mlci.spark.session import import_paths, on_worker

    schema_object = schema.to_schema() if hasattr(schema, "to_schema") else schema
    payload, paths = cloudpickle.dumps(schema_object), import_paths()

    def validate(batches: Iterator[Any]) -> Iterator[Any]:
        return _validate_partition(batches, on_worker(paths, payload))

    found = frame.mapInPandas(validate, _SCHEMA_ROWS).collect()
    merged: dict[tuple[str, str], int] = {}
    for row in found:
        key = (row["column"], row["check"])
        if row["row_level"]:
            merged[key] = merged.get(key, 0) + int(row["failures"])
        else:  # a frame-level failure (a missing column) repeats in every partition
            merged[key] = max(merged.get(key, 0), int(row["failures"]))
    return [SchemaFailure(column, check, (), count) for (column, check), count in merged.items()]


def _validate_partition(batches: Iterator[Any], schema: Any) -> Iterator[Any]:
    """Runs on an executor: pandera on each Arrow batch of one partition, failures counted."""
    import pandas as pd

    from pytest_mlci.data.schema import validate_frame

    counts: dict[tuple[str, str], list[Any]] = {}
    for batch in batches:
        for failure in validate_frame(schema, batch.reset_index(drop=True)):
            key = (failure.column, failure.check)
            known = counts.setdefault(key, [0, bool(failure.rows)])
            known[0] = known[0] + failure.count if failure.rows else max(known[0], failure.count)
    if counts:
        yield pd.DataFrame(
            {
                "column": [k[0] for k in counts],
                "check": [k[1] for k in counts],
                "failures": [v[0] for v in counts.values()],
                "row_level": [v[1] for v in counts.values()],
            }
        )


# --------------------------------------------------------------------------- drift


def fine_edges(frame: Any, columns: Sequence[str]) -> dict[str, Any]:
    """Fine bin edges per numeric column at the quantiles of a seeded reference sample."""
    import numpy as np

    from pytest_mlci.data.stats import SAMPLE_ROWS, edges_of

    if not columns:
        return {}
    sample = sample_rows(frame, columns, SAMPLE_ROWS, numeric=True)
    edges = {}
    for column in columns:
        values = sample[column].to_numpy(dtype="float64", na_value=math.nan)
        edges[column] = edges_of(values[~np.isnan(values)])
    return edges


def sample_rows(frame: Any, columns: Sequence[str], wanted: int, *, numeric: bool = False) -> Any:
    """About ``wanted`` rows of ``columns`` as a pandas DataFrame, a seeded Bernoulli sample
    (Spark's ``sample`` is per partition, so no row count and no shuffle beyond one count)."""
    from pyspark.sql import functions as F

    selected = [
        F.col(f"`{c}`").cast("double").alias(c) if numeric else F.col(f"`{c}`") for c in columns
    ]
    rows = frame.count()
    chosen = frame.select(*selected)
    if rows > wanted:
        chosen = chosen.sample(
            withReplacement=False, fraction=min(1.0, wanted * 1.05 / rows), seed=0
        ).limit(wanted)
    return chosen.toPandas()


def numeric_sketches(frame: Any, edges: dict[str, Any]) -> dict[str, Any]:
    """:class:`NumericSketch` per column: each partition counted on its executor, merged by
    Spark (``groupBy`` over (column, bin)); at most columns x 2,001 rows reach the driver."""
    import numpy as np
    from pyspark.sql import functions as F

    from pytest_mlci.data.stats import NumericSketch

    names = list(edges)
    if not names:
        return {}
    chosen = frame.select(
        *[F.col(f"`{c}`").cast("double").alias(f"c{i}") for i, c in enumerate(names)]
    )
    bounds = [edges[c] for c in names]

    def count(batches: Iterator[Any]) -> Iterator[Any]:
        return _sketch_partition(batches, bounds)

    merged = (
        chosen.mapInPandas(count, _SKETCH_ROWS)
        .groupBy("col", "bin")
        .agg(
            F.sum("n").alias("n"),
            F.sum("s").alias("s"),
            F.sum("ss").alias("ss"),
            F.min("lo").alias("lo"),
            F.max("hi").alias("hi"),
        )
        .collect()
    )
    sketches = {c: NumericSketch(edges[c]) for c in names}
    for row in merged:
        sketch = sketches[names[row["col"]]]
        if row["bin"] < 0:  # the moments row
            sketch.n, sketch.total, sketch.total_sq = int(row["n"]), row["s"], row["ss"]
            sketch.low, sketch.high = row["lo"], row["hi"]
        else:
            sketch.counts[row["bin"]] = int(row["n"])
            sketch.sums[row["bin"]] = row["s"]
    for sketch in sketches.values():
        if sketch.n == 0:
            sketch.low, sketch.high = math.inf, -math.inf
        assert int(np.sum(sketch.counts)) == sketch.n, "bins and moments disagree"
    return sketches


def _sketch_partition(batches: Iterator[Any], bounds: list[Any]) -> Iterator[Any]:
    """Runs on an executor: one partition counted into the fine bins, nonzero bins emitted."""
    import numpy as np
    import pandas as pd

    from pytest_mlci.data.stats import NumericSketch

    sketches = [NumericSketch(edges) for edges in bounds]
    for batch in batches:
        for i, sketch in enumerate(sketches):
            sketch.add(batch[f"c{i}"].to_numpy(dtype="float64", na_value=math.nan))
    parts = []
    for i, sketch in enumerate(sketches):
        used = np.flatnonzero(sketch.counts)
        parts.append(
            pd.DataFrame(
                {
                    "col": i,
                    "bin": used.astype("int32"),
                    "n": sketch.counts[used],
                    "s": sketch.sums[used],
                    "ss": 0.0,
                    "lo": math.inf,
                    "hi": -math.inf,
                }
            )
        )
        if sketch.n:
            parts.append(
                pd.DataFrame(
                    {
                        "col": [i],
                        "bin": [-1],
                        "n": [sketch.n],
                        "s": [sketch.total],
                        "ss": [sketch.total_sq],
                        "lo": [sketch.low],
                        "hi": [sketch.high],
                    }
                )
            )
    frame = pd.concat(parts, ignore_index=True)
    yield frame.astype({"col": "int32", "bin": "int32", "n": "int64"})


def category_counts(frame: Any, columns: Sequence[str]) -> dict[str, dict[Any, int]]:
    """Exact value counts of each categorical column, all columns in one ``groupBy``."""
    from pyspark.sql import functions as F

    if not columns:
        return {}
    booleans = {f.name for f in frame.schema.fields if f.dataType.typeName() == "boolean"}
    pairs = F.array(
        *[
            F.struct(F.lit(i).alias("col"), F.col(f"`{c}`").cast("string").alias("v"))
            for i, c in enumerate(columns)
        ]
    )
    exploded = frame.select(F.explode(pairs).alias("p")).select("p.col", "p.v")
    counted = exploded.where(F.col("v").isNotNull()).groupBy("col", "v").count().collect()
    result: dict[str, dict[Any, int]] = {c: {} for c in columns}
    for row in counted:
        column = columns[row["col"]]
        value: Any = row["v"]
        if column in booleans:
            value = value == "true"
        result[column][value] = int(row["count"])
    return result
