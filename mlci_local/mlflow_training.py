"""Stage 3 for training scripts that log their model with MLflow: no change to the script.

Configured by ``[tool.mlci.training] mlflow_model = "model"``: "the training command logs an
MLflow model with this name; it is the candidate".

How it works
------------
1. mlci creates an MLflow run first, on the project's tracking/registry URI
   (``config.registry_uri``: the embedded sqlite store or the team server), and exports
   ``MLFLOW_TRACKING_URI``, ``MLFLOW_RUN_ID`` and ``MLFLOW_EXPERIMENT_ID`` while ``dvc repro``
   runs. DVC runs in this process; its stage commands are subprocesses and inherit them, so the
   script's ``mlflow.start_run()`` (or autolog's implicit one) resumes *our* run, and what it
   logs (params, metrics, ``log_model``) lands there. The environment is restored afterwards.
2. After ``dvc repro`` the model named ``mlflow_model`` is looked up: an MLflow 3
   LoggedModel whose ``source_run_id`` is the run (or one of its nested child runs), else an
   MLflow 2-style run artifact folder ``runs:/<id>/<name>`` holding an ``MLmodel``. The run is
   then terminated (FINISHED, or FAILED when ``dvc repro`` failed: never left RUNNING). It is
   downloaded into a temporary directory next to ``artifact`` and renamed into place, so
   ``artifact`` is never half written; from then on the pipeline sees an ordinary MLflow model
   directory there. ``.mlci/training/mlflow-candidate.json`` records which run, model and
   ``dvc.lock`` entries produced it (removed before the swap, written after it: a crash in
   between leaves no record, and the next run trains again rather than trusting a stale one).
3. Registration tags the version with the run id, its params and metrics
   (:func:`training_tags`), so the registered version links back to the project's own run.

``mlflow.set_experiment`` in the script
---------------------------------------
MLflow's ``start_run`` (mlflow/tracking/fluent.py, 3.17) refuses to resume ``MLFLOW_RUN_ID``
when ``set_experiment`` chose another experiment than the run's ("Cannot start run with ID ...
because active experiment ID does not match environment run ID"), and the script fails. So
the run is created in the experiment the script will choose: ``[tool.mlci.training]
experiment`` if set, else the string literal the stage scripts pass to ``set_experiment``
(read with ``ast`` from the ``.py`` files / ``-m`` modules named in the ``dvc.yaml`` commands;
two different names are a configuration error), else an experiment named after the model.
When the name is not a literal and the run lands elsewhere, MLflow's refusal is turned into a
message saying which key to set. Scripts without ``set_experiment``, and ``mlflow.autolog()``
(whose implicit ``start_run`` honours ``MLFLOW_RUN_ID``; its model is named ``"model"``), join
the run as they are.

Stages without ``outs`` (what DVC does, checked with DVC 3.67)
--------------------------------------------------------------
A script that writes nothing but MLflow runs has no ``outs``. DVC runs such a stage when its
``deps``/``params``/``cmd`` changed since ``dvc.lock``, skips it ("didn't change") otherwise,
and never restores it from its run cache (only ``outs`` are cached); a stage with no ``deps``
at all runs every time. ``artifact`` must not be an ``out`` of a stage (the script never writes
it; DVC would fail after the run), which is checked up front.

So when the run got no model because the training stage did not run (up to date, or
restored from the run cache), the candidate already at ``artifact`` is kept if the record says
a linked run materialised it from the same ``dvc.lock`` entry of the training stage and its
files are unchanged. Otherwise (a fresh CI runner, which has neither ``.mlci/`` nor the
directory; files edited by hand; a ``dvc repro`` outside mlci after an input changed, whose
model went to no linked run) mlci forces that one stage (``dvc repro -f -s <stage>``) inside
the same run: the model is trained again, and content identity
(:mod:`pytest_mlci.content_digest`, which ignores ``MLmodel``'s per-save fields) decides
whether it is a new version. The training stage is
``[tool.mlci.training] stage``, else the stage whose script calls ``log_model``/``autolog``,
else ``train``. An empty run (nothing ran, nothing logged) is deleted rather than left behind.

This module writes training runs to MLflow tracking, never to the model registry:
:mod:`mlci_local.registry` stays the only writer of versions and aliases.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_mlci.config import MlciConfig
from pytest_mlci.environment import environment
from pytest_mlci.errors import CheckFailed, ConfigError
from pytest_mlci.redact import redact_text

RECORD = Path("training") / "mlflow-candidate.json"


def record_path(config: MlciConfig) -> Path:
    """Where the materialised candidate's record lives: one per model of a many-model
    repository (each model's training run links its own)."""
    if getattr(config, "multi", False):
        return config.state_dir / RECORD.with_name(f"mlflow-candidate-{config.label}.json")
    return config.state_dir / RECORD


MISMATCH = "active experiment ID does not match environment run ID"
RUN_TAGS = {"mlci.training": "dvc repro", "mlflow.source.name": "dvc repro"}


@dataclass(frozen=True)
class TrainingLink:
    """The MLflow run (and model) the candidate at ``artifact`` came from."""

    run_id: str
    experiment_id: str
    experiment: str
    model_name: str
    model_id: str | None  # the MLflow 3 LoggedModel; None for a run artifact folder
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    stages: Mapping[str, str] = field(default_factory=dict)  # dvc.lock entry digests
    digest: str = ""
    kept: bool = False  # True: materialised by an earlier run, kept because training did not run
    forced: bool = False  # True: DVC found the stage up to date; mlci ran it again in the run

    def describe(self, artifact: str) -> str:
        source = f"model '{self.model_name}'" + (f" ({self.model_id})" if self.model_id else "")
        linked = f"{len(self.params)} param(s), {len(self.metrics)} metric(s) linked"
        if self.kept:
            return (
                f"training did not run: kept {artifact}, materialised from MLflow run "
                f"{self.run_id} ({source}); {linked}"
            )
        forced = (
            " (the stage was up to date for DVC but no linked model was materialised here, so "
            "mlci ran it again inside the run)"
            if self.forced
            else ""
        )
        return (
            f"MLflow run {self.run_id} (experiment '{self.experiment}'): {source} "
            f"materialised at {artifact}{forced}; {linked}"
        )


def training_tags(link: TrainingLink) -> dict[str, str]:
    """Version tags linking a registered model to the training run (clipped at registration)."""
    from mlci_local.registry import flatten

    tags = {
        "mlci.training.run_id": link.run_id,
        "mlci.training.experiment_id": link.experiment_id,
        **flatten("mlci.training.param", dict(link.params)),
        **{f"mlci.training.metric.{k}": format(v, ".10g") for k, v in link.metrics.items()},
    }
    if link.model_id:
        tags["mlci.training.model_id"] = link.model_id
    return tags


def reproduce_in_run(config: MlciConfig) -> tuple[Any, TrainingLink]:
    """``dvc repro`` joined to a new MLflow run; the logged model materialised at ``artifact``.

    Returns DVC's :class:`~mlci_local.training.ReproResult` and the link to the run.
    """
    from mlci_local.registry import Registry
    from mlci_local.training import ReproResult, reproduce, stages_producing

    name = config.training.mlflow_model
    if not name:
        raise _config_error(
            config, "set [tool.mlci.training] mlflow_model", key="training.mlflow_model"
        )
    artifact = config.artifact
    producers = stages_producing(config.root, [artifact])
    if producers:
        raise _config_error(
            config,
            f"{_shown(config, artifact)} is an out of dvc.yaml stage(s) {', '.join(producers)}, "
            "but with training.mlflow_model mlci materialises it from the MLflow run; remove it "
            "from the stage's outs (and keep it out of git: add it to .gitignore)",
            key="training.mlflow_model",
        )
    stage = _training_stage(config)
    registry = Registry(config)
    client = registry.client
    experiment_id, experiment = _experiment(config, registry)
    run = registry.call(
        "create training run",
        client.create_run,
        experiment_id,
        tags={"mlci.model": config.model, **RUN_TAGS},
    )
    run_id = run.info.run_id
    status, kept, forced = "FAILED", None, False
    try:
        with environment(
            MLFLOW_TRACKING_URI=config.registry_uri,
            MLFLOW_RUN_ID=run_id,
            MLFLOW_EXPERIMENT_ID=experiment_id,
        ):
            result = _reproduce(reproduce, config, run_id, experiment)
            found = _logged_model(registry, run_id, experiment_id, name)
            if found is None and stage not in result.ran:
                kept = _kept_candidate(config)
                if kept is None:
                    # Up to date for DVC, but no linked model here (a fresh CI runner, or the
                    # files at `artifact` changed): train again, inside the run.
                    again = _reproduce(reproduce, config, run_id, experiment, [stage])
                    result = ReproResult(
                        result.reproduced + again.reproduced, result.log + again.log
                    )
                    forced = True
                    found = _logged_model(registry, run_id, experiment_id, name)
        status = "FINISHED"
    finally:  # never left RUNNING, whatever the script or DVC did
        registry.call("end training run", client.set_terminated, run_id, status)
    if found is not None:
        link = _materialise(config, registry, found, run_id, experiment_id, experiment, stage)
        return result, TrainingLink(**{**asdict(link), "forced": forced})
    if kept is not None:
        if not _logged_anything(registry, run_id):
            registry.call("delete empty training run", client.delete_run, run_id)
        return result, kept
    logged = _logged_names(registry, run_id, experiment_id)
    names = ", ".join(repr(n) for n in logged) if logged else "no model at all"
    ran = ", ".join(result.ran) or "nothing"
    raise CheckFailed(
        f"dvc repro ran {ran} in MLflow run {run_id}, but no model named {name!r} was logged "
        f"(it logged: {names}); log it with mlflow.<flavour>.log_model(..., name={name!r}) or "
        f"set [tool.mlci.training] mlflow_model = {name!r} to the name the script uses"
    )


def _reproduce(
    reproduce: Any,
    config: MlciConfig,
    run_id: str,
    experiment: str,
    force: list[str] | None = None,
) -> Any:
    try:
        return reproduce(config.root, force, force=bool(force))
    except CheckFailed as exc:
        if MISMATCH in str(exc):
            raise CheckFailed(_mismatch_message(run_id, experiment, str(exc))) from None
        raise


# --------------------------------------------------------------------------- experiment


def _experiment(config: MlciConfig, registry: Any) -> tuple[str, str]:
    """(id, name) of the experiment the script will use; created when missing."""
    from mlflow.exceptions import MlflowException

    from pytest_mlci import registry_read as rr

    name = config.training.experiment or _experiment_named_by_scripts(config) or config.model
    client = registry.client
    experiment = registry.call("read experiment", client.get_experiment_by_name, name)
    if experiment is None:
        location = None
        if rr.sqlite_path(config.registry_uri) is not None:  # embedded: files under .mlci/
            location = (config.state_dir / "mlflow-artifacts").resolve().as_uri()
        try:
            return client.create_experiment(name, location), name
        except MlflowException as exc:  # created meanwhile by another runner: use theirs
            if "RESOURCE_ALREADY_EXISTS" not in str(getattr(exc, "error_code", "")):
                registry.call("create experiment", _raise, exc)
        experiment = registry.call("read experiment", client.get_experiment_by_name, name)
    if experiment is None or experiment.lifecycle_stage == "deleted":
        raise _config_error(
            config,
            f"MLflow experiment {name!r} is deleted; restore it (`mlflow experiments restore`) "
            "or choose another with [tool.mlci.training] experiment = '...'",
            key="training.experiment",
        )
    return experiment.experiment_id, name


def _raise(exc: BaseException) -> None:
    raise exc


def _experiment_named_by_scripts(config: MlciConfig) -> str | None:
    """The one experiment name the stage scripts pass to ``set_experiment`` as a literal."""
    names: dict[str, Path] = {}
    for scripts in _stage_scripts(config.root).values():
        for script in scripts:
            for name in _literal_arguments(script, "set_experiment", "experiment_name"):
                names.setdefault(name, script)
    if len(names) > 1:
        listed = ", ".join(f"{n!r} ({p.relative_to(config.root)})" for n, p in names.items())
        raise _config_error(
            config,
            f"the training scripts name several MLflow experiments ({listed}); mlci creates "
            "its run before they start, so choose the training one with "
            "[tool.mlci.training] experiment = '...'",
            key="training.experiment",
        )
    return next(iter(names), None)


def _training_stage(config: MlciConfig) -> str:
    """The stage that logs the model: configured, else the one whose script calls
    ``log_model``/``autolog``, else ``train``."""
    stages = _stage_scripts(config.root)
    configured = config.training.stage
    if not stages:  # no dvc.yaml: reproduce() says so in its own words
        return configured or "train"
    if configured is not None:
        if stages and configured not in stages:
            raise _config_error(
                config,
                f"{configured!r} is not a stage of dvc.yaml (stages: {', '.join(stages)})",
                key="training.stage",
            )
        return configured
    logging = [
        stage
        for stage, scripts in stages.items()
        if any(_calls(script, ("log_model", "autolog")) for script in scripts)
    ]
    if len(logging) == 1:
        return logging[0]
    if "train" in stages and (not logging or "train" in logging):
        return "train"
    found = (
        f"stages {', '.join(logging)} all log models"
        if logging
        else "no stage script calls log_model or autolog"
    )
    raise _config_error(
        config,
        f"cannot tell which dvc.yaml stage logs the MLflow model ({found}); set "
        "[tool.mlci.training] stage = '<stage name>'",
        key="training.stage",
    )


def _stage_scripts(root: Path) -> dict[str, list[Path]]:
    """Per stage, the Python files its ``dvc.yaml`` command runs (``x.py``, ``-m module``)."""
    import yaml

    try:
        document = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}  # reproduce() reports a missing or broken dvc.yaml in its own words
    found: dict[str, list[Path]] = {}
    for name, stage in (document.get("stages") or {}).items():
        scripts: list[Path] = []
        found[str(name)] = scripts
        if not isinstance(stage, dict):
            continue
        wdir = root / str(stage.get("wdir", "."))
        commands = stage.get("cmd") or []
        for command in [commands] if isinstance(commands, str) else commands:
            try:
                words = shlex.split(str(command))
            except ValueError:
                continue
            for index, word in enumerate(words):
                if word.endswith(".py"):
                    scripts.append(wdir / word)
                elif word == "-m" and index + 1 < len(words):
                    module = wdir / words[index + 1].replace(".", "/")
                    scripts += [module.with_suffix(".py"), module / "__main__.py"]
        scripts[:] = [path for path in scripts if path.is_file()]
    return found


