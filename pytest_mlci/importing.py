"""Resolve ``"module:object"`` strings from config into objects of the user's project.

Schemas (``schema = "tiny_schema:TinySchema"``) and user metrics
(``[tool.mlci.metrics] pr_at_10 = "metrics:precision_at_10"``) are named this way. The project
root goes on ``sys.path`` first, so a module next to ``pyproject.toml`` imports without being
installed. Every failure is a :class:`ConfigError` naming the config key that held the string.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from pytest_mlci.errors import ConfigError


def import_object(spec: str, *, root: Path, key: str, example: str) -> Any:
    """The object ``spec`` (``"package.module:Name"``) names, imported from the project."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"'{spec}' is not 'module:Object'; e.g. '{example}'", key=key)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import '{module_name}' ({exc})", key=key) from None
    except Exception as exc:  # the module itself fails while importing: still the user's code
        raise ConfigError(
            f"importing '{module_name}' raised {type(exc).__name__}: {exc}", key=key
        ) from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"module '{module_name}' has no '{attribute}'", key=key) from None
