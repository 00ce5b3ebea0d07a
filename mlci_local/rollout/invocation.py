"""What an ``/invocations`` request may contain, checked before either model sees it.

A client's mistake (a missing column, a string where a number belongs, an empty list, NaN, a
body too large) is answered ``400``/``413``/``415`` with MLflow's error shape
(``{"error_code": "BAD_REQUEST", "message": ...}``) naming the column and the problem. It is
logged with no arm, so the canary judge never counts it against the candidate. Only a request
that passed these checks and then made a model raise is a ``500`` for that model's arm.

Where the expected input comes from (:class:`InputContract`):

* **Which columns**: each loaded model's own ``feature_names_in_`` (scikit-learn records the
  columns an estimator was fitted on; a Pipeline exposes its first step's). That is what a
  registered version will actually read, so an older production keeps being served correctly
  after the project's schema moved on. Both arms must accept a request whichever arm it is
  routed to, so the union of production's and the candidate's columns is required (otherwise
  whether a request is valid would depend on the traffic split). A model that records no
  columns falls back to the configured schema's columns.
* **Types, nullability and allowed values**: the pandera schema of the evaluation dataset
  (``[tool.mlci.datasets.eval] schema``), minus the target. scikit-learn records no input
  dtypes, and that schema is the contract the gates proved the candidate on: its dtype
  (integer, number, string, boolean), ``nullable`` flag and ``isin`` values. A column the
  schema does not describe gets the generic check only (a finite number, a string or a
  boolean, never a list, an object or null).
* **Rows as lists** (``instances`` / ``inputs`` as a list of lists, MLflow's tensor form) are
  taken only when no loaded model reads columns by name (one fitted on a numpy array or a
  sparse matrix): each row the same length, each value passing the generic check; the model
  gets them as a 2-D array. While a model reads named columns a position cannot say which
  column it is, so such a request is a 400 naming the columns to send.
* Nothing else: no range checks (``in_range``, ``ge``) and no frame-wide checks. An 81-year-old
  outside the training range is a real user to score, and drift monitoring's business; a value
  the schema lists no category for is answered 400 because the one-hot encoder would silently
  score it as "none of the known categories".

Policies:

* **Missing values**: ``null`` (and ``NaN``, which Python's ``json`` writes for a missing float)
  is accepted only in a column the schema declares ``nullable``; ``Infinity`` never is. A
  ``dataframe_records`` row without a key counts as null.
* **Unknown extra columns are ignored**, as ``mlflow models serve`` does: each model gets
  exactly the columns it was fitted on (in its order), the request log names what was
  ignored, and a missing column's message suggests a near-miss among them.
* **Integers**: an integer column accepts ``30`` and ``30.0``, not ``30.5``; integers beyond
  the 64-bit range are refused in every numeric column (pandas would make them objects).

Cost: the checks walk the decoded JSON once, in plain Python, before the DataFrame is built:
13 us for a one-row request of the bundled example's twelve columns, 1.3 ms for 1,000 rows of
five (against 1.1 ms to parse them); the contract is rebuilt only when a loaded model changes.
"""

from __future__ import annotations

import difflib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MAX_PROBLEMS = 5  # the message lists this many problems, then says how many more
MAX_SHOWN = 40  # characters of a client's value repeated in a message
INT64 = (-(2**63), 2**63 - 1)
INTEGER, NUMBER, STRING, BOOLEAN, ANY = "integer", "number", "string", "boolean", "any"
_EXPECTED = {
    INTEGER: "an integer",
    NUMBER: "a number",
    STRING: "a string",
    BOOLEAN: "true or false",
    ANY: "a number, a string or a boolean",
}
_ABSENT = object()  # a dataframe_records row without the key


class BadRequest(Exception):
    """The request cannot be scored as sent; ``status`` is 400, 413 or 415."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- the body


async def read_body(request: Any, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before a byte of the body is read
    (a client sending ``Expect: 100-continue`` never sends it); a chunked body is counted while
    it streams in and dropped at the first chunk past the limit, so memory stays bounded by
    the limit whatever the client sends.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise BadRequest(f"Content-Length {declared[:MAX_SHOWN]!r} is not a number") from None
        if length > limit:
            raise BadRequest(_too_large(limit, f"the body is {length:,} bytes, more"), 413)
    from starlette.requests import ClientDisconnect

    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BadRequest(_too_large(limit, "the body is larger"), 413)
            chunks.append(chunk)
    except ClientDisconnect:  # nobody is left to answer; logged as the client's, not a bug
        raise BadRequest("the client disconnected before sending the whole body") from None
    return b"".join(chunks)


def _too_large(limit: int, what: str) -> str:
    return (
        f"{what} than the limit of {limit / 2**20:.3g} MB ({limit:,} bytes); send fewer rows per "
        "request, or raise [tool.mlci.serve] max_body_mb"
    )


# --------------------------------------------------------------------------- the contract


@dataclass(frozen=True)
class ColumnSpec:
    """What one input column's values must be."""

    name: str
    kind: str = ANY  # integer | number | string | boolean | any
    nullable: bool = False
    allowed: frozenset[Any] | None = None  # the schema's isin values, when it lists them
    required: bool = True


