"""Streamed drift statistics for data larger than memory: mergeable sketches of parquet batches.

How it works
    Parquet files (or a directory of them) are read as pyarrow record batches, a column at a
    time, so memory holds one batch, never the table. Three passes, all over batches:

    1. a bounded, evenly strided sample of the reference (``SAMPLE_ROWS`` values per column)
       gives ``FINE_BINS`` fine bin edges at its quantiles;
    2. the reference is counted into those fine bins (plus min, max, sum, sum of squares);
    3. the current data is counted into the same bins.

    Categorical columns are counted exactly (``pyarrow.compute.value_counts`` per batch,
    merged), so chi-square, categorical PSI and unseen categories are exact in this mode too.
    Every sketch merges by adding counts, so batches, files and machines combine freely.

Approximation error (what a streamed number may differ from the exact, in-memory one)
    KS: the ECDFs are known exactly at the fine edges; between two edges each ECDF moves by at
    most its own mass in that bin. So ``D_exact - bound <= D_streamed <= D_exact`` with
    ``bound = max over bins of max(reference share, current share)`` of a single fine bin,
    about ``1 / FINE_BINS`` (0.0005) for the reference and for a current sample shaped like it.
    The bound is computed for every column and printed with the row.
    PSI: the ten bins are cut at fine edges nearest to the reference's deciles instead of at
    the exact deciles, moving each cut by at most one fine bin plus the sample's quantile error
    (about ``sqrt(0.25 / SAMPLE_ROWS)`` = 0.0011 of the mass). Measured on shifted and unshifted
    normal, lognormal and integer columns, ``|PSI_streamed - PSI_exact| <= 0.01`` (tested).
    The bound is tighter for discrete columns: a bin whose values all sit on its right edge
    (an integer column's bins usually do) adds no error, and when every bin is like that the
    streamed D is exact.
    Wasserstein: each fine bin's mass is moved to the bin's mean (bins also keep their sum), and
    the distance between those two discrete distributions is exact; moving mass within a bin
    changes W1 by at most ``sum over bins of width * (reference share + current share)``, with
    the outermost bins closed at the observed minimum and maximum.
    p-values: the asymptotic KS distribution (as scipy's ks_2samp uses above 10,000 rows) at the
    streamed D, and the exact chi-square of the exact categorical counts.

Schema and quality, streamed
    The schema is validated one record batch at a time (as a pandas frame whose index is the
    batch's row offset, so failing row numbers are the file's), and failures are merged by
    column and check. Checks that need the whole column at once (``unique=True``) are therefore
    judged per batch. Quality merges a :class:`~pytest_mlci.data.quality.QualityTally` over the
    batches, so nulls, constants and label balance are exact. Duplicate rows are counted from
    64-bit row hashes; above ``MAX_HASHED_ROWS`` rows only a hash sample is kept (a duplicate and
    its original share a hash, so they are sampled together) and the rate is estimated from it.
    Memory holds one batch plus the kept hashes (8 bytes a row).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_mlci.config import DatasetConfig
from pytest_mlci.data.drift import Thresholds, categorical_rows, drift_columns, effect_rows
from pytest_mlci.data.results import FAIL, CheckRow, no_columns_row

FINE_BINS = 2000
SAMPLE_ROWS = 200_000
BATCH_ROWS = 64 * 1024  # rows per record batch: a 20-column batch is about 10 MB
MAX_HASHED_ROWS = 32_000_000  # row hashes kept for duplicates: 256 MB at most


@dataclass
class NumericSketch:
    """Counts of one numeric column in fixed fine bins, plus moments; merge by adding."""

    edges: Any
    counts: Any = None
    sums: Any = None
    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def __post_init__(self) -> None:
        import numpy as np

        if self.counts is None:
            self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)
        if self.sums is None:
            self.sums = np.zeros(len(self.edges) + 1, dtype=np.float64)

    def add(self, values: Any) -> None:
        """Count a batch of values (NaN and nulls are skipped).

        Why sort the batch: placing each value among ~2,000 edges by binary search costs a
        branch-mispredicting search per value; sorting the batch (vectorised in numpy) and
        searching the edges in it costs a search per *edge*, and each bin is then a contiguous
        run whose count and sum come from its boundaries.
        """
        import numpy as np

        values = np.sort(values)
        values = values[: np.searchsorted(values, np.nan, side="left")]  # NaN sorts last
        if len(values) == 0:
            return
        # bins are (-inf, e1], (e1, e2], ..., (ek, inf): bin i ends after the values <= e_i
        bounds = np.concatenate([[0], np.searchsorted(values, self.edges, side="right"),
                                 [len(values)]])  # fmt: skip
        counts = np.diff(bounds)
        self.counts += counts
        filled = np.flatnonzero(counts)
        self.sums[filled] += np.add.reduceat(values, bounds[filled])
        self.n += len(values)
        self.total += float(values.sum())
        self.total_sq += float(np.dot(values, values))
        self.low = min(self.low, float(values[0]))
        self.high = max(self.high, float(values[-1]))

    def merge(self, other: NumericSketch) -> NumericSketch:
        """Combine two sketches over the same edges (another batch, file or worker)."""
        merged = NumericSketch(self.edges, self.counts + other.counts, self.sums + other.sums)
        merged.n, merged.total = self.n + other.n, self.total + other.total
        merged.total_sq = self.total_sq + other.total_sq
        merged.low, merged.high = min(self.low, other.low), max(self.high, other.high)
        return merged

    @property
    def std(self) -> float:
        if self.n == 0:
            return math.nan
        mean = self.total / self.n
        return math.sqrt(max(self.total_sq / self.n - mean * mean, 0.0))


@dataclass
class CategoricalSketch:
    """Exact value counts of one categorical column; merge by adding."""

    counts: dict[Any, int] = field(default_factory=dict)

    def add(self, array: Any) -> None:
        import pyarrow.compute as pc

        for item in pc.value_counts(array).to_pylist():
            if item["values"] is not None:
                key = item["values"]
                self.counts[key] = self.counts.get(key, 0) + int(item["counts"])


def parquet_source(path: Path) -> Any:
    """A pyarrow dataset over a parquet file or a directory of parquet files (for metadata)."""
    import pyarrow.dataset as ds

    return ds.dataset(str(path), format="parquet")


def parquet_files(path: Path) -> list[Path]:
    """The parquet files of ``path`` in name order, skipping hidden and ``_`` files as pyarrow
    datasets do (``_SUCCESS``, ``.crc`` and ``_metadata`` files are not data)."""
    if not path.is_dir():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
    )


def iter_column_batches(path: Path, columns: Sequence[str]) -> Iterator[Any]:
    """Record batches of ``columns`` only, ``BATCH_ROWS`` rows at a time, one file at a time.

    Why file by file and not a pyarrow dataset scan: the dataset scanner pre-buffers column
    chunks and reads ahead across files, and its resident memory grew by hundreds of megabytes
    over a 20-million-row directory; a plain reader per file with a 1 MiB buffered stream holds
    one batch and one buffer, flat however many files there are.
    """
    import pyarrow.parquet as pq

    for file in parquet_files(path):
        reader = pq.ParquetFile(file, buffer_size=1 << 20, pre_buffer=False)
        try:
            yield from reader.iter_batches(
                batch_size=BATCH_ROWS, columns=list(columns), use_threads=False
            )
        finally:
            reader.close()


def numeric_values(array: Any) -> Any:
    """A pyarrow array as float64 numpy values with nulls as NaN."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if array.null_count:
        array = pc.fill_null(array.cast(pa.float64()), math.nan)
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype="float64")


