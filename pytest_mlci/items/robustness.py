"""Robustness items: ``mlci::robustness::valid_rows`` and ``mlci::robustness::invariant::<col>``.

Collected when ``[tool.mlci.robustness]`` is configured and the evaluation dataset has a
schema (rows are generated from it); generating rows costs seconds, so it is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pytest_mlci.items.base import MlciCollector, MlciItem


def _state(node: Any) -> Any:
    from pytest_mlci.session import STATE_KEY

    return node.config.stash[STATE_KEY]


class RobustnessCollector(MlciCollector):
    """One item for generated rows, one per declared non-causal column."""

    def collect(self) -> Iterator[MlciItem]:
        config = _state(self).config
        if not config.robustness.enabled or not config.datasets or not config.eval_dataset.schema:
            return
        yield ValidRowsItem.from_parent(self, name="valid_rows")
        for column in config.robustness.invariant:
            yield InvarianceItem.from_parent(self, name=f"invariant::{column}", column=column)


class ValidRowsItem(MlciItem):
    """Every schema-valid row gets a valid output (hypothesis shrinks a failure to one row)."""

    markers = ("mlci_robustness",)

    def runtest(self) -> None:
        from pytest_mlci.evaluation.robustness import check_valid_outputs

        state = _state(self)
        evaluation = state.evaluation
        check_valid_outputs(
            evaluation.model,
            evaluation.row_strategy,
            state.config.robustness.examples,
            state.config.task,
        )


class InvarianceItem(MlciItem):
    """Changing a declared non-causal column moves no score by more than the tolerance."""

    markers = ("mlci_robustness",)

    def __init__(self, *, column: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.column = column

    def runtest(self) -> None:
        from pytest_mlci.errors import ConfigError
        from pytest_mlci.evaluation.robustness import check_invariance

        state = _state(self)
        evaluation = state.evaluation
        features = evaluation.features
        if self.column not in features.columns:
            raise ConfigError(
                f"robustness.invariant names '{self.column}', which is not a feature column",
                key="robustness.invariant",
            )
        allowed = sorted(features[self.column].dropna().unique().tolist())
        check_invariance(
            evaluation.model, features, self.column, allowed, state.config.robustness.tolerance
        )