@dataclass(frozen=True)
class Declared:
    """The input columns the configured schema declares (the target left out)."""

    columns: Mapping[str, ColumnSpec]
    source: str  # for messages: "the schema example.schema:EvalSchema"


@dataclass(frozen=True)
class Parsed:
    """A validated request: the DataFrame to score and the columns left out of it."""

    frame: Any
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class InputContract:
    """The columns a request must carry (and may carry) for every loaded model to score it."""

    columns: Mapping[str, ColumnSpec] = field(default_factory=dict)
    #: values per row of a list-of-values request (models fitted on unnamed arrays), if known
    widths: frozenset[int] = frozenset()

    @property
    def required(self) -> tuple[str, ...]:
        """Column names a request must carry."""
        return tuple(name for name, spec in self.columns.items() if spec.required)

    def parse(self, body: bytes, content_type: str | None) -> Parsed:
        """An ``/invocations`` body -> a validated DataFrame, or :class:`BadRequest`.

        Accepts what MLflow's scoring server accepts for tabular models: JSON with exactly one
        of ``dataframe_split``, ``dataframe_records``, ``instances`` (a list of row objects) or
        ``inputs`` (an object of column -> values, or a list of row objects), or ``text/csv``.
        Every format goes through the same column checks.
        """
        mime = (content_type or "application/json").split(";")[0].strip().lower()
        if mime == "text/csv":
            return self._csv(body)
        if mime != "application/json":
            raise BadRequest(
                f"unsupported content type {mime[:MAX_SHOWN]!r}; send application/json or text/csv",
                status=415,
            )
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from None
        except RecursionError:
            raise BadRequest("the body is not valid JSON: nested too deeply") from None
        if not isinstance(payload, dict):
            raise BadRequest(
                f"the body must be a JSON object with one of {list(FORMATS)}; "
                f"got {_kind_of(payload)}"
            )
        found = [key for key in FORMATS if key in payload]
        if len(found) != 1:
            raise BadRequest(
                f"the body must have exactly one of {list(FORMATS)}; got keys "
                f"{_names(sorted(map(str, payload)))}"
            )
        fmt = found[0]
        others = sorted(set(payload) - {fmt})
        if others:
            raise BadRequest(
                f"unexpected top-level key(s) {_names(others)} beside {fmt!r}; mlci serve takes "
                "the rows only (no 'params')"
            )
        data = payload[fmt]
        if fmt == "dataframe_split":
            return self._split(data)
        if fmt == "inputs" and isinstance(data, dict):
            return self._columnar(data)
        return self._rows(fmt, data)

    # ------------------------------------------------------------------ the formats

    def _split(self, data: Any) -> Parsed:
        import pandas as pd

        if not isinstance(data, dict) or "data" not in data or set(data) - {
            "columns", "data", "index"
        }:  # fmt: skip
            raise BadRequest(
                "dataframe_split must be an object with 'data' and optionally 'columns' and 'index'"
            )
        rows, names, index = data["data"], data.get("columns"), data.get("index")
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise BadRequest("dataframe_split.data must be a list of rows, each a list of values")
        if names is None:
            if self.columns:
                raise BadRequest(
                    "dataframe_split needs 'columns' (the models read columns by name: "
                    f"{_names(self.required)})"
                )
            names = list(range(len(rows[0]))) if rows else []
        elif not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BadRequest("dataframe_split.columns must be a list of column names (strings)")
        duplicated = [name for name, count in Counter(names).items() if count > 1]
        if duplicated:
            raise BadRequest(f"dataframe_split.columns names {_names(duplicated)} more than once")
        for number, row in enumerate(rows):
            if len(row) != len(names):
                raise BadRequest(
                    f"dataframe_split.data[{number}] has {len(row)} values for {len(names)} columns"
                )
        if index is not None and (
            not isinstance(index, list)
            or len(index) != len(rows)
            or not all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in index)
        ):
            raise BadRequest(
                "dataframe_split.index must be a list of row labels (strings or integers), "
                "one per row"
            )
        self._check_rows(len(rows), "dataframe_split.data")
        values = dict(zip(names, zip(*rows, strict=True), strict=True)) if rows else {}
        ignored = self._check(values, names)
        try:
            frame = pd.DataFrame(data=rows, columns=names, index=index)
        except Exception as exc:  # pandas refused what the checks let through
            raise BadRequest(f"dataframe_split is not a valid DataFrame: {exc}") from None
        return self._finish(frame, ignored)

    def _rows(self, fmt: str, rows: Any) -> Parsed:
        import pandas as pd

        if isinstance(rows, list) and rows and all(isinstance(row, list) for row in rows):
            return self._positional(fmt, rows)

        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            if isinstance(rows, list):
                number, bad = next((n, r) for n, r in enumerate(rows) if not isinstance(r, dict))
                got = f"item {number} is {_kind_of(bad)}"
            else:
                got = f"got {_kind_of(rows)}"
            raise BadRequest(
                f"{fmt} must be a list of objects, one per row, keyed by column name"
                + (" (or an object of column -> list of values)" if fmt == "inputs" else "")
                + f"; {got}"
            )
        self._check_rows(len(rows), fmt)
        names = list(dict.fromkeys(key for row in rows for key in row))
        values = {name: [row.get(name, _ABSENT) for row in rows] for name in names}
        ignored = self._check(values, names)
        try:
            frame = pd.DataFrame.from_records(rows)
        except Exception as exc:
            raise BadRequest(f"{fmt} is not a valid DataFrame: {exc}") from None
        return self._finish(frame, ignored)

    def _positional(self, fmt: str, rows: list[list[Any]]) -> Parsed:
        """Rows as plain lists of values (MLflow's tensor form), for models that read no column
        names: one fitted on a numpy array or a sparse matrix. Refused while a model reads
        columns by name, since a position cannot say which column it is."""
        import pandas as pd

        if self.columns:
            raise BadRequest(
                f"{fmt} rows are lists of values, but the models read columns by name: send "
                f"objects keyed by {_names(self.required)} (or dataframe_split with 'columns')"
            )
        widths = {len(row) for row in rows}
        if len(widths) != 1 or 0 in widths:
            raise BadRequest(
                f"{fmt} rows must all have the same, non-zero number of values; got lengths "
                f"{sorted(widths)[:5]}"
            )
        width = widths.pop()
        if self.widths and width not in self.widths:
            takes = " or ".join(str(w) for w in sorted(self.widths))
            raise BadRequest(f"{fmt} rows have {width} values; the model takes {takes}")
        names = list(range(width))
        ignored = self._check(dict(zip(names, zip(*rows, strict=True), strict=True)), names)
        try:
            frame = pd.DataFrame(rows, columns=names)
        except Exception as exc:
            raise BadRequest(f"{fmt} is not a valid table of values: {exc}") from None
        return self._finish(frame, ignored)

    def _columnar(self, data: dict[str, Any]) -> Parsed:
        import pandas as pd

        lengths = {len(v) if isinstance(v, list) else -1 for v in data.values()}
        if -1 in lengths:
            bad = next(name for name, v in data.items() if not isinstance(v, list))
            raise BadRequest(
                f"inputs[{_show(bad)}] must be a list of values, one per row; got "
                f"{_kind_of(data[bad])}"
            )
        if len(lengths) > 1:
            raise BadRequest(
                f"the columns of 'inputs' have different lengths {sorted(lengths)}; give one "
                "value per row in every column"
            )
        self._check_rows(lengths.pop() if lengths else 0, "inputs")
        names = list(data)
        ignored = self._check(data, names)
        try:
            frame = pd.DataFrame(data)
        except Exception as exc:
            raise BadRequest(f"inputs is not a valid DataFrame: {exc}") from None
        return self._finish(frame, ignored)

    def _csv(self, body: bytes) -> Parsed:
        import io

        import pandas as pd

        try:
            frame = pd.read_csv(io.BytesIO(body))
        except Exception as exc:
            raise BadRequest(f"cannot parse the CSV body as a DataFrame: {exc}") from None
        self._check_rows(len(frame), "the CSV body")
        names = [str(name) for name in frame.columns]
        frame.columns = names
        ignored = self._check({name: frame[name].tolist() for name in names}, names)
        return self._finish(frame, ignored)

    # ------------------------------------------------------------------ the checks

    @staticmethod
    def _check_rows(count: int, where: str) -> None:
        if count == 0:
            raise BadRequest(f"no rows to score: {where} is empty")

    def _check(self, values: Mapping[Any, Sequence[Any]], names: Sequence[Any]) -> tuple[str, ...]:
        """Check every column against the contract; the names that will be ignored."""
        problems: list[str] = []
        present = set(names)
        missing = [name for name in self.required if name not in present]
        extra = [name for name in names if name not in self.columns] if self.columns else []
        if missing:
            problems.append(_missing(missing, extra))
        if self.columns:
            checked: Iterable[tuple[Any, ColumnSpec]] = (
                (name, spec) for name, spec in self.columns.items() if name in present
            )
        else:  # nothing known about the inputs: the generic check on every column
            checked = ((name, ColumnSpec(str(name))) for name in names)
        for name, spec in checked:
            problem = _column_problem(spec, values[name])
            if problem:
                problems.append(problem)
                if len(problems) > MAX_PROBLEMS:
                    break
        if problems:
            more = len(problems) - MAX_PROBLEMS
            shown = "; ".join(problems[:MAX_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
            raise BadRequest(shown)
        return tuple(str(name) for name in extra)

    def _finish(self, frame: Any, ignored: tuple[str, ...]) -> Parsed:
        if ignored:
            frame = frame[[name for name in frame.columns if name in self.columns]]
        return Parsed(frame, ignored)


def _missing(missing: list[Any], extra: list[Any]) -> str:
    hints = []
    for name in missing:
        close = difflib.get_close_matches(str(name), [str(e) for e in extra], n=1)
        if close:
            hints.append(f"{close[0]!r} for {name!r}?")
    hint = f" (did you mean {', '.join(hints)})" if hints else ""
    noun = "column" if len(missing) == 1 else "columns"
    return f"missing {noun} {_names(missing)}{hint}"


def _column_problem(spec: ColumnSpec, values: Sequence[Any]) -> str | None:
    """The first problem among one column's values, or None; a tight loop (the hot path)."""
    kind, nullable, allowed = spec.kind, spec.nullable, spec.allowed
    for row, value in enumerate(values):
        kind_of_value = type(value)
        if kind_of_value is float:
            if value != value:  # NaN: how Python's json writes a missing float
                if nullable:
                    continue
                return _at(spec, row, f"NaN is not allowed{_not_nullable(spec)}")
            if value in (math.inf, -math.inf):
                return _at(spec, row, f"{value} is not a finite number")
            if kind == INTEGER and not value.is_integer():
                return _at(spec, row, f"expected an integer, got {value!r}")
            if kind in (STRING, BOOLEAN):
                return _wrong(spec, row, value)
        elif kind_of_value is int:
            if kind in (STRING, BOOLEAN):
                return _wrong(spec, row, value)
            if not INT64[0] <= value <= INT64[1]:
                return _at(spec, row, f"{_show(value)} is outside the 64-bit integer range")
        elif kind_of_value is str:
            if kind not in (STRING, ANY):
                return _wrong(spec, row, value)
        elif kind_of_value is bool:
            if kind not in (BOOLEAN, ANY):
                return _wrong(spec, row, value)
        elif value is None or value is _ABSENT:
            if nullable:
                continue
            what = "null" if value is None else "no value (the key is absent)"
            return _at(spec, row, f"{what} is not allowed{_not_nullable(spec)}")
        else:
            return _wrong(spec, row, value)
        if allowed is not None and value not in allowed:
            shown = ", ".join(repr(v) for v in sorted(allowed, key=str)[:12])
            return _at(spec, row, f"{_show(value)} is not an allowed value (allowed: {shown})")
    return None


def _at(spec: ColumnSpec, row: int, problem: str) -> str:
    return f"column {spec.name!r}, row {row}: {problem}"


def _wrong(spec: ColumnSpec, row: int, value: Any) -> str:
    return _at(spec, row, f"expected {_EXPECTED[spec.kind]}, got {_kind_of(value)}")


def _not_nullable(spec: ColumnSpec) -> str:
    if spec.kind == ANY and spec.allowed is None:
        return " (send a value; declare the column nullable in the schema to allow missing ones)"
    return " (the schema does not declare the column nullable)"


def _kind_of(value: Any) -> str:
    """How a client's JSON value is described in a message: its JSON type and a short repr."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"a string {_show(value)}"
    if isinstance(value, (int, float)):
        return f"a number {_show(value)}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _names(names: Iterable[Any]) -> str:
    listed = list(names)
    shown = ", ".join(_show(n) for n in listed[:20])
    return f"[{shown}{', ...' if len(listed) > 20 else ''}]"


# --------------------------------------------------------------------------- building it


def model_features(model: Any) -> tuple[str, ...] | None:
    """The column names ``model`` was fitted on (scikit-learn's ``feature_names_in_``), or None.

    None for a model fitted on an unnamed array or one that does not record them; a property
    that raises (a Pipeline whose first step has none) counts as not recorded.
    """
    try:
        names = getattr(model, "feature_names_in_", None)
    except Exception:
        return None
    if names is None:
        return None
    try:
        return tuple(str(name) for name in names)
    except TypeError:
        return None


def declared_inputs(config: Any) -> Declared | None:
    """The input columns the evaluation dataset's pandera schema declares, target removed.

    None when no dataset or schema is configured. A schema that cannot be loaded raises the
    same :class:`~pytest_mlci.errors.ConfigError` the data checks raise (the key named).
    """
    from pytest_mlci.errors import ConfigError

    if not config.datasets:
        return None
    try:
        dataset = config.eval_dataset
    except ConfigError:  # several datasets and none named "eval": the gates say so
        return None
    if not dataset.schema:
        return None
    from pytest_mlci.data.schema import load_schema

    schema = load_schema(dataset.schema, root=config.root, dataset=dataset.name)
    schema = schema.to_schema() if hasattr(schema, "to_schema") else schema
    target = dataset.target or config.target
    columns = {}
    for name, column in schema.columns.items():
        if name == target or getattr(column, "regex", False):
            continue  # a regex "column" is a pattern, not a name a request can carry
        columns[str(name)] = _spec(str(name), column)
    return Declared(columns, f"the schema {dataset.schema}")


def _spec(name: str, column: Any) -> ColumnSpec:
    """One pandera column -> what its values must be at serving time."""
    import pandas as pd

    dtype = getattr(column.dtype, "type", None) if column.dtype is not None else None
    allowed: frozenset[Any] | None = None
    for check in column.checks:
        if getattr(check, "name", None) == "isin":
            values = (check.statistics or {}).get("allowed_values")
            if values is not None:
                allowed = frozenset(values)
    kind = ANY
    try:
        if isinstance(dtype, pd.CategoricalDtype):
            if dtype.categories is not None:
                allowed = frozenset(dtype.categories.tolist())
                if all(isinstance(v, str) for v in allowed):
                    kind = STRING
        elif dtype is None or dtype == object:  # noqa: E721 - a numpy dtype, not a type
            kind = ANY
        elif pd.api.types.is_bool_dtype(dtype):
            kind = BOOLEAN
        elif pd.api.types.is_integer_dtype(dtype):
            kind = INTEGER
        elif pd.api.types.is_float_dtype(dtype):
            kind = NUMBER
        elif pd.api.types.is_string_dtype(dtype):
            kind = STRING
    except TypeError:  # a dtype pandas cannot classify: the generic check
        kind = ANY
    return ColumnSpec(
        name,
        kind=kind,
        nullable=bool(getattr(column, "nullable", False)),
        allowed=allowed,
        required=bool(getattr(column, "required", True)),
    )


def build_contract(
    declared: Declared | None,
    features: Sequence[tuple[str, ...] | None],
    *,
    widths: Sequence[int | None] = (),
) -> InputContract:
    """The contract for the loaded models' ``features`` (one entry per loaded arm).

    When every loaded model records its columns, those (their union) are the contract, each
    typed by the schema where it declares the column; otherwise the schema's columns join in.
    With neither, the contract is empty: each column gets the generic check and none is
    required or ignored.
    """
    declared_columns = declared.columns if declared is not None else {}
    columns: dict[str, ColumnSpec] = {}
    for names in features:
        for name in names or ():
            spec = declared_columns.get(name) or ColumnSpec(name)
            columns[name] = ColumnSpec(spec.name, spec.kind, spec.nullable, spec.allowed, True)
    if not features or any(names is None for names in features):
        for name, spec in declared_columns.items():
            columns.setdefault(name, spec)
    # both arms must accept a request of lists whichever arm it goes to: one width only
    known = {int(w) for w in widths if isinstance(w, Integral) and w > 0}
    return InputContract(columns, frozenset(known) if len(known) == 1 else frozenset())
