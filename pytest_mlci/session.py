"""The stateful part of the plugin, registered only when ``--mlci`` is given.

Holding state in one object registered in ``pytest_configure`` (pytest's own pattern for
stateful features) keeps a plain ``pytest`` run free of any cost: without ``--mlci`` none of
this module's hooks exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_mlci.config import MlciConfig
from pytest_mlci.evaluation.session import Evaluation
from pytest_mlci.fileio import write_atomically
from pytest_mlci.items.base import MlciCollector


@dataclass
class MlciState:
    """Per-run state: the config, the shared evaluation, and the gates that crashed."""

    config: MlciConfig
    evaluation: Evaluation
    crashed: list[str] = field(default_factory=list)
    data_checks: list[Any] = field(default_factory=list)  # CheckRow of every data item run
    drift_samples: list[Any] = field(default_factory=list)  # (column, reference, current)


STATE_KEY = pytest.StashKey[MlciState]()


class MlciRoot(MlciCollector):
    """The ``mlci`` node: static files, datasets, gates, then the evaluation status."""

    def collect(self) -> Any:
        from pytest_mlci.items.data import DataCollector
        from pytest_mlci.items.gates import EvaluationStatusItem, GateCollector
        from pytest_mlci.items.robustness import RobustnessCollector
        from pytest_mlci.items.static import StaticCollector

        yield StaticCollector.from_parent(self, name="static")
        yield DataCollector.from_parent(self, name="data")
        yield GateCollector.from_parent(self, name="gate")
        yield RobustnessCollector.from_parent(self, name="robustness")
        yield EvaluationStatusItem.from_parent(self, name="evaluation")


class MlciPlugin:
    """Adds the ``mlci::`` items, prints the gate table and writes the JSON report."""

    def __init__(self, config: pytest.Config, state: MlciState) -> None:
        self.config = config
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        # tryfirst: our items must exist before -m / -k deselection runs.
        root = MlciRoot.from_parent(session, name="mlci", nodeid="mlci")
        items.extend(session.genitems(root))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from pytest_mlci.report.text import gate_table

        results = self.state.evaluation.results
        if results:
            terminalreporter.section("mlci gates")
            for line in gate_table(results):
                terminalreporter.write_line(line)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        targets = {
            kind: self.config.getoption(f"mlci_report_{kind}") for kind in ("json", "md", "html")
        }
        if not any(targets.values()):
            return
        from pytest_mlci.report.json_report import build_report

        report = build_report(self.state, exitstatus=int(exitstatus))
        if targets["json"]:
            text = json.dumps(report, indent=2, sort_keys=True) + "\n"
            write_atomically(Path(targets["json"]), text)
        if targets["md"]:
            from pytest_mlci.report.markdown import render_markdown

            write_atomically(Path(targets["md"]), render_markdown(report))
        if targets["html"]:
            from pytest_mlci.report.html import render_html

            evaluation = self.state.evaluation if report.get("gates") else None
            html = render_html(report, evaluation, drift_samples=self.state.drift_samples)
            write_atomically(Path(targets["html"]), html)
