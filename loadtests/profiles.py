"""Load profiles: how the upstream behaves and how the users arrive.

A profile is data. Its fault plan goes to the external mocks (`mocks.faults`,
nothing new), its retry policy replaces the definition's so that a 10-second
run sees several retry rounds instead of one 2-second backoff, and its shape
says whether users arrive at a constant rate or in ramp stages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from harness.models import RetryPolicy
from mocks.faults import Fault, FaultPlan, FaultRule, Latency

Shape = Literal["constant", "ramp"]

#: The backoff of load profiles: the definition's attempts, waits of 50 to
#: 200 ms. Real backoff (2 s and up) would turn a short run into a few rounds.
LOAD_RETRY = RetryPolicy(wait_min_seconds=0.05, wait_max_seconds=0.2)

#: Seeds of the rate rules, so two runs of a profile draw the same faults.
FAULT_SEED = 8


@dataclass(frozen=True)
class LoadProfile:
    """A named upstream behaviour, retry policy and arrival shape."""

    name: str
    description: str
    fault_plan: Callable[[], FaultPlan]
    retry: RetryPolicy | None = field(default_factory=lambda: LOAD_RETRY)
    shape: Shape = "constant"


def _steady() -> FaultPlan:
    return FaultPlan()


def _flaky() -> FaultPlan:
    rule = FaultRule(rate=0.1, fault=Fault(status=503), seed=FAULT_SEED)
    return FaultPlan(rules=[rule])


def _rate_limited() -> FaultPlan:
    # Retry-After in whole seconds: the delta-seconds form every client reads.
    fault = Fault(status=429, retry_after=1)
    return FaultPlan(rules=[FaultRule(rate=0.05, fault=fault, seed=FAULT_SEED)])


def _slow() -> FaultPlan:
    return FaultPlan(latency=Latency(lognormal_median_ms=120, lognormal_sigma=0.5))


PROFILES: dict[str, LoadProfile] = {
    profile.name: profile
    for profile in (
        LoadProfile("steady", "the recorded answers, no faults", _steady),
        LoadProfile("flaky", "10 % of upstream calls answer 503", _flaky),
        LoadProfile(
            "rate-limited",
            "5 % of upstream calls answer 429 with Retry-After: 1",
            _rate_limited,
        ),
        LoadProfile(
            "slow",
            "log-normal upstream latency, median 120 ms, sigma 0.5",
            _slow,
        ),
        LoadProfile(
            "ramp",
            "no faults; users arrive in stages up to --users, then leave",
            _steady,
            shape="ramp",
        ),
    )
}


class UnknownProfileError(ValueError):
    """A profile name that is not in `PROFILES`."""


def get_profile(name: str) -> LoadProfile:
    """The profile of that name, or an error listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise UnknownProfileError(
            f"unknown load profile {name!r} (known: {known})"
        ) from None
