"""The data checks of one dataset, as plain functions shared by pytest items and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_mlci.config import DatasetConfig
from pytest_mlci.data.loading import read_table
from pytest_mlci.data.schema import MAX_FAILURES_SHOWN, load_schema, validate_frame


@dataclass(frozen=True)
class SchemaReport:
    """How many rows were checked and one line per failed check (empty when valid)."""

    rows: int
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures


def check_schema(dataset: DatasetConfig, *, root: Path) -> SchemaReport:
    """Validate the dataset against its schema.

    Unreadable files raise :class:`~pytest_mlci.errors.DataError` (a named failure).
    """
    frame = read_table(dataset.path)
    if not dataset.schema:
        return SchemaReport(len(frame), ())
    schema = load_schema(dataset.schema, root=root, dataset=dataset.name)
    failures = validate_frame(schema, frame)
    lines = [f"{dataset.path}: {failure.describe()}" for failure in failures[:MAX_FAILURES_SHOWN]]
    if len(failures) > MAX_FAILURES_SHOWN:
        lines.append(f"... and {len(failures) - MAX_FAILURES_SHOWN} more failed checks")
    return SchemaReport(len(frame), tuple(lines))
