"""Many models in one repository: ``[tool.mlci.models.<name>]`` over a shared template.

A team keeps a dozen models in one repository, each with its own owner, data, gates and
tier, and one set of defaults every model follows. The top of ``[tool.mlci]`` is that
template; each table under ``[tool.mlci.models]`` holds the keys one model sets for itself
and is merged over it: tables merge key by key (so a model adds a gate or a dataset to the
template's), anything else replaces the template's value. The merged table is then
validated exactly as a single-model configuration is, so a model of a many-model repository
means the same thing as the only model of a small one.

Without a ``models`` table nothing changes: the configuration is the one model it always was.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pytest_mlci.config import MODEL_ENV, MlciConfig, find_config_file, parse_config
from pytest_mlci.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

#: Keys a model table never inherits: they name one model and cannot be shared.
_OWN_KEYS = ("model", "artifact")
#: Keys only the template may set: one repository has one registry, ledger and audit chain.
_TEMPLATE_ONLY = ("registry", "database", "audit")
#: The audit chain's name in signatures when many models share one ledger.
SHARED_LEDGER_ID = "models"


@dataclass(frozen=True)
class Project:
    """Every model a configuration file declares, by table name, in file order."""

    source: Path
    root: Path
    models: Mapping[str, MlciConfig]
    multi: bool

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.models)

    def select(self, name: str | None = None) -> MlciConfig:
        """One model: ``name``, else (many models) ``$MLCI_MODEL``, else the only one."""
        if self.multi:
            name = name or os.environ.get(MODEL_ENV) or None
        if name is None:
            if len(self.models) == 1:
                return next(iter(self.models.values()))
            raise ConfigError(
                f"this repository configures {len(self.models)} models "
                f"({', '.join(self.models)}); choose one with --model NAME "
                f"(or ${MODEL_ENV})",
                file=str(self.source),
            )
        if name in self.models:
            return self.models[name]
        if not self.multi:
            only = next(iter(self.models.values()))
            raise ConfigError(
                f"configures one model, {only.model!r}, not {name!r} (several models are "
                "declared as [tool.mlci.models.<name>] tables)",
                file=str(self.source),
            )
        for config in self.models.values():  # the registered name works as well
            if config.model == name:
                return config
        import difflib

        close = difflib.get_close_matches(name, list(self.models), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"models: {', '.join(self.models)}"
        raise ConfigError(
            f"no model {name!r} in [tool.mlci.models]; {hint}",
            file=str(self.source),
            key="models",
        )


def load_project(path: Path | None = None, *, start: Path | None = None) -> Project:
    """Read and validate every model of the nearest (or given) configuration file."""
    source = path or find_config_file(start)
    if source is None:
        raise ConfigError(
            "no configuration found: add a [tool.mlci] table to pyproject.toml "
            "or create mlci.toml (see docs/configuration.md)"
        )
    source = source.resolve()
    table, prefix = read_table(source)
    return project_from_table(table, root=source.parent, source=source, prefix=prefix)


def read_table(source: Path) -> tuple[dict[str, Any], str]:
    """The ``[tool.mlci]`` table of a pyproject.toml, or all of an mlci.toml; and the prefix
    errors put before a key."""
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(source)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(source)) from None
    if source.name == "pyproject.toml":
        table = document.get("tool", {}).get("mlci")
        if not isinstance(table, dict):
            raise ConfigError("has no [tool.mlci] table", file=str(source))
        return table, "tool.mlci."
    return document, ""


def project_from_table(
    table: Mapping[str, Any], *, root: Path, source: Path, prefix: str = ""
) -> Project:
    """Validate the body of ``[tool.mlci]``: one model, or a template and its models."""
    if "models" not in table:
        config = parse_config(table, root=root, source=source, prefix=prefix)
        return Project(source, root, {config.model: config}, multi=False)
    merged = model_tables(table, source=source, prefix=prefix)
    models: dict[str, MlciConfig] = {}
    for name, body in merged.items():
        where = f"{prefix}models.{name}."
        try:
            config = parse_config(body, root=root, source=source, prefix=where)
        except ConfigError as exc:
            raise _inherited(exc, table["models"][name], where, prefix) from None
        audit = config.audit
        if not audit.ledger_id:  # one ledger, one chain name, whichever model signs
            audit = replace(audit, ledger_id=SHARED_LEDGER_ID)
        models[name] = replace(config, name=name, multi=True, audit=audit)
    _check_distinct(models, source, prefix)
    return Project(source, root, models, multi=True)


def model_tables(
    table: Mapping[str, Any], *, source: Path, prefix: str = ""
) -> dict[str, dict[str, Any]]:
    """Each model's table merged over the template (the rest of ``[tool.mlci]``)."""
    models = table["models"]
    if not isinstance(models, dict) or not models:
        raise ConfigError(
            "must hold one table per model, e.g. [tool.mlci.models.churn]",
            file=str(source),
            key=f"{prefix}models",
        )
    for key in _OWN_KEYS:
        if key in table:
            raise ConfigError(
                f"names one model, but [{prefix}models] declares several: move it into "
                f"each model's table ([{prefix}models.<name>] {key} = ...)",
                file=str(source),
                key=f"{prefix}{key}",
            )
    template = {key: value for key, value in table.items() if key != "models"}
    merged: dict[str, dict[str, Any]] = {}
    for name, body in models.items():
        where = f"{prefix}models.{name}"
        if not isinstance(body, dict):
            raise ConfigError("must be a table", file=str(source), key=where)
        for key in _TEMPLATE_ONLY:
            if key in body:
                raise ConfigError(
                    f"is shared by every model of the repository (one registry, one ledger); "
                    f"set it once in [{prefix.rstrip('.') or 'mlci.toml'}], not per model",
                    file=str(source),
                    key=f"{where}.{key}",
                )
        if not name.replace("-", "_").isidentifier():
            raise ConfigError(
                "a model's table name may hold letters, digits, '-' and '_' only "
                "(it names the model in item ids, lock files and --model)",
                file=str(source),
                key=where,
            )
        combined = merge(template, body)
        combined.setdefault("model", name)
        owners = body.get("owners")
        own_approvals = body.get("approvals")
        if isinstance(owners, list) and not (
            isinstance(own_approvals, dict) and "approvers" in own_approvals
        ):
            # A model's owners approve it unless its table names other approvers; the
            # template's list is for the models nobody claimed.
            approvals = combined.setdefault("approvals", {})
            if isinstance(approvals, dict):
                approvals["approvers"] = list(owners)
        merged[name] = combined
    return merged


