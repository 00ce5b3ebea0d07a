"""The data checks of one dataset, shared by pytest items, the CLI and the pre-commit hook.

The check modules (volume, quality, freshness, drift, stats) are plain functions over frames
or sketches; this module decides which checks a dataset declares, loads each file once, and
picks exact (in memory) or streamed (parquet batches) statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mlci.config import DatasetConfig
from pytest_mlci.data.drift import check_drift
from pytest_mlci.data.freshness import check_freshness, newest_file_time, newest_timestamp
from pytest_mlci.data.loaded import LoadedData, load_data
from pytest_mlci.data.loading import read_dataset
from pytest_mlci.data.quality import check_quality
from pytest_mlci.data.results import FAIL, INCONCLUSIVE, PASS, CheckRow, failing
from pytest_mlci.data.schema import load_schema, validate_frame
from pytest_mlci.data.volume import VolumeMemory, check_volume
from pytest_mlci.errors import ConfigError, DataError

# --------------------------------------------------------------------- all the checks

CHECKS = ("schema", "volume", "quality", "freshness", "drift")
STREAM_ABOVE_BYTES = 256 * 1024 * 1024  # on-disk parquet size from which "auto" streams
_QUALITY_KEYS = {
    "max_null_rate", "null_rates", "max_duplicate_rate", "allow_constant", "min_label_share"
}  # fmt: skip


def checks_for(dataset: DatasetConfig) -> tuple[str, ...]:
    """The checks a dataset declares: each runs only when its expectation is configured.

    A reference switches on volume, quality and drift (it is what good data looks like);
    ``expected_rows`` volume; any quality key quality; ``max_age_hours`` freshness.
    """
    declared = dataset.declared
    wanted = {
        "schema": bool(dataset.schema),
        "volume": dataset.expected_rows is not None or dataset.reference is not None,
        "quality": dataset.reference is not None or bool(declared & _QUALITY_KEYS),
        "freshness": dataset.max_age_hours is not None,
        "drift": dataset.reference is not None,
    }
    return tuple(check for check in CHECKS if wanted[check])


def streams(paths: list[Path], mode: str) -> bool:
    """Whether files are read batch by batch (``mode`` is a dataset's ``stream`` setting):
    always when asked, never for CSV, and on ``auto`` once any parquet input is larger than
    :data:`STREAM_ABOVE_BYTES` on disk."""
    if mode == "never" or not all(_is_parquet(p) for p in paths):
        return False
    return mode == "always" or any(_disk_size(p) > STREAM_ABOVE_BYTES for p in paths)


def guard_parquet(call: Any, path: Path) -> Any:
    """pyarrow errors on a broken file become a named DataError, like read_table's."""
    try:
        return call()
    except (DataError, MemoryError):
        raise
    except Exception as exc:
        if "pyarrow" not in type(exc).__module__ and not isinstance(exc, OSError):
            raise
        raise DataError(f"{path}: cannot be read as parquet ({exc})") from None


def _disk_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*.parquet"))
    return path.stat().st_size if path.exists() else 0


def _is_parquet(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in (".parquet", ".pq")


class DatasetChecks:
    """Runs the checks of one dataset, reading each file at most once.

    Shared by the pytest items, ``mlci validate-data``, ``mlci drift`` and the pre-commit
    hook, so every entry point gives the same verdict on the same rows.
    """

    def __init__(self, dataset: DatasetConfig, *, root: Path, task: str = "") -> None:
        self.dataset = dataset
        self.root = root
        self.classification = task in ("binary_classification", "multiclass")
        self._frames: dict[str, Any] = {}
        self._loaded: dict[str, Any] = {}
        self.counted_rows: int | None = None  # what volume passed with, to remember
        self._spark: Any = None

    @property
    def spark(self) -> Any:
        """The dataset on Spark (:class:`~pytest_mlci.spark.data_checks.SparkDataset`) when
        it declares ``engine = "spark"``, else None; the session starts on first use."""
        if self.dataset.engine != "spark":
            return None
        if self._spark is None:
            from pytest_mlci.spark.data_checks import SparkDataset

            self._spark = SparkDataset(self.dataset, classification=self.classification)
        return self._spark

    # ------------------------------------------------------------------ inputs

    @property
    def streamed(self) -> bool:
        """Whether drift and volume stream parquet batches instead of loading frames."""
        dataset = self.dataset
        if dataset.loader or dataset.engine == "spark":
            return False  # a loader returns the data in memory; Spark reads it itself
        paths = [dataset.path, *([dataset.reference] if dataset.reference else [])]
        return streams(paths, dataset.stream)

    def frame(self, which: str = "current") -> Any:
        """The current (or reference) data as a DataFrame, loaded once."""
        if which not in self._frames:
            path = self.dataset.path if which == "current" else self.dataset.reference
            if path is None:
                raise DataError(f"dataset '{self.dataset.name}' declares no reference")
            if self.dataset.loader:
                loaded = self.loaded(which)
                if not loaded.is_table:
                    raise DataError(
                        f"datasets.{self.dataset.name}.loader returns (X, y), not a table"
                    )
                self._frames[which] = loaded.frame
            else:
                self._frames[which] = read_dataset(self.dataset, path)
        return self._frames[which]

    def loaded(self, which: str = "current") -> LoadedData:
        """The current (or reference) data through the dataset's loader, loaded once."""
        if which not in self._loaded:
            path = self.dataset.path if which == "current" else self.dataset.reference
            if path is None:
                raise DataError(f"dataset '{self.dataset.name}' declares no reference")
            self._loaded[which] = load_data(self.dataset, path, root=self.root)
        return self._loaded[which]

    @property
    def arrays(self) -> bool:
        """Whether the data is a loader's (X, y) rather than a table."""
        return bool(self.dataset.loader) and not self.loaded().is_table

    def shape(self) -> str | None:
        """``12,000 rows x 300 features (sparse)`` once a loader's data is loaded."""
        loaded = self._loaded.get("current")
        return loaded.describe() if loaded is not None else None

    # ------------------------------------------------------------------ checks

    def run(self, check: str) -> list[CheckRow]:
        """Rows of one check by name (one of :data:`CHECKS`)."""
        return getattr(self, check)()

    def schema(self) -> list[CheckRow]:
        """One failing row per failed schema check; one passing row when all hold.

        Streamed, the schema is checked one record batch at a time, never the whole frame.
        """
        path = self.dataset.path
        if self.spark is not None:
            rows = self.spark.rows()
            if not self.dataset.schema:
                return [CheckRow("schema", "<frame>", "schema", rows, None, None, None, PASS)]
            schema = load_schema(self.dataset.schema, root=self.root, dataset=self.dataset.name)
            rows, failures = self.spark.schema(schema)
            note = "; Spark: checked per partition"
        elif self.streamed:
            from pytest_mlci.data.stats import parquet_rows, streamed_schema

            self._require(path)
            if not self.dataset.schema:
                rows = self._guard(lambda: parquet_rows(path), path)
                return [CheckRow("schema", "<frame>", "schema", rows, None, None, None, PASS)]
            schema = load_schema(self.dataset.schema, root=self.root, dataset=self.dataset.name)
            rows, failures = self._guard(lambda: streamed_schema(path, schema), path)
            note = "; streamed: checked per batch"
        else:
            if self.arrays:
                raise ConfigError(
                    f"a pandera schema checks a table, and '{self.dataset.loader}' returns "
                    "(X, y); remove 'schema' (quality, volume and drift still check the "
                    "arrays) or make the loader return a DataFrame",
                    key=f"datasets.{self.dataset.name}.schema",
                )
            frame = self.frame()
            rows = len(frame)
            if not self.dataset.schema:
                return [CheckRow("schema", "<frame>", "schema", rows, None, None, None, PASS)]
            schema = load_schema(self.dataset.schema, root=self.root, dataset=self.dataset.name)
            failures = validate_frame(schema, frame)
            note = ""
        if not failures:
            return [CheckRow("schema", "<frame>", "schema", rows, None, None, None, PASS,
                             f"{rows:,} rows{note}")]  # fmt: skip
        return [
            CheckRow("schema", f.column, f.check, f.count, None, None, None, FAIL,
                     f.describe())
            for f in failures
        ]  # fmt: skip

    def volume(self) -> list[CheckRow]:
        """The row count against ``expected_rows``, else the last validated count (never the
        reference's, which may be a split of another size); see :mod:`.volume`."""
        dataset = self.dataset
        if self.spark is not None:
            rows = self.spark.rows()
        elif self.streamed:
            from pytest_mlci.data.stats import parquet_rows

            rows = self._guard(lambda: parquet_rows(dataset.path), dataset.path)
        elif dataset.loader:
            rows = self.loaded().rows
        else:
            rows = len(self.frame())
        memory = self.volume_memory()
        shown = memory.path
        if shown.is_relative_to(self.root):  # named in a failure: short and copyable
            shown = shown.relative_to(self.root)
        result = check_volume(
            rows,
            expected=dataset.expected_rows,
            previous=None if dataset.expected_rows else memory.recall(),
            tolerance=dataset.volume_tolerance,
            memory=shown,
        )
        self.counted_rows = rows if result[0].verdict == PASS else None
        return result

    def volume_memory(self) -> VolumeMemory:
        """Where this dataset's last validated row count is kept (the state directory)."""
        from pytest_mlci.config import STATE_DIR

        return VolumeMemory(self.root / STATE_DIR / "cache" / "volume", self.dataset.name)

    def remember_volume(self) -> None:
        """Keep the row count the volume check just passed with, for the next validation.

        Call only once every check of the dataset passed. A state directory that cannot be
        written costs the next run its comparison, not this run its verdict.
        """
        import contextlib

        if self.counted_rows:
            with contextlib.suppress(OSError):
                self.volume_memory().remember(self.counted_rows)

    def quality(self) -> list[CheckRow]:
        """Nulls, duplicates, constants, label balance; streamed, merged over record batches."""
        if self.spark is not None:
            return self.spark.quality()
        if self.streamed:
            from pytest_mlci.data.stats import streamed_quality

            path = self.dataset.path
            self._require(path)
            return self._guard(
                lambda: streamed_quality(path, self.dataset, classification=self.classification),
                path,
            )
        if self.arrays:
            from pytest_mlci.data.arrays import array_quality

            return array_quality(self.loaded(), self.dataset, classification=self.classification)
        return check_quality(self.frame(), self.dataset, classification=self.classification)

    def freshness(self, *, now: float | None = None) -> list[CheckRow]:
        dataset = self.dataset
        assert dataset.max_age_hours is not None
        if dataset.timestamp and self.arrays:
            raise ConfigError(
                f"a timestamp column needs a table; '{dataset.loader}' returns (X, y) (without "
                "'timestamp' freshness uses the file's modification time)",
                key=f"datasets.{dataset.name}.timestamp",
            )
        if self.spark is not None:
            if dataset.timestamp:
                newest, source = self.spark.newest(), dataset.timestamp
            elif dataset.location and Path(dataset.location).exists():
                newest, source = newest_file_time(Path(dataset.location)), "<file mtime>"
            else:
                raise ConfigError(
                    f"freshness of {dataset.location} needs a timestamp column: a table or a "
                    "remote location has no file time here; add timestamp = '<column>'",
                    key=f"datasets.{dataset.name}.timestamp",
                )
        elif dataset.timestamp and dataset.loader:
            if dataset.timestamp not in self.frame().columns:
                raise DataError(f"{dataset.path}: the loader's table has no timestamp column "
                                f"'{dataset.timestamp}' (key 'timestamp')")  # fmt: skip
            newest, source = newest_timestamp(self.frame()[dataset.timestamp]), dataset.timestamp
        elif dataset.timestamp:
            if "current" in self._frames:
                frame = self._frames["current"]
                if dataset.timestamp not in frame.columns:
                    raise DataError(f"{dataset.path}: missing timestamp column "
                                    f"'{dataset.timestamp}' (key 'timestamp')")  # fmt: skip
                values = frame[dataset.timestamp]
            else:
                values = read_dataset(dataset, columns=[dataset.timestamp])[dataset.timestamp]
            newest, source = newest_timestamp(values), dataset.timestamp
        else:
            newest, source = newest_file_time(dataset.path), "<file mtime>"
        return check_freshness(newest, max_age_hours=dataset.max_age_hours, source=source, now=now)

    def drift(self) -> list[CheckRow]:
        dataset = self.dataset
        if dataset.reference is None:
            return [CheckRow("drift", "<frame>", "reference", None, None, None, None, FAIL,
                             "no reference declared; add 'reference' to the dataset")]  # fmt: skip
        if self.spark is not None:
            return self.spark.drift()
        if self.streamed:
            from pytest_mlci.data.stats import streamed_drift

            for path in (dataset.reference, dataset.path):
                self._require(path)
            return self._guard(lambda: streamed_drift(dataset.reference, dataset.path, dataset),
                               dataset.path)  # fmt: skip
        if self.arrays:
            from pytest_mlci.data.arrays import array_drift

            return array_drift(self.loaded("reference"), self.loaded(), dataset)
        return check_drift(
            self.frame("reference"), self.frame(), dataset, cache=self._reference_cache()
        )

    def _reference_cache(self) -> Any:
        """Sorted reference columns cached under the state directory by the file's digest."""
        from pytest_mlci.config import STATE_DIR
        from pytest_mlci.data.drift import ReferenceCache
        from pytest_mlci.evaluation.session import digest_path

        reference = self.dataset.reference
        if reference is None or not reference.exists() or self.dataset.loader:
            return None  # frames given in memory: nothing on disk to key a cache by
        directory = self.root / STATE_DIR / "cache" / "reference"
        return ReferenceCache(directory, digest_path(reference))

    @staticmethod
    def _require(path: Path) -> None:
        if not path.exists():
            raise DataError(f"{path}: file not found; run `dvc repro` or fix the path")

    @staticmethod
    def _guard(call: Any, path: Path) -> Any:
        return guard_parquet(call, path)


def probe(path: Path) -> None:
    """Raise a :class:`DataError` naming why ``path`` cannot be read, reading little: a
    parquet file's footer (its schema), a text file's first bytes. For a dataset without
    checks, so stage 2 says the file is unreadable rather than the evaluation later."""
    if not path.exists():
        raise DataError(f"{path}: file not found; run `dvc repro` or fix the dataset 'path'")
    if _is_parquet(path):
        import pyarrow.dataset as ds

        guard_parquet(lambda: ds.dataset(str(path), format="parquet").schema, path)
        if path.is_file() or any(path.rglob("*.parquet")):
            return
        raise DataError(f"{path}: a directory without parquet files")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")


@dataclass(frozen=True)
class DatasetOutcome:
    """Every row of every declared check of one dataset, or the error that stopped them."""

    checks: tuple[str, ...]
    rows: tuple[CheckRow, ...]
    row_count: int | None
    error: str | None = None
    #: ``12,000 rows x 300 features (sparse)`` for data a loader returned (else None)
    shape: str | None = None

    @property
    def judged(self) -> bool:
        """Whether any check was declared (a dataset without checks is noted, not judged)."""
        return bool(self.checks) or self.error is not None

    def reasons(self) -> list[str]:
        """Why the dataset did not pass, one line each, worst first; empty when it passed.

        Never empty for a dataset that did not pass: the error that stopped the checks, each
        failing or inconclusive row, and a declared check that produced no row at all."""
        if self.error:
            return [self.error]
        if not self.checks:
            return [NO_CHECKS]
        order = {FAIL: 0, INCONCLUSIVE: 1}
        ranked = sorted(failing(self.rows), key=lambda row: order.get(row.verdict, 2))
        lines = [f"{row.check} {row.describe()}" for row in ranked]
        return lines + [unjudged_reason(check) for check in self.unjudged()]

    def unjudged(self) -> tuple[str, ...]:
        """Declared checks that produced no row at all (inconclusive, and why must be said)."""
        produced = {row.check for row in self.rows}
        return tuple(check for check in self.checks if check not in produced)


def unjudged_reason(check: str) -> str:
    """The line for a declared check that produced no result."""
    return f"{check}: judged nothing (the check produced no result), so it did not pass"


#: What a dataset without any declared check says instead of a verdict.
NO_CHECKS = "no checks declared (add schema, reference, expected_rows or a quality key)"


def validate_dataset(
    dataset: DatasetConfig,
    *,
    root: Path,
    task: str = "",
    checks: tuple[str, ...] | None = None,
) -> DatasetOutcome:
    """Run the declared checks (or ``checks``); an unreadable file ends in ``error``."""
    runner = DatasetChecks(dataset, root=root, task=task)
    wanted = checks_for(dataset) if checks is None else checks
    rows: list[CheckRow] = []
    try:
        if not wanted and runner.spark is not None:
            runner.spark.frame()  # Spark reads the schema: a missing table says so now
        elif not wanted and not dataset.loader:
            probe(dataset.path)  # nothing to judge, but an unreadable file says so now
        for check in wanted:
            rows.extend(runner.run(check))
    except DataError as exc:
        return DatasetOutcome(wanted, tuple(rows), None, str(exc))
    if "volume" in wanted and all(row.verdict == PASS for row in rows):
        runner.remember_volume()  # only a delivery that passed becomes the next comparison
    frame = runner._frames.get("current")
    count = len(frame) if frame is not None else None
    if dataset.loader and "current" in runner._loaded:
        count = runner.loaded().rows
    if count is None and runner._spark is not None and runner._spark._summary is not None:
        count = runner._spark.rows()
    if count is None:
        count = next((int(r.statistic) for r in rows if r.test == "row count" and r.statistic),
                     None)  # fmt: skip
    return DatasetOutcome(wanted, tuple(rows), count, shape=runner.shape())
