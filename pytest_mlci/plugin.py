"""pytest hooks of pytest-mlci: options, markers, and switching the plugin on.

This module is imported by every pytest run in an environment where pytest-mlci is
installed, so it imports nothing heavy and does nothing unless ``--mlci`` is given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlci.fixtures import (  # noqa: F401  (fixtures are registered by import)
    mlci_baseline,
    mlci_config,
    mlci_data,
    mlci_eval,
    mlci_model,
    mlci_record,
    mlci_seed,
    mlci_strategy,
)

MARKERS = (
    "mlci: every item pytest-mlci adds (select with -m mlci)",
    "mlci_static: static ML checks of one source file",
    "mlci_leakage: static checks for data leakage (MLC0xx)",
    "mlci_nondeterminism: static checks for unseeded randomness (MLC1xx)",
    "mlci_hardcoded: static checks for hardcoded paths and secrets (MLC2xx)",
    "mlci_data: data validation of a declared dataset",
    "mlci_gate: evaluation gates of the candidate model",
    "mlci_robustness: generated schema-valid rows and non-causal columns",
    "mlci_nondeterminism(runs=2, seeds=None, max_spread=0.0): rerun the test and fail if its "
    "outcome or recorded values differ; with seeds, fail if a recorded metric spreads wider",
    "mlci_leakage(train='train', test='eval', target=None, time=None): check the datasets for "
    "overlapping rows, target proxies and time order before the test",
    "mlci_model(name): the model of a many-model repository an item checks (select with "
    "-m \"mlci_model(name='churn')\")",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlci", "ML CI/CD checks (pytest-mlci)")
    group.addoption(
        "--mlci",
        action="store_true",
        default=False,
        help="add static ML checks, data validation and evaluation gates as test items",
    )
    group.addoption(
        "--mlci-config",
        metavar="PATH",
        default=None,
        help="mlci.toml or pyproject.toml to read (default: the nearest one)",
    )
    group.addoption(
        "--mlci-model",
        metavar="NAME",
        default=None,
        help="which model of a many-model repository ([tool.mlci.models.NAME]) to check",
    )
    group.addoption(
        "--mlci-candidate",
        metavar="PATH",
        default=None,
        help="model artifact to evaluate instead of the configured 'artifact'",
    )
    group.addoption(
        "--mlci-report-json",
        metavar="PATH",
        default=None,
        help="write gate results, digests and verdicts as JSON to PATH",
    )
    group.addoption(
        "--mlci-report-md",
        metavar="PATH",
        default=None,
        help="write a Markdown summary sized for a pull-request comment to PATH",
    )
    group.addoption(
        "--mlci-report-html",
        metavar="PATH",
        default=None,
        help="write a self-contained HTML report with plots to PATH",
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    if not config.getoption("mlci"):
        return
    from pytest_mlci import PYSPARK_PANDAS_WARNING

    # pytest resets warning filters per test; pandera imports pyspark.pandas when installed
    config.addinivalue_line("filterwarnings", f"ignore:{PYSPARK_PANDAS_WARNING}:FutureWarning")
    from pytest_mlci.config import load_config
    from pytest_mlci.errors import ConfigError
    from pytest_mlci.evaluation.session import Evaluation
    from pytest_mlci.session import STATE_KEY, MlciPlugin, MlciState

    explicit = config.getoption("mlci_config")
    try:
        mlci_config = load_config(
            Path(explicit) if explicit else None,
            start=Path(config.invocation_params.dir),
            model=config.getoption("mlci_model"),
        )
    except ConfigError as exc:
        raise pytest.UsageError(f"pytest-mlci: {exc}") from None
    candidate = config.getoption("mlci_candidate")
    state = MlciState(
        config=mlci_config,
        evaluation=Evaluation(mlci_config, Path(candidate).resolve() if candidate else None),
    )
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(MlciPlugin(config, state), "mlci-session")
    from pytest_mlci.markers import MarkersPlugin

    config.pluginmanager.register(MarkersPlugin(mlci_config), "mlci-markers")
