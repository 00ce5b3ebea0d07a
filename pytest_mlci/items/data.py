"""Data validation items: ``mlci::data::<dataset>::schema|volume|quality|freshness|drift``.

Each declared check of each dataset is one item with the ``mlci_data`` marker. A failing item
prints the rows that failed (column, test, numbers, limit) and no traceback; "inconclusive"
fails too, saying so, because a check that could not judge has not passed. Every row an item
computed is kept on the run's state (``data_checks``) for the reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pytest_mlci.config import DatasetConfig
from pytest_mlci.errors import CheckFailed
from pytest_mlci.items.base import MlciCollector, MlciItem


class DataCollector(MlciCollector):
    """One child per declared dataset."""

    def collect(self) -> Iterator[Any]:
        from pytest_mlci.session import STATE_KEY

        for dataset in self.config.stash[STATE_KEY].config.datasets.values():
            yield DatasetCollector.from_parent(self, name=dataset.name, dataset=dataset)


class DatasetCollector(MlciCollector):
    """The declared checks of one dataset; they share one loader, so files load once."""

    def __init__(self, *, dataset: DatasetConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self._checks: Any = None
        self._ran: set[str] = set()  # the checks that ran, and those of them that passed
        self._passed: set[str] = set()

    @property
    def checks(self) -> Any:
        """The dataset's :class:`~pytest_mlci.data.validate.DatasetChecks`, made on first use."""
        if self._checks is None:
            from pytest_mlci.data.validate import DatasetChecks
            from pytest_mlci.session import STATE_KEY

            config = self.config.stash[STATE_KEY].config
            self._checks = DatasetChecks(self.dataset, root=config.root, task=config.task)
        return self._checks

    def teardown(self) -> None:
        """After the dataset's last item: a row count that passed volume, with every other
        check that ran passing too, becomes the count the next validation compares with."""
        if "volume" in self._passed and self._passed == self._ran:
            self.checks.remember_volume()

    def collect(self) -> Iterator[MlciItem]:
        from pytest_mlci.data.validate import checks_for

        for check in checks_for(self.dataset):
            item = SchemaItem if check == "schema" else DataCheckItem
            yield item.from_parent(self, name=check, dataset=self.dataset)


class DataCheckItem(MlciItem):
    """One check of one dataset: passes only when every row of the check passes."""

    markers = ("mlci_data",)

    def __init__(self, *, dataset: DatasetConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset

    def runtest(self) -> None:
        from pytest_mlci.data.results import FAIL, INCONCLUSIVE, failing, overall
        from pytest_mlci.session import STATE_KEY

        assert isinstance(self.parent, DatasetCollector)
        self.parent._ran.add(self.name)
        rows = self.parent.checks.run(self.name)
        state = self.config.stash[STATE_KEY]
        if hasattr(state, "data_checks"):
            state.data_checks.extend(rows)
        if self.name == "drift":
            wanted = bool(self.config.getoption("mlci_report_html", default=None))
            _keep_drift_samples(state, self.parent.checks, rows, html=wanted)
        verdict = overall(rows)
        if verdict == FAIL:
            raise CheckFailed(_explain(self.dataset.name, self.name, failing(rows), "FAILED"))
        if verdict == INCONCLUSIVE:
            headline = "INCONCLUSIVE (counts as a failure)"
            raise CheckFailed(_explain(self.dataset.name, self.name, failing(rows), headline))
        self.parent._passed.add(self.name)


class SchemaItem(DataCheckItem):
    """The dataset loads and fits its pandera schema (all failures reported at once)."""


MAX_PLOTTED_COLUMNS = 12
MAX_PLOTTED_VALUES = 50_000


def _keep_drift_samples(state: Any, checks: Any, rows: list[Any], *, html: bool) -> None:
    """Keep a sample of reference and current values of each drifted column for the HTML
    report's overlaid histograms.

    In memory the frames are at hand, so the sample is free. A streamed dataset is larger
    than memory: its drifted columns are read once more, only when an HTML report is asked
    for, as an evenly strided sample of ``MAX_PLOTTED_VALUES`` rows (bounded memory)."""
    if not hasattr(state, "drift_samples"):
        return
    drifted = sorted({row.column for row in rows if row.verdict != "pass"} - {"<frame>"})
    drifted = drifted[:MAX_PLOTTED_COLUMNS]
    if not drifted:
        return
    try:  # a picture must never turn a verdict into a crash
        if checks.streamed:
            if not html:
                return
            from pytest_mlci.data.stats import column_kinds, strided_sample

            dataset = checks.dataset
            present = set(column_kinds(dataset.reference)) & set(column_kinds(dataset.path))
            drifted = [column for column in drifted if column in present]
            reference = strided_sample(dataset.reference, drifted, MAX_PLOTTED_VALUES)
            current = strided_sample(dataset.path, drifted, MAX_PLOTTED_VALUES)
        else:
            reference, current = checks.frame("reference"), checks.frame("current")
    except Exception:
        return
    for column in drifted:
        if column not in reference.columns or column not in current.columns:
            continue
        state.drift_samples.append((column, _at_most(reference[column]), _at_most(current[column])))


def _at_most(values: Any) -> Any:
    return values.sample(min(len(values), MAX_PLOTTED_VALUES), random_state=0)


def _explain(dataset: str, check: str, rows: list[Any], headline: str) -> str:
    """``FAILED: eval drift`` followed by one line per failing row, worst first."""
    order = {"fail": 0, "inconclusive": 1}
    ranked = sorted(rows, key=lambda row: order.get(row.verdict, 2))
    lines = [f"{headline}: dataset '{dataset}' {check}"]
    lines += [f"  {row.describe()}" for row in ranked[:20]]
    if not ranked:  # no row at all: still say why it did not pass
        from pytest_mlci.data.validate import unjudged_reason

        lines.append(f"  {unjudged_reason(check)}")
    if len(ranked) > 20:
        lines.append(f"  ... and {len(ranked) - 20} more")
    return "\n".join(lines)
