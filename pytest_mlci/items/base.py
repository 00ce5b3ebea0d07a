"""The shared base of every pytest-mlci node.

Our own failures (an :class:`~pytest_mlci.errors.MlciError`) are the user's problem said
plainly, so they are reported as text without a traceback; anything else is a bug in
pytest-mlci and keeps pytest's full report.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_mlci.errors import MlciError
from pytest_mlci.redact import redact_text


class MlciItem(pytest.Item):
    """Base of every pytest-mlci item: adds its markers, reports our errors without traceback."""

    markers: tuple[str, ...] = ("mlci",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name in ("mlci", *self.markers):
            self.add_marker(name)
        from pytest_mlci.session import STATE_KEY

        state = self.config.stash.get(STATE_KEY, None)
        if state is not None and state.config.multi:
            self.add_marker(pytest.mark.mlci_model(name=state.config.label))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, MlciError):
            return redact_text(str(excinfo.value))
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        # The domain heads failure reports. It must not be a suffix of the node id, or
        # pytest's verbose line would turn the dots in "src/train.py" into "::".
        return self.path, None, self.nodeid.replace("::", " ")


class MlciCollector(pytest.Collector):
    """Base of our collectors: a configuration mistake is one clear line, not a traceback."""

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        if isinstance(excinfo.value, MlciError):
            return redact_text(str(excinfo.value))
        return super().repr_failure(excinfo)