def _parsed(script: Path) -> ast.AST | None:
    try:
        return ast.parse(script.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def _called(node: ast.AST) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _calls(script: Path, names: tuple[str, ...]) -> bool:
    tree = _parsed(script)
    return tree is not None and any(_called(node) in names for node in ast.walk(tree))


def _literal_arguments(script: Path, function: str, keyword: str) -> set[str]:
    """String literals passed as the first argument (or ``keyword=``) to ``function``."""
    tree = _parsed(script)
    values: set[str] = set()
    for node in ast.walk(tree) if tree is not None else ():
        if not isinstance(node, ast.Call) or _called(node) != function:
            continue
        argument = node.args[0] if node.args else None
        for given in node.keywords:
            if given.arg == keyword:
                argument = given.value
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            values.add(argument.value)
    return values


def _mismatch_message(run_id: str, experiment: str, output: str) -> str:
    return (
        f"the training script called mlflow.set_experiment(...) with another experiment than "
        f"'{experiment}', where mlci created MLflow run {run_id} for it, so MLflow refused to "
        "join that run. Set [tool.mlci.training] experiment = '<the name the script passes to "
        "set_experiment>' (mlci reads it from the script only when it is a string literal).\n"
        + output
    )


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class _Found:
    run_id: str  # the run that logged it (ours, or a nested child)
    model_id: str | None
    uri: str


def _runs(registry: Any, run_id: str, experiment_id: str) -> list[str]:
    """Our run, then its nested child runs (a script may log its model in a child)."""
    children = registry.call(
        "search nested runs",
        registry.client.search_runs,
        [experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{run_id}'",
    )
    return [run_id, *(child.info.run_id for child in children)]


def _logged_models(registry: Any, run_id: str, experiment_id: str) -> list[Any]:
    models = []
    for source in _runs(registry, run_id, experiment_id):
        models += registry.call(
            "search logged models",
            registry.client.search_logged_models,
            [experiment_id],
            filter_string=f"source_run_id = '{source}'",
        )
    return sorted(models, key=lambda m: m.creation_timestamp or 0)


def _run_model_folders(registry: Any, run_id: str) -> list[str]:
    """MLflow 2-style model folders among a run's top-level artifacts."""
    folders = []
    for entry in registry.call("list run artifacts", registry.client.list_artifacts, run_id):
        if entry.is_dir:
            inside = registry.call(
                "list run artifacts", registry.client.list_artifacts, run_id, entry.path
            )
            if any(Path(item.path).name == "MLmodel" for item in inside):
                folders.append(entry.path)
    return folders


def _logged_model(registry: Any, run_id: str, experiment_id: str, name: str) -> _Found | None:
    from mlflow.entities import LoggedModelStatus

    named = [m for m in _logged_models(registry, run_id, experiment_id) if m.name == name]
    if named:
        model = named[-1]
        if model.status != LoggedModelStatus.READY:
            raise CheckFailed(
                f"MLflow run {model.source_run_id} logged model {name!r} ({model.model_id}) but "
                f"it is {model.status}, not READY (did log_model fail part way?)"
            )
        # A script that logs the name twice (checkpoints, then the final model): the last one.
        # Its artifact location, not `models:/<id>`: MLflow resolves that through the global
        # tracking URI, not the one passed to download_artifacts (mlflow 3.17).
        return _Found(model.source_run_id, model.model_id, model.artifact_location)
    for source in _runs(registry, run_id, experiment_id):
        if name in _run_model_folders(registry, source):
            return _Found(source, None, f"runs:/{source}/{name}")
    return None


def _logged_names(registry: Any, run_id: str, experiment_id: str) -> list[str]:
    names = [m.name for m in _logged_models(registry, run_id, experiment_id)]
    return sorted(set(names) | set(_run_model_folders(registry, run_id)))


def _logged_anything(registry: Any, run_id: str) -> bool:
    run = registry.call("read training run", registry.client.get_run, run_id)
    mine = set(RUN_TAGS) | {"mlci.model"}
    own_tags = [k for k in run.data.tags if not k.startswith("mlflow.") and k not in mine]
    outputs = getattr(run, "outputs", None)
    return bool(
        run.data.params
        or run.data.metrics
        or own_tags
        or (outputs is not None and outputs.model_outputs)
        or registry.call("list run artifacts", registry.client.list_artifacts, run_id)
    )


def _materialise(
    config: MlciConfig,
    registry: Any,
    found: _Found,
    run_id: str,
    experiment_id: str,
    experiment: str,
    stage: str,
) -> TrainingLink:
    """Download ``found`` into ``artifact`` atomically; record where it came from."""
    import mlflow.artifacts

    from pytest_mlci.fileio import write_atomically
    from pytest_mlci.model_io import artifact_digest

    artifact = config.artifact
    artifact.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{artifact.name}.mlci-new-", dir=artifact.parent))
    try:
        shown = f"model {found.model_id}" if found.model_id else redact_text(found.uri)
        target = Path(
            registry.call(
                f"download {shown}",
                mlflow.artifacts.download_artifacts,
                artifact_uri=found.uri,
                dst_path=str(staging / "download"),
                tracking_uri=config.registry_uri,
                registry_uri=config.registry_uri,
            )
        )
        if not (target / "MLmodel").is_file():
            raise CheckFailed(f"{shown} downloaded without an MLmodel file; not an MLflow model")
        digest = artifact_digest(target)
        # Params and metrics of our run, and of the nested run that logged the model if any.
        runs = [
            registry.call("read training run", registry.client.get_run, r)
            for r in dict.fromkeys([run_id, found.run_id])
        ]
        link = TrainingLink(
            run_id=run_id,
            experiment_id=experiment_id,
            experiment=experiment,
            model_name=config.training.mlflow_model or "",
            model_id=found.model_id,
            params={k: v for run in runs for k, v in run.data.params.items()},
            metrics={k: v for run in runs for k, v in run.data.metrics.items()},
            # The training stage's dvc.lock entry: its deps' hashes cover everything upstream.
            stages=_lock_entries(config.root, (stage,)),
            digest=digest,
        )
        record = record_path(config)
        record.unlink(missing_ok=True)  # no record while the candidate is being swapped
        _swap_into_place(target, artifact, staging)
        write_atomically(record, json.dumps(asdict(link), indent=2, sort_keys=True))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return link


def _swap_into_place(new: Path, artifact: Path, scratch: Path) -> None:
    """Rename ``new`` to ``artifact``; whatever was there moves aside first, then goes."""
    if artifact.exists() or artifact.is_symlink():
        os.replace(artifact, scratch / "previous")
    os.replace(new, artifact)


def _kept_candidate(config: MlciConfig) -> TrainingLink | None:
    """The candidate a linked run materialised earlier, if still valid for this ``dvc.lock``."""
    from pytest_mlci.model_io import artifact_digest, artifact_exists

    record = record_path(config)
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        link = TrainingLink(**data)
    except (OSError, ValueError, TypeError):
        return None
    if link.model_name != config.training.mlflow_model or not artifact_exists(config.artifact):
        return None
    if _lock_entries(config.root, tuple(link.stages)) != dict(link.stages):
        return None  # the stage ran since (outside mlci?) or its inputs changed
    if artifact_digest(config.artifact) != link.digest:
        return None  # someone changed the files at `artifact`
    return TrainingLink(**{**data, "kept": True})


def _lock_entries(root: Path, stages: tuple[str, ...] | list[str]) -> dict[str, str]:
    """sha256 of each stage's ``dvc.lock`` entry (command, deps, params, outs)."""
    import yaml

    try:
        lock = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        lock = {}
    entries = lock.get("stages") or {}
    return {
        name: hashlib.sha256(
            json.dumps(entries.get(name), sort_keys=True, default=str).encode()
        ).hexdigest()
        for name in stages
    }


def _config_error(config: MlciConfig, message: str, *, key: str) -> ConfigError:
    """A :class:`ConfigError` naming the config file and the full key, as config.py does."""
    prefix = "tool.mlci." if config.source.name == "pyproject.toml" else ""
    return ConfigError(message, file=str(config.source), key=prefix + key)


def _shown(config: MlciConfig, path: Path) -> str:
    try:
        return path.relative_to(config.root).as_posix()
    except ValueError:
        return redact_text(str(path))
