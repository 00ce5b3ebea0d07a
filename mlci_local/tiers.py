"""Risk tiers: which records promotion demands, and how many independent approvals.

| tier   | staging | canary | approvals                                   |
|--------|---------|--------|---------------------------------------------|
| low    | no      | no     | 0                                           |
| medium | yes     | no     | 0                                           |
| high   | yes     | yes    | 2 (``[tool.mlci.approvals] required``), from |
|        |         |        | the configured approvers, not the author,   |
|        |         |        | signed (``approvals.identity``; see         |
|        |         |        | ``mlci_local.approvals``)                   |

Evaluation is mandatory for every tier: nothing reaches production without passing gates.
A canary needs a production model to compare with, so the high tier's first production model
goes without one (``promotion.is_first_production``); its approvals still apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_mlci.config import MlciConfig


@dataclass(frozen=True)
class TierPolicy:
    """What promotion requires for one tier."""

    tier: str
    staging: bool
    canary: bool
    approvals: int
    independent: bool  # approvers must be listed and must not be the commit's author

    @property
    def required_records(self) -> tuple[str, ...]:
        records = ["evaluation"]
        if self.staging:
            records.append("staging")
        if self.canary:
            records.append("canary")
        return tuple(records)


_DEFAULTS = {
    "low": TierPolicy("low", staging=False, canary=False, approvals=0, independent=False),
    "medium": TierPolicy("medium", staging=True, canary=False, approvals=0, independent=False),
    "high": TierPolicy("high", staging=True, canary=True, approvals=2, independent=True),
}


def policy_for(config: MlciConfig) -> TierPolicy:
    """The tier's policy, with the configured number of approvals for the high tier."""
    policy = _DEFAULTS[config.tier]
    if config.tier == "high" and config.approvals.required is not None:
        return TierPolicy(
            "high", policy.staging, policy.canary, config.approvals.required, policy.independent
        )
    return policy
