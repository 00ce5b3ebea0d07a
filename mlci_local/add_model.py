"""``mlci init --model NAME`` in a many-model repository: one more model from the template.

The new model gets a ``[tool.mlci.models.NAME]`` table with only what is its own (task,
target, artifact, owners, code path, evaluation data, first gates); everything else it
inherits from the shared ``[tool.mlci]`` defaults, as every model of the repository does. A
``train_NAME`` stage is appended to ``dvc.yaml`` and a training script stub written when
missing. The configuration is validated with the new table before anything is kept: a name
already taken, or a template the new model cannot satisfy, changes no file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pytest_mlci.errors import ConfigError

TRAIN_STUB = '''"""Train {name}: EDIT this stub to read the training data and fit the model."""
import skops.io as sio
from sklearn.dummy import {estimator}

model = {estimator}()
# model.fit(features, labels)
sio.dump(model, {artifact!r})
'''


@dataclass
class Added:
    """What adding the model wrote."""

    config: Path
    written: list[str] = field(default_factory=list)
    appended: list[str] = field(default_factory=list)


def add_model(
    root: Path, name: str, *, task: str, target: str, owners: tuple[str, ...] = ()
) -> Added:
    """Add model ``name`` to the many-model repository at ``root``."""
    from mlci_local.scaffold import _GATES
    from pytest_mlci.config import find_config_file
    from pytest_mlci.project import load_project, read_table

    source = find_config_file(root)
    if source is None:
        raise ConfigError("no configuration found", file=str(root))
    table, prefix = read_table(source)
    if "models" not in table:
        raise ConfigError(
            f"configures one model in [{prefix.rstrip('.') or 'mlci.toml'}]; to add a second, "
            f"move its keys into [{prefix}models.<its name>] (the rest stays as the shared "
            "defaults; docs/many-models.md), then run `mlci init --model` again",
            file=str(source),
        )
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise ConfigError("a model name is letters, digits, '-' and '_' only", key="--model")
    if name in table["models"]:
        raise ConfigError(f"model {name!r} is already configured", file=str(source),
                          key=f"{prefix}models.{name}")  # fmt: skip
    artifact = f"models/{name}.skops"
    metric, floor, _, _ = _GATES[task]
    gates = [g for g in (floor, ">= baseline - 0.01") if g]
    lines = [
        "",
        f"[{prefix}models.{name}]",
        f"task = {json.dumps(task)}",
        f"target = {json.dumps(target)}",
        f"artifact = {json.dumps(artifact)}",
        f"owners = {json.dumps(list(owners))}  # they approve it where its tier asks",
        f'paths = ["src/{name}"]  # a change here runs this model in `mlci run`',
        "",
        f"[{prefix}models.{name}.datasets.eval]",
        f'path = "data/{name}_test.parquet"  # EDIT: the data its gates are computed on',
        "",
        f"[{prefix}models.{name}.gates]",
        f"{metric} = {json.dumps(gates if len(gates) > 1 else gates[0])}",
        "",
    ]
    text = source.read_text(encoding="utf-8")
    new_text = text.rstrip("\n") + "\n" + "\n".join(lines)
    source.write_text(new_text, encoding="utf-8")
    try:
        load_project(source)
    except ConfigError:
        source.write_text(text, encoding="utf-8")  # nothing half-written
        raise
    added = Added(source, appended=[f"{source.name}: [{prefix}models.{name}]"])
    dvc_yaml = root / "dvc.yaml"
    if dvc_yaml.is_file() and f"train_{name}:" not in dvc_yaml.read_text(encoding="utf-8"):
        stage = (
            f"  train_{name}:\n    cmd: python src/{name}/train.py\n"
            f"    deps: [src/{name}/train.py]\n    outs: [{artifact}]\n"
        )
        current = dvc_yaml.read_text(encoding="utf-8")
        dvc_yaml.write_text(current.rstrip("\n") + "\n" + stage, encoding="utf-8")
        added.appended.append(f"dvc.yaml: stage train_{name}")
    script = root / "src" / name / "train.py"
    if not script.exists():
        script.parent.mkdir(parents=True, exist_ok=True)
        estimator = "DummyRegressor" if task == "regression" else "DummyClassifier"
        script.write_text(TRAIN_STUB.format(name=name, estimator=estimator, artifact=artifact))
        added.written.append(f"src/{name}/train.py")
    return added