def merge(template: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """``own`` over ``template``: tables merge key by key, every other value replaces."""
    result = copy.deepcopy(dict(template))
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _inherited(exc: ConfigError, own: Mapping[str, Any], where: str, prefix: str) -> ConfigError:
    """Point an error at the table the faulty key came from: the model's or the template's."""
    key = exc.key or ""
    local = key[len(where) :] if key.startswith(where) else key
    if not key.startswith(where) or _holds(own, local.split(".")):
        return exc
    message = str(exc).split(f"key '{key}': ", 1)[-1]
    return ConfigError(
        f"{message} (inherited by [{where.rstrip('.')}] from the shared defaults)",
        file=exc.file,
        key=f"{prefix}{local}",
    )


def _holds(table: Any, parts: list[str]) -> bool:
    """Whether ``table`` sets the dotted key ``parts`` (or a table on its way: an error about
    a table's shape is that table's). Keys may hold dots themselves ("latency.p95_ms")."""
    if not isinstance(table, Mapping):
        return True  # the model's own value ends here: the error is about it
    for cut in range(1, len(parts) + 1):
        key = ".".join(parts[:cut])
        if key in table:
            return cut == len(parts) or _holds(table[key], parts[cut:])
    return False


def _check_distinct(models: Mapping[str, MlciConfig], source: Path, prefix: str) -> None:
    """Two models must not share a registered name or an artifact: each is its own lineage."""
    seen: dict[Any, str] = {}
    for name, config in models.items():
        for what, value in (("model", config.model), ("artifact", config.artifact)):
            other = seen.get((what, value))
            if other is not None:
                raise ConfigError(
                    f"is the same as model {other!r}'s; every model needs its own {what}",
                    file=str(source),
                    key=f"{prefix}models.{name}.{what}",
                )
            seen[(what, value)] = name
