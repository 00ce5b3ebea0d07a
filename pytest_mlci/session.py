"""The stateful part of the plugin, registered only when ``--mlci`` is given.

Holding state in one object registered in ``pytest_configure`` (pytest's own pattern for
stateful features) keeps a plain ``pytest`` run free of any cost: without ``--mlci`` none of
this module's hooks exist.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import MlciError
from pytest_mlci.evaluation.session import Evaluation
from pytest_mlci.fileio import write_atomically
from pytest_mlci.items.base import MlciCollector, MlciItem
from pytest_mlci.redact import redact_text


@dataclass
class MlciState:
    """Per-run state: the config, the shared evaluation, and the gates that crashed."""

    config: MlciConfig
    evaluation: Evaluation
    crashed: list[str] = field(default_factory=list)
    crash_reasons: dict[str, str] = field(default_factory=dict)  # node id -> one-line reason
    data_checks: list[Any] = field(default_factory=list)  # CheckRow of every data item run
    drift_samples: list[Any] = field(default_factory=list)  # (column, reference, current)
    selected_gates: list[tuple[str, Any]] = field(default_factory=list)  # (nodeid, Gate)
    checked: set[str] = field(default_factory=set)  # node ids of the gates run here
    worker_items: list[dict[str, Any]] = field(default_factory=list)  # xdist controller


STATE_KEY = pytest.StashKey[MlciState]()


class MlciRoot(MlciCollector):
    """The ``mlci`` node: static files, datasets, gates, then the evaluation status."""

    def collect(self) -> Any:
        from pytest_mlci.items.data import DataCollector
        from pytest_mlci.items.gates import EvaluationStatusItem, GateCollector
        from pytest_mlci.items.robustness import RobustnessCollector
        from pytest_mlci.items.static import StaticCollector

        # Many models in one repository: the model follows the kind in every id it concerns
        # (mlci::gate::<model>::<expression>), so ids stay unique across models' CI jobs.
        model = model_part(self.config)
        yield StaticCollector.from_parent(self, name="static")
        yield DataCollector.from_parent(self, name=f"data{model}")
        yield GateCollector.from_parent(self, name=f"gate{model}")
        yield RobustnessCollector.from_parent(self, name=f"robustness{model}")
        yield EvaluationStatusItem.from_parent(self, name=f"evaluation{model}")


def model_part(config: pytest.Config) -> str:
    """``::<model>`` for a model of a many-model repository, else nothing."""
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.config.multi:
        return ""
    return f"::{state.config.label}"


def is_xdist_worker(config: pytest.Config) -> bool:
    """True in a pytest-xdist worker process (the controller and serial runs are not)."""
    return hasattr(config, "workerinput")


class MlciPlugin:
    """Adds the ``mlci::`` items, prints the gate table and writes the reports.

    Under pytest-xdist every worker collects the same items and runs some of them; the
    workers send what they found (:func:`export_state`) to the controller, which alone
    prints the gate table and writes the reports, so they are the same as a serial run's.
    """

    def __init__(self, config: pytest.Config, state: MlciState) -> None:
        self.config = config
        self.state = state
        self.worker = is_xdist_worker(config)
        self.order: dict[str, int] = {}  # node id -> collection index (xdist controller)
        self.found: list[tuple[str, int, int, int, int]] = []  # data rows per item (worker)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        # tryfirst: our items must exist before -m / -k deselection runs.
        root = MlciRoot.from_parent(session, name="mlci", nodeid="mlci")
        items.extend(session.genitems(root))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Plan the evaluation from the gates left after -m / -k (the same in every worker)."""
        from pytest_mlci.gates import Reference
        from pytest_mlci.items.gates import GateItem

        gates = [item for item in session.items if isinstance(item, GateItem)]
        self.state.selected_gates = [(item.nodeid, item.gate) for item in gates]
        self.state.evaluation.planned = tuple(
            dict.fromkeys(g.gate.metric for g in gates if g.gate.reference is not Reference.BEST)
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        # A worker remembers which item found which data rows, so the controller can put
        # them back in collection order.
        checks, samples = len(self.state.data_checks), len(self.state.drift_samples)
        try:
            return (yield)
        finally:
            found = (len(self.state.data_checks), len(self.state.drift_samples))
            if self.worker and found != (checks, samples):
                self.found.append(
                    (
                        item.nodeid,
                        checks,
                        len(self.state.data_checks),
                        samples,
                        len(self.state.drift_samples),
                    )
                )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        # A user's test that reaches our error through a fixture or `mlci_eval` (a missing
        # model, unreadable data) reports its message, as our own items do, not a traceback
        # through pytest-mlci's internals.
        report = yield
        error = call.excinfo.value if call.excinfo is not None else None
        if isinstance(error, MlciError) and report.failed and not isinstance(item, MlciItem):
            report.longrepr = redact_text(str(error))
        return report

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from pytest_mlci.report.text import gate_table

        if self.worker:
            return
        results = self.state.evaluation.results
        if results:
            terminalreporter.section("mlci gates")
            for line in gate_table(results):
                terminalreporter.write_line(line)
            incompatible = self.state.evaluation.known_incompatibility
            if incompatible:
                terminalreporter.write_line(f"baseline incompatible: {incompatible}")
            for who, how in _safe_scoring(self.state.evaluation).items():
                terminalreporter.write_line(f"{who} labels: {how}")
            summary = _cache_summary(self.state.evaluation.log)
            if summary:
                terminalreporter.write_line(summary)

    # ------------------------------------------------------------------ pytest-xdist

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.order:
            self.order = {nodeid: index for index, nodeid in enumerate(ids)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        exported = getattr(node, "workeroutput", {}).get("mlci")
        if exported:
            absorb_state(self.state, json.loads(exported), self.order)

    # ------------------------------------------------------------------ reports

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        targets = {
            kind: self.config.getoption(f"mlci_report_{kind}") for kind in ("json", "md", "html")
        }
        if self.worker:
            output = self.config.workeroutput  # type: ignore[attr-defined]
            output["mlci"] = export_state(self.state, self.found, samples=bool(targets["html"]))
            return
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


def _safe_scoring(evaluation: Any) -> dict[str, str]:
    """How the models' labels were obtained; a report line never turns into a crash."""
    try:
        return dict(evaluation.scoring)
    except Exception:
        return {}


def _cache_summary(log: list[dict[str, Any]]) -> str:
    """``evaluation: 2 estimates computed (1.3 s), 3 read from the cache``."""
    computed = [entry for entry in log if entry["source"] == "computed"]
    cached = [entry for entry in log if entry["source"] == "cache"]
    if not computed and not cached:
        return ""
    seconds = sum(entry["seconds"] for entry in computed)
    return (
        f"evaluation: {len(computed)} estimate(s) computed ({seconds:.1f} s), "
        f"{len(cached)} read from the cache"
    )


def export_state(
    state: MlciState, found: list[tuple[str, int, int, int, int]], *, samples: bool
) -> str:
    """A worker's results as JSON text (execnet sends plain types; numpy scalars are not).

    Drift samples (for the HTML report's histograms) are sent only when HTML is asked for.
    """
    items = []
    for nodeid, first, last, first_sample, last_sample in found:
        items.append(
            {
                "nodeid": nodeid,
                "data_checks": [dataclasses.asdict(row) for row in state.data_checks[first:last]],
                "drift_samples": [
                    [column, reference.tolist(), current.tolist()]
                    for column, reference, current in state.drift_samples[first_sample:last_sample]
                ]
                if samples
                else [],
            }
        )
    exported = {
        "evaluation": state.evaluation.export(),
        "crashed": list(state.crashed),
        "crash_reasons": dict(state.crash_reasons),
        "items": items,
    }
    return json.dumps(exported, default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def absorb_state(state: MlciState, exported: dict[str, Any], order: dict[str, int]) -> None:
    """Merge one worker's :func:`export_state` into the controller's state.

    Workers finish in any order, so gates, crashes and data rows are sorted back into
    collection order: the reports then read as a serial run's.
    """
    from pytest_mlci.data.results import CheckRow

    def position(nodeid: str) -> int:
        return order.get(nodeid, len(order))

    evaluation = state.evaluation
    evaluation.absorb(exported["evaluation"])
    gates = f"mlci::gate{'::' + state.config.label if state.config.multi else ''}"
    evaluation.results.sort(key=lambda result: position(f"{gates}::{result.gate}"))
    state.crashed = sorted({*state.crashed, *exported["crashed"]}, key=position)
    state.crash_reasons.update(exported.get("crash_reasons", {}))
    merged = state.worker_items
    merged.extend(exported["items"])
    merged.sort(key=lambda entry: position(entry["nodeid"]))
    state.data_checks = [CheckRow(**row) for entry in merged for row in entry["data_checks"]]
    samples = [sample for entry in merged for sample in entry["drift_samples"]]
    if samples:
        import pandas as pd

        state.drift_samples = [
            (column, pd.Series(reference), pd.Series(current))
            for column, reference, current in samples
        ]
