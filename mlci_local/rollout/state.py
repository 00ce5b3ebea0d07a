"""The rollout state file ``.mlci/rollout/<model>.json``: the one place traffic weights live.

The controller (``mlci canary``, the local deploy target) writes it; the router (``mlci serve``)
only reads it, re-reading whenever the file changes. A file is the interface rather than an
HTTP call so that the controller and the router need not run at the same time: a controller
killed mid-rollout leaves the last weight on disk, where ``mlci status`` shows it and the next
run resumes or rolls back from it.

Writes are atomic (temporary file, fsync, ``os.replace``, fsync of the directory): a reader
sees the old state or the new one, never half a file, and a crash cannot lose a weight that
was reported as set.

A state names the production it was written against (``production_version`` and
``production_move``, the ledger seq of the alias move that made that version production, a
tag on the version). The aliases stay the one source of truth: a state whose production is no
longer the ``production`` alias, or whose candidate already is production, is stale
(:func:`stale_reason`); the router refuses it and serves production only, and the next
promote, rollback or ``mlci run`` resets it. A file from an older mlci names no production
and is stale whenever it sends traffic anywhere but production.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pytest_mlci.errors import DataError
from pytest_mlci.fileio import write_atomically

#: blue-green: the candidate loaded beside production (weight 0, warmed by preview requests),
#: then all traffic at once (weight 1) with production kept hot to answer in its place.
MODES = ("none", "canary", "shadow", "blue-green")
ROLLOUT_DIR = "rollout"
# On a model version: the ledger seq of the intent of the alias move that last made it
# production. A rollback back to a version gives it a new value, so a rollout written before
# the rollback cannot pass for one written after it.
TAG_PRODUCTION_MOVE = "mlci.production_move"


@dataclass(frozen=True)
class RolloutState:
    """Where traffic goes for one model.

    ``weight`` is the share of requests (0..1) routed to ``candidate_version`` in ``canary``
    mode. In ``shadow`` mode every request is answered by production and also scored by the
    candidate, whose answer is only logged. In ``none`` mode production serves everything.
    ``step`` counts the controller's weight changes so log lines can be attributed to a step.
    ``production_version`` and ``production_move`` name the production the state was written
    against (None in a file written by an older mlci).
    """

    model: str
    candidate_version: str | None = None
    weight: float = 0.0
    mode: str = "none"
    step: int = 0
    updated: str = ""
    production_version: str | None = None
    production_move: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"rollout mode must be one of {MODES}, got {self.mode!r}")
        weight = self.weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
            raise ValueError(f"rollout weight must be a share between 0 and 1, got {weight!r}")
        if self.mode != "none" and not self.candidate_version:
            raise ValueError(f"rollout mode {self.mode!r} needs a candidate_version")
        object.__setattr__(self, "weight", float(weight))
        for name in ("candidate_version", "production_version", "production_move"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, str(getattr(self, name)))

    @property
    def candidate_share(self) -> float:
        """The share of requests whose *answer* comes from the candidate (0 in shadow mode)."""
        return self.weight if self.mode in ("canary", "blue-green") else 0.0

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return asdict(self)

    def describe(self) -> str:
        """One line for logs and status: what the state asks for and what it was written for."""
        if self.mode == "none":
            return "no rollout"
        what = f"{self.mode} of v{self.candidate_version}"
        if self.mode in ("canary", "blue-green"):
            what += f" at {self.weight:.0%}"
        against = f"v{self.production_version}" if self.production_version else "no named"
        return f"{what}, written against {against} production"


def stale_reason(state: RolloutState, production: str | None, move: str | None) -> str | None:
    """Why ``state`` must not route traffic, given the ``production`` alias now; None if it may.

    ``production`` is the version behind the alias and ``move`` its ``TAG_PRODUCTION_MOVE``
    tag. A state with no rollout routes nothing and is never stale. A state that sends
    traffic to a candidate (or mirrors it, in shadow mode) is only valid against the very
    production it was written for: any alias move since (a promotion, a rollback, a hand edit)
    makes it stale, and so does a candidate that is production already (a promotion whose
    rollout state was never reset).
    """
    if state.mode == "none":
        return None
    if state.production_version is None:
        return (
            f"the rollout state ({state.describe()}) does not name the production version it "
            "applies to (written by an older mlci)"
        )
    if production is None:
        return f"the rollout state ({state.describe()}) applies to no current production"
    if state.candidate_version == production:
        return f"the rollout state ({state.describe()}): v{production} is production already"
    if state.production_version != production or state.production_move != move:
        return (
            f"the rollout state ({state.describe()}) is out of date: production is now "
            f"v{production}{'' if state.production_version != production else ' again'} "
            "after a later alias move"
        )
    return None


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
