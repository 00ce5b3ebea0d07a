"""The rollout state file ``.mlci/rollout/<model>.json``: the one place traffic weights live.

The controller (``mlci canary``, the local deploy target) writes it; the router (``mlci serve``)
only reads it, re-reading whenever the file changes. A file is the interface rather than an
HTTP call so that the controller and the router need not run at the same time: a controller
killed mid-rollout leaves the last weight on disk, where ``mlci status`` shows it and the next
run resumes or rolls back from it.

Writes are atomic (temporary file, fsync, ``os.replace``, fsync of the directory): a reader
sees the old state or the new one, never half a file, and a crash cannot lose a weight that
was reported as set.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pytest_mlci.errors import DataError
from pytest_mlci.fileio import write_atomically

MODES = ("none", "canary", "shadow")
ROLLOUT_DIR = "rollout"


@dataclass(frozen=True)
class RolloutState:
    """Where traffic goes for one model.

    ``weight`` is the share of requests (0..1) routed to ``candidate_version`` in ``canary``
    mode. In ``shadow`` mode every request is answered by production and also scored by the
    candidate, whose answer is only logged. In ``none`` mode production serves everything.
    ``step`` counts the controller's weight changes so log lines can be attributed to a step.
    """

    model: str
    candidate_version: str | None = None
    weight: float = 0.0
    mode: str = "none"
    step: int = 0
    updated: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"rollout mode must be one of {MODES}, got {self.mode!r}")
        weight = self.weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
            raise ValueError(f"rollout weight must be a share between 0 and 1, got {weight!r}")
        if self.mode != "none" and not self.candidate_version:
            raise ValueError(f"rollout mode {self.mode!r} needs a candidate_version")
        object.__setattr__(self, "weight", float(weight))
        if self.candidate_version is not None:
            object.__setattr__(self, "candidate_version", str(self.candidate_version))

    @property
    def candidate_share(self) -> float:
        """The share of requests whose *answer* comes from the candidate (0 in shadow mode)."""
        return self.weight if self.mode == "canary" else 0.0

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return asdict(self)


def rollout_dir(config: Any) -> Path:
    """``.mlci/rollout/``: state files, the request log and the feedback log."""
    return Path(config.state_dir) / ROLLOUT_DIR


def state_path(config: Any) -> Path:
    """The state file of the configured model."""
    return rollout_dir(config) / f"{config.model}.json"


def parse_state(text: str, *, model: str, source: Path | str = "rollout state") -> RolloutState:
    """A state file's text -> RolloutState; anything malformed raises DataError naming the file.

    Unknown keys are ignored so a newer controller can add fields without breaking an older
    router; missing keys take the defaults of a state with no rollout.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{source}: expected a JSON object, got {type(raw).__name__}")
    known = {k: raw[k] for k in RolloutState.__dataclass_fields__ if k in raw}
    known.setdefault("model", model)
    try:
        return RolloutState(**known)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{source}: {exc}") from None


def read_state(config: Any) -> RolloutState:
    """The current rollout state; no file means no rollout (mode none, weight 0)."""
    path = state_path(config)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return RolloutState(model=config.model)
    return parse_state(text, model=config.model, source=path)


def write_state(config: Any, state: RolloutState) -> Path:
    """Replace the state file atomically and durably; returns its path."""
    payload = json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n"
    return write_atomically(state_path(config), payload)
