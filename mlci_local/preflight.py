"""Check the whole configuration before ``mlci run`` starts stage 1.

Why: a typo in a gate used to surface only at stage 4, after data validation and training had
run, and a run with nothing new to train never reached stage 4 at all, so it said "up to date"
(exit 0) with a broken gate in the file. Here every configured name is resolved once, up
front, by the same code the stages use later (the gate parser and metric catalog of
:class:`~pytest_mlci.evaluation.session.Evaluation`, the schema and loader importers), and
every problem found is reported at once as a :class:`~pytest_mlci.errors.ConfigError`
(exit 2), each line naming its key and the fix.

What it does not do: read data or load a model. Those are the stages' work, and a dataset or
artifact that a ``dvc.yaml`` stage produces may legitimately not exist yet.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pytest_mlci.config import DatasetConfig, MlciConfig
from pytest_mlci.errors import ConfigError

#: The suffixes :func:`pytest_mlci.data.loading.read_table` reads (a directory is parquet).
KNOWN_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".txt", ".jsonl", ".ndjson")


def preflight(config: MlciConfig) -> None:
    """Raise one :class:`ConfigError` listing every configuration problem; None when clean."""
    found = problems(config)
    if not found:
        return
    where = _shown(config.source, config.root)
    if len(found) == 1:
        raise ConfigError(f"{where}: {found[0]}")
    listed = "\n".join(f"  {problem}" for problem in found)
    raise ConfigError(f"{where}: {len(found)} configuration problems:\n{listed}")


def problems(config: MlciConfig) -> list[str]:
    """Every problem, one line each (``key 'gates.roc_acu': unknown metric ...``), in the
    order of the file: gates, user metrics, datasets, the model's functions."""
    found = [*_gate_problems(config), *_metric_problems(config)]
    dvc = _DvcOuts(config.root)
    for dataset in config.datasets.values():
        found += _dataset_problems(config, dataset, dvc)
    found += _model_problems(config)
    return list(dict.fromkeys(found))  # a shared cause (an unimportable metric) once


def _gate_problems(config: MlciConfig) -> list[str]:
    """Each gate parsed and its metric resolved exactly as the evaluation will, one by one so
    that every broken gate is named, not only the first."""
    from pytest_mlci.evaluation.session import Evaluation

    found = []
    for spec in config.gates:
        single = dataclasses.replace(config, gates=(spec,))
        try:
            Evaluation(single).gates()
        except ConfigError as exc:
            found.append(_line(exc, f"gates.{spec.metric}"))
    return found


def _metric_problems(config: MlciConfig) -> list[str]:
    """User metrics no gate names are still imported: a broken one would break reports."""
    from pytest_mlci.evaluation.session import Evaluation

    evaluation = Evaluation(config)
    found = []
    for name in config.metrics:
        try:
            evaluation.user_function(name)
        except ConfigError as exc:
            found.append(_line(exc, f"metrics.{name}"))
    return found


def _dataset_problems(config: MlciConfig, dataset: DatasetConfig, dvc: _DvcOuts) -> list[str]:
    from pytest_mlci.data.loaded import loader_function
    from pytest_mlci.data.schema import load_schema

    where = f"datasets.{dataset.name}"
    found = []
    if dataset.loader:  # the loader decides what its path means; it must import
        try:
            loader_function(dataset, root=config.root)
        except ConfigError as exc:
            found.append(_line(exc, f"{where}.loader"))
    else:
        for key, path in (("path", dataset.path), ("reference", dataset.reference)):
            if path is not None and not _spark_only(dataset, key):
                found += _path_problems(config, f"{where}.{key}", path, dvc)
    if dataset.schema:
        try:
            load_schema(dataset.schema, root=config.root, dataset=dataset.name)
        except ConfigError as exc:
            found.append(_line(exc, f"{where}.schema"))
    return found


def _spark_only(dataset: DatasetConfig, key: str) -> bool:
    """A catalog table or a URI: only Spark can say whether it is there (checked when read)."""
    from pytest_mlci.config import is_uri

    location = dataset.location if key == "path" else dataset.reference_location
    kind = dataset.format if key == "path" else dataset.reference_format
    return dataset.engine == "spark" and (kind == "table" or is_uri(location or ""))


def _path_problems(config: MlciConfig, key: str, path: Path, dvc: _DvcOuts) -> list[str]:
    shown = _shown(path, config.root)
    suffix = path.suffix.lower()
    if not path.is_dir() and suffix and suffix not in KNOWN_SUFFIXES:
        return [
            f"key '{key}': {shown}: unknown data format '{suffix}'; use .parquet, .csv, .tsv, "
            ".jsonl or a directory of parquet files, or read it with a loader = "
            "'module:function'"
        ]
    if path.exists() or dvc.produces(path):
        return []
    tracked = path.with_name(path.name + ".dvc")
    if tracked.is_file():
        return [
            f"key '{key}': {shown} is not here; it is tracked by {_shown(tracked, config.root)}: "
            "run `dvc pull` (or `dvc checkout`)"
        ]
    return [
        f"key '{key}': {shown} does not exist and no dvc.yaml stage lists it in its outs; fix "
        "the path, or add the stage that writes it"
    ]


def _model_problems(config: MlciConfig) -> list[str]:
    """``predict`` and ``model_loader`` must import and be callable (a custom model)."""
    from pytest_mlci.importing import import_object

    found = []
    for key, spec, example in (
        ("predict", config.predict, "serve:predict"),
        ("model_loader", config.model_loader, "serve:load"),
    ):
        if not spec:
            continue
        try:
            function = import_object(spec, root=config.root, key=key, example=example)
        except ConfigError as exc:
            found.append(_line(exc, key))
            continue
        if not callable(function):
            found.append(f"key '{key}': '{spec}' is not a function")
    return found


class _DvcOuts:
    """Whether a ``dvc.yaml`` stage writes a path, via the runner's own reading of its outs.

    A ``dvc.yaml`` with templating (``${...}``, ``foreach``, ``matrix``) names outs only DVC
    can resolve; then a missing path is left for stage 2 to judge rather than refused here.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        text = ""
        dvc_yaml = root / "dvc.yaml"
        if dvc_yaml.is_file():
            text = dvc_yaml.read_text(encoding="utf-8", errors="replace")
        self.unresolved = any(mark in text for mark in ("${", "foreach", "matrix"))

    def produces(self, path: Path) -> bool:
        if self.unresolved:
            return True
        from mlci_local.training import stages_producing

        try:
            return bool(stages_producing(self.root, [path]))
        except Exception:  # an unreadable dvc.yaml is stage 3's to report, with its reason
            return True


def _line(exc: ConfigError, key: str) -> str:
    """The error as one line that names its key (a parse error carries none of its own)."""
    text = str(exc)
    if exc.file and text.startswith(f"{exc.file}: "):  # the file heads the whole report
        text = text[len(exc.file) + 2 :]
    if exc.key is None:
        text = f"key '{key}': {text}"
    return text


def _shown(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)
