"""Session fixtures for tests that look at the model, the data and the baseline.

They all read the run's shared :class:`~pytest_mlci.evaluation.session.Evaluation`, so a
user's test and the gates see the same loaded model and the same validated rows. Nothing is
imported or loaded until a test asks for a fixture.
"""

from __future__ import annotations

from typing import Any

import pytest


def _state(request: pytest.FixtureRequest) -> Any:
    from pytest_mlci.session import STATE_KEY

    state = request.config.stash.get(STATE_KEY, None)
    if state is None:
        pytest.fail(
            "pytest-mlci fixtures need the plugin switched on: run pytest --mlci", pytrace=False
        )
    return state


def _user_error(call: Any) -> Any:
    from pytest_mlci.errors import MlciError

    try:
        return call()
    except MlciError as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)  # outside the except: no chained traceback


@pytest.fixture(scope="session")
def mlci_config(request: pytest.FixtureRequest) -> Any:
    """The validated [tool.mlci] configuration (pytest_mlci.config.MlciConfig)."""
    return _state(request).config


@pytest.fixture(scope="session")
def mlci_eval(request: pytest.FixtureRequest) -> Any:
    """The shared evaluation: predictions, metric estimates and gate checks, computed once."""
    return _state(request).evaluation


@pytest.fixture(scope="session")
def mlci_model(mlci_eval: Any) -> Any:
    """The candidate model, loaded from the configured artifact (skops) or --mlci-candidate."""
    return _user_error(lambda: mlci_eval.model)


@pytest.fixture(scope="session")
def mlci_data(mlci_eval: Any) -> Any:
    """The evaluation DataFrame, already validated against its pandera schema.

    For a ``loader`` returning ``(X, y)`` it is a ``pytest_mlci.data.loaded.LoadedData``:
    ``.X`` (numpy array or scipy CSR matrix, as the model gets it), ``.y``, ``.feature_names``.
    """
    return _user_error(lambda: mlci_eval.data)


@pytest.fixture(scope="session")
def mlci_baseline(mlci_eval: Any) -> Any:
    """The production model from the registry (alias 'production').

    With no production model the configured policy decides: by default the test fails
    (fail closed); with on_missing_baseline = 'allow-first' it is skipped, visibly. A
    production model that cannot score the evaluation data (another feature set) fails the
    test with the difference named, whatever on_incompatible_baseline says.
    """
    from pytest_mlci.evaluation.session import PRESENT, WAIVED_FIRST

    baseline = _user_error(lambda: mlci_eval.comparable_baseline)
    if baseline.status == PRESENT:
        return baseline.model
    if baseline.status == WAIVED_FIRST:
        pytest.skip(f"waived: {baseline.reason}")
    pytest.fail(baseline.reason, pytrace=False)


@pytest.fixture(scope="session")
def mlci_strategy(mlci_eval: Any) -> Any:
    """A hypothesis strategy of one-row DataFrames valid under the evaluation data's schema.

    Use it with ``hypothesis.given``; the target column is left out.
    """
    return _user_error(lambda: mlci_eval.row_strategy)


@pytest.fixture
def mlci_record() -> Any:
    """Record a value of this run: ``mlci_record("auc", auc)``.

    Under ``@pytest.mark.mlci_nondeterminism`` the values of every run are compared.
    """
    from pytest_mlci.markers import Recorder

    return Recorder()


@pytest.fixture
def mlci_seed() -> int:
    """The seed of this run under ``@pytest.mark.mlci_nondeterminism(seeds=[...])``; else 0."""
    return 0