def column_kinds(path: Path) -> dict[str, bool]:
    """Column name -> numeric? from the parquet schema (no data read)."""
    import pyarrow.types as pt

    return {
        f.name: (pt.is_integer(f.type) or pt.is_floating(f.type)) and not pt.is_boolean(f.type)
        for f in parquet_source(path).schema
    }


def fine_edges(path: Path, columns: Sequence[str], rows: int) -> dict[str, Any]:
    """Pass 1: fine bin edges per numeric column at the quantiles of a strided sample."""
    import numpy as np

    stride = max(1, rows // SAMPLE_ROWS)
    samples: dict[str, list[Any]] = {c: [] for c in columns}
    offset = 0
    for batch in iter_column_batches(path, columns):
        start = (-offset) % stride  # keep the stride continuous across batch boundaries
        for column in columns:
            values = numeric_values(batch.column(column))[start::stride]
            samples[column].append(values[~np.isnan(values)])
        offset += batch.num_rows
    return {
        column: edges_of(np.concatenate(parts) if parts else np.array([]))
        for column, parts in samples.items()
    }


def edges_of(sample: Any) -> Any:
    """``FINE_BINS`` fine bin edges at the quantiles of a sample of non-NaN values."""
    import numpy as np

    if not len(sample):
        return sample
    return np.unique(np.quantile(sample, np.arange(1, FINE_BINS) / FINE_BINS))


def sketch(
    path: Path, numeric: dict[str, Any], categorical: Sequence[str]
) -> tuple[dict[str, NumericSketch], dict[str, CategoricalSketch], int]:
    """Pass 2 or 3: count ``path`` into sketches (numeric columns over the given edges)."""
    numbers = {c: NumericSketch(edges) for c, edges in numeric.items()}
    categories = {c: CategoricalSketch() for c in categorical}
    rows = 0
    for batch in iter_column_batches(path, [*numbers, *categories]):
        rows += batch.num_rows
        for column, sketch_ in numbers.items():
            sketch_.add(numeric_values(batch.column(column)))
        for column, counts in categories.items():
            counts.add(batch.column(column))
    return numbers, categories, rows


def streamed_numeric_rows(
    column: str, reference: NumericSketch, current: NumericSketch, limits: Thresholds
) -> list[CheckRow]:
    """ks, psi and wasserstein rows of one column from two sketches over the same edges."""
    import numpy as np
    from scipy import stats

    from pytest_mlci.data.drift import psi

    n1, n2 = reference.n, current.n
    if n1 == 0 or n2 == 0:
        side = "reference" if n1 == 0 else "current"
        return [
            CheckRow("drift", column, "ks", math.nan, None, None, None, FAIL,
                     f"no non-null values in the {side} data")
        ]  # fmt: skip
    share1, share2 = reference.counts / n1, current.counts / n2
    cdf1, cdf2 = np.cumsum(share1)[:-1], np.cumsum(share2)[:-1]  # ECDFs at the fine edges
    gaps = np.abs(cdf1 - cdf2)
    d = float(gaps.max()) if len(gaps) else 0.0
    means1 = np.divide(reference.sums, reference.counts, where=reference.counts > 0,
                       out=np.zeros_like(reference.sums))  # fmt: skip
    means2 = np.divide(current.sums, current.counts, where=current.counts > 0,
                       out=np.zeros_like(current.sums))  # fmt: skip
    right = np.append(reference.edges, math.inf)
    # A bin whose values all equal its right edge has a flat ECDF inside: no error there.
    point1 = (reference.counts == 0) | np.isclose(means1, right, rtol=1e-12, atol=0)
    point2 = (current.counts == 0) | np.isclose(means2, right, rtol=1e-12, atol=0)
    bound = float(np.maximum(np.where(point1, 0, share1), np.where(point2, 0, share2)).max())
    p = float(min(1.0, max(0.0, stats.kstwo.sf(d, round(n1 * n2 / (n1 + n2))))))
    # PSI: ten bins cut at the fine edges nearest the reference's deciles.
    cuts = np.unique(np.searchsorted(cdf1, np.arange(1, 10) / 10, side="left"))
    cuts = cuts[cuts < len(cdf1)]
    ref_bins = np.add.reduceat(reference.counts, np.concatenate([[0], cuts + 1]))
    cur_bins = np.add.reduceat(current.counts, np.concatenate([[0], cuts + 1]))
    index = psi(ref_bins, cur_bins)
    # Wasserstein between the two sketches with each bin's mass at the bin's mean.
    used1, used2 = reference.counts > 0, current.counts > 0
    w1 = float(
        stats.wasserstein_distance(
            means1[used1], means2[used2], reference.counts[used1], current.counts[used2]
        )
    )
    note = f"streamed: KS within {bound:.4f} of exact"
    return effect_rows(column, "ks", d, p, index, w1, reference.std, n1, n2, limits, note=note)


def streamed_drift(reference: Path, current: Path, dataset: DatasetConfig) -> list[CheckRow]:
    """Drift rows of ``current`` against ``reference`` (both parquet) in bounded memory."""
    ref_kinds, cur_kinds = column_kinds(reference), column_kinds(current)
    columns, missing = drift_columns(list(ref_kinds), list(cur_kinds), dataset)
    rows = [
        CheckRow("drift", column, "present", None, None, None, None, FAIL,
                 "missing from the reference or the current data")
        for column in missing
    ]  # fmt: skip
    numeric = [c for c in columns if ref_kinds[c] and cur_kinds[c]]
    categorical = [c for c in columns if c not in numeric]
    reference_rows = parquet_source(reference).count_rows()
    edges = fine_edges(reference, numeric, reference_rows) if numeric else {}
    ref_numbers, ref_categories, _ = sketch(reference, edges, categorical)
    cur_numbers, cur_categories, _ = sketch(current, edges, categorical)
    for column in columns:
        limits = Thresholds.for_column(dataset, column)
        if column in ref_numbers:
            rows += streamed_numeric_rows(column, ref_numbers[column], cur_numbers[column], limits)
        else:
            rows += categorical_rows(
                column, ref_categories[column].counts, cur_categories[column].counts, limits
            )
    if dataset.drift_domain_auc is not None:
        from pytest_mlci.data.multivariate import DOMAIN_SAMPLE, domain_rows

        samples = [strided_sample(path, columns, DOMAIN_SAMPLE) for path in (reference, current)]
        rows += domain_rows(*samples, columns, dataset)
    if not rows:
        rows.append(no_columns_row("drift"))
    return rows


def strided_sample(path: Path, columns: Sequence[str], wanted: int) -> Any:
    """About ``wanted`` evenly strided rows of ``columns`` as a DataFrame, one batch at a time.

    Evenly strided rather than random: it needs no second pass and no row count per file, and
    a parquet export's row order carries no information the multivariate check relies on.
    """
    import pandas as pd
    import pyarrow as pa

    stride = max(1, parquet_rows(path) // wanted)
    parts, offset = [], 0
    for batch in iter_column_batches(path, columns):
        start = (-offset) % stride  # keep the stride continuous across batch boundaries
        parts.append(batch.take(pa.array(range(start, batch.num_rows, stride))))
        offset += batch.num_rows
    if not parts:
        return pd.DataFrame(columns=list(columns))
    return pa.Table.from_batches(parts).to_pandas()


def parquet_rows(path: Path) -> int:
    """Row count from parquet metadata alone (no data read)."""
    return int(parquet_source(path).count_rows())


# ------------------------------------------------------------- schema and quality, streamed


def iter_frames(path: Path, columns: Sequence[str] | None = None) -> Iterator[tuple[int, Any]]:
    """(first row number, pandas frame) per record batch; the frame's index is the file's rows."""
    import pandas as pd

    names = list(columns) if columns is not None else list(parquet_source(path).schema.names)
    offset = 0
    for batch in iter_column_batches(path, names):
        frame = batch.to_pandas()
        frame.index = pd.RangeIndex(offset, offset + len(frame))
        yield offset, frame
        offset += len(frame)


def streamed_schema(path: Path, schema: Any) -> tuple[int, list[Any]]:
    """(rows, failures) of validating every batch of ``path``, merged by column and check."""
    from pytest_mlci.data.schema import MAX_ROWS_SHOWN, SchemaFailure, validate_frame

    merged: dict[tuple[str, str], SchemaFailure] = {}
    rows = 0
    for _, frame in iter_frames(path):
        rows += len(frame)
        for failure in validate_frame(schema, frame):
            key = (failure.column, failure.check)
            known = merged.get(key)
            if known is None:
                merged[key] = failure
            elif failure.rows:  # row-level: add up; a frame-level failure repeats per batch
                merged[key] = SchemaFailure(
                    failure.column,
                    failure.check,
                    (*known.rows, *failure.rows)[:MAX_ROWS_SHOWN],
                    known.count + failure.count,
                )
    return rows, list(merged.values())


def streamed_quality(path: Path, dataset: DatasetConfig, *, classification: bool) -> list[CheckRow]:
    """Quality rows of ``path`` read batch by batch (see the module docstring for duplicates)."""
    import numpy as np
    import pandas as pd

    from pytest_mlci.data.quality import QualityTally, duplicate_row, quality_rows

    total = parquet_rows(path)
    share = min(1.0, MAX_HASHED_ROWS / total) if total else 1.0
    # Keep the hashes below share * 2**64: a uniform hash makes that a random share of rows.
    cutoff = np.uint64(min(2**64 - 1, int(share * 2**64)))
    tally = QualityTally(target=dataset.target if classification else None)
    # One preallocated buffer (not a list joined at the end, which would need twice the memory)
    capacity = total if share >= 1.0 else int(share * total * 1.01) + 4096
    buffer = np.empty(capacity, dtype=np.uint64)
    kept = 0
    for _, frame in iter_frames(path):
        tally.add(frame)
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        if share < 1.0:
            hashes = hashes[hashes <= cutoff]
        if kept + len(hashes) > len(buffer):  # the sample came out larger than expected
            buffer = np.concatenate([buffer[:kept], np.empty(len(hashes) + 4096, np.uint64)])
        buffer[kept : kept + len(hashes)] = hashes
        kept += len(hashes)
        del frame, hashes
    hashes = buffer[:kept]
    hashes.sort()
    repeats = int(np.count_nonzero(hashes[1:] == hashes[:-1]))
    sampled = len(hashes)
    del hashes
    if share >= 1.0:
        count = repeats
        note = "streamed: counted from 64-bit row hashes"
    else:
        count = round(repeats / sampled * tally.rows) if sampled else 0
        note = (f"streamed: estimated from the 64-bit row hashes of a {sampled:,}-row hash "
                "sample (a row and its duplicate are sampled together)")  # fmt: skip
    duplicates = duplicate_row(count, tally.rows, dataset.max_duplicate_rate, note)
    return quality_rows(tally, duplicates, dataset)
