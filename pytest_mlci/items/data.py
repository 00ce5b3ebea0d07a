"""Data validation items: ``mlci::data::<dataset>::<check>``."""

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
    """The checks of one dataset."""

    def __init__(self, *, dataset: DatasetConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset

    def collect(self) -> Iterator[MlciItem]:
        if self.dataset.schema:
            yield SchemaItem.from_parent(self, name="schema", dataset=self.dataset)


class SchemaItem(MlciItem):
    """The dataset loads and fits its pandera schema (all failures reported at once)."""

    markers = ("mlci_data",)

    def __init__(self, *, dataset: DatasetConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset

    def runtest(self) -> None:
        from pytest_mlci.data.validate import check_schema
        from pytest_mlci.session import STATE_KEY

        root = self.config.stash[STATE_KEY].config.root
        report = check_schema(self.dataset, root=root)
        if not report.ok:
            raise CheckFailed("\n".join(report.failures))
