"""Behaviour of the ``mlci_nondeterminism`` and ``mlci_leakage`` markers on user tests.

``@pytest.mark.mlci_nondeterminism(runs=3)`` runs the test body several times and fails when
the outcomes differ, or when values recorded with the ``mlci_record`` fixture differ.
``@pytest.mark.mlci_nondeterminism(seeds=[0, 1, 2], max_spread=0.02)`` runs it once per seed
(the ``mlci_seed`` fixture) and fails when a recorded metric spreads wider than allowed:
a result that depends that much on the seed is luck, not a model.

``@pytest.mark.mlci_leakage(train="train", test="eval", time="ts")`` checks the named
datasets (config names or paths) before the test body: overlapping rows, a single feature
that is a proxy for the target, test rows older than training rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_mlci.errors import CheckFailed


class Recorder:
    """What ``mlci_record(name, value)`` collected during one run of a test."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, name: str, value: Any) -> None:
        self.values[name] = value


class MarkersPlugin:
    """Registered with ``--mlci``: implements the two runtime markers."""

    def __init__(self, mlci_config: Any) -> None:
        self.mlci_config = mlci_config

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        from pytest_mlci.errors import MlciError

        try:
            return self._call(pyfuncitem)
        except MlciError as exc:
            message = str(exc)
        pytest.fail(message, pytrace=False)  # the user's data or test, not our bug

    def _call(self, pyfuncitem: pytest.Function) -> bool | None:
        leakage = pyfuncitem.get_closest_marker("mlci_leakage")
        if leakage is not None:
            self._check_leakage(leakage)
        marker = pyfuncitem.get_closest_marker("mlci_nondeterminism")
        if marker is None:
            return None
        self._repeat(pyfuncitem, marker)
        return True

    # ------------------------------------------------------------------ nondeterminism

    def _repeat(self, item: pytest.Function, marker: pytest.Mark) -> None:
        seeds = marker.kwargs.get("seeds")
        runs = len(seeds) if seeds else int(marker.kwargs.get("runs", 2))
        if runs < 2:
            raise CheckFailed("mlci_nondeterminism needs runs >= 2 (or two or more seeds)")
        names = item._fixtureinfo.argnames
        outcomes: list[str] = []
        records: list[dict[str, Any]] = []
        for run in range(runs):
            recorder = Recorder()
            kwargs = {name: item.funcargs[name] for name in names}
            if "mlci_record" in kwargs:
                kwargs["mlci_record"] = recorder
            if "mlci_seed" in kwargs:
                kwargs["mlci_seed"] = seeds[run] if seeds else run
            try:
                item.obj(**kwargs)
                outcomes.append("passed")
            except AssertionError as exc:
                outcomes.append(f"failed: {exc}".splitlines()[0])
            records.append(recorder.values)
        if len(set(outcomes)) > 1:
            listing = "; ".join(f"run {i + 1} {o}" for i, o in enumerate(outcomes))
            raise CheckFailed(f"nondeterministic outcome over {runs} runs: {listing}")
        if outcomes[0] != "passed":
            raise CheckFailed(f"failed in every one of {runs} runs: {outcomes[0]}")
        if seeds:
            self._check_spread(records, seeds, float(marker.kwargs.get("max_spread", 0.0)))
        elif any(r != records[0] for r in records[1:]):
            changed = sorted(
                k for k in records[0] if any(r.get(k) != records[0][k] for r in records)
            )
            raise CheckFailed(
                f"recorded values differ between runs: {', '.join(changed)} "
                f"({[r.get(changed[0]) for r in records]})"
            )

    @staticmethod
    def _check_spread(records: list[dict[str, Any]], seeds: list[Any], max_spread: float) -> None:
        if not records or not records[0]:
            raise CheckFailed("seeds mode needs the test to record a metric with mlci_record")
        for name in records[0]:
            values = [float(r[name]) for r in records]
            spread = max(values) - min(values)
            if spread > max_spread:
                shown = ", ".join(f"seed {s}: {v:.4f}" for s, v in zip(seeds, values, strict=True))
                raise CheckFailed(
                    f"'{name}' spreads {spread:.4f} over seeds > max_spread {max_spread} ({shown})"
                )

    # ------------------------------------------------------------------ leakage

    def _check_leakage(self, marker: pytest.Mark) -> None:
        from pytest_mlci.data import leakage
        from pytest_mlci.data.loading import read_table

        train = read_table(self._path(marker.kwargs.get("train", "train")))
        test = read_table(self._path(marker.kwargs.get("test", "eval")))
        target = marker.kwargs.get("target", self.mlci_config.target)
        problems = []
        time_column = marker.kwargs.get("time")
        # A row copied into both sets keeps its features; its timestamp may be rewritten.
        ignored = (target, time_column) if time_column else (target,)
        overlap = leakage.overlapping_rows(train, test, exclude=ignored)
        if overlap:
            problems.append(f"{overlap} test row(s) also appear in the training data")
        proxies = leakage.target_proxies(test, target)
        for column, auc in proxies.items():
            problems.append(f"feature '{column}' alone predicts '{target}' (AUC {auc:.3f})")
        if time_column:
            late = leakage.time_violations(train, test, time_column)
            if late:
                problems.append(f"{late} test row(s) are older than the newest training row")
        if problems:
            raise CheckFailed("data leakage: " + "; ".join(problems))

    def _path(self, name_or_path: str) -> Path:
        datasets = self.mlci_config.datasets
        if name_or_path in datasets:
            return datasets[name_or_path].path
        return self.mlci_config.root / name_or_path
