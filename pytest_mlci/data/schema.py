"""Schema validation through pandera, lazily, so every failure is reported at once.

A schema is named in config either as a Python object path (``package.module:Name``, a
pandera ``DataFrameModel`` class or ``DataFrameSchema`` instance) or as a pandera YAML file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mlci.errors import ConfigError
from pytest_mlci.importing import import_object

MAX_FAILURES_SHOWN = 10
MAX_ROWS_SHOWN = 5


@dataclass(frozen=True)
class SchemaFailure:
    """One failed check: the column, the check, and a few offending row indices."""

    column: str
    check: str
    rows: tuple[Any, ...]
    count: int

    def describe(self) -> str:
        rows = ", ".join(map(str, self.rows))
        more = f" (+{self.count - len(self.rows)} more)" if self.count > len(self.rows) else ""
        where = f" at rows {rows}{more}" if self.rows else ""
        if not self.rows and self.count > 1:  # counted where row numbers mean nothing (Spark)
            where = f" in {self.count:,} rows"
        return f"column '{self.column}': {self.check} failed{where}"


def load_schema(spec: str, *, root: Path, dataset: str) -> Any:
    """Resolve ``spec`` into a pandera schema object."""
    key = f"datasets.{dataset}.schema"
    if spec.endswith((".yaml", ".yml")):
        import pandera.io

        path = root / spec
        if not path.is_file():
            raise ConfigError(f"schema file {path} not found", key=key)
        return pandera.io.from_yaml(path)
    if ":" not in spec:
        raise ConfigError(
            f"'{spec}' is neither a YAML file nor 'module:Object'; "
            "e.g. 'example.schema:EvalSchema'",
            key=key,
        )
    return import_object(spec, root=root, key=key, example="example.schema:EvalSchema")


def validate_frame(schema: Any, frame: Any) -> list[SchemaFailure]:
    """Validate lazily; return every failure grouped by column and check (empty when valid)."""
    import pandera.errors

    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        return _group(exc.failure_cases)
    except pandera.errors.SchemaError as exc:  # raised for some frame-level problems
        return [SchemaFailure(str(getattr(exc, "column_name", None) or "<frame>"), str(exc), (), 1)]
    return []


def _group(cases: Any) -> list[SchemaFailure]:
    failures: list[SchemaFailure] = []
    # A missing column is reported by pandera against the schema's name; name the column.
    missing = cases["check"].astype(str) == "column_in_dataframe"
    if missing.any():
        cases = cases.copy()
        cases.loc[missing, "column"] = cases.loc[missing, "failure_case"].astype(str)
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        indices = [i for i in group["index"].tolist() if i == i and i is not None]
        failures.append(
            SchemaFailure(
                column=str(column) if column == column and column is not None else "<frame>",
                check=str(check),
                rows=tuple(int(i) if isinstance(i, float) else i for i in indices[:MAX_ROWS_SHOWN]),
                count=max(len(indices), 1),
            )
        )
    return failures
