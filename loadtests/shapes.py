"""The ramp shape as data: stages of users over the run time.

The locust `LoadTestShape` in `loadtests.ramp` only looks these stages up;
keeping them here lets the stages be tested without importing locust.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# (end of the stage as a fraction of the run, fraction of the peak users):
# a quarter, a half, the full load for most of the run, then a quarter again
# so the report also shows how latency recovers once the load drops.
RAMP_STAGES = ((0.25, 0.25), (0.5, 0.5), (0.9, 1.0), (1.0, 0.25))


@dataclass(frozen=True)
class Stage:
    """Until `end_s` seconds into the run, hold `users` users."""

    end_s: float
    users: int
    spawn_rate: float


def ramp_stages(peak_users: int, run_time_s: float, spawn_rate: float) -> list[Stage]:
    """The ramp's stages for a peak user count over a run time."""
    if peak_users < 1 or run_time_s <= 0 or spawn_rate <= 0:
        raise ValueError("a ramp needs users >= 1, a run time and a spawn rate > 0")
    return [
        Stage(
            end_s=run_time_s * end,
            users=max(1, math.ceil(peak_users * share)),
            spawn_rate=spawn_rate,
        )
        for end, share in RAMP_STAGES
    ]


def stage_at(stages: list[Stage], elapsed_s: float) -> Stage | None:
    """The stage in force `elapsed_s` into the run; None once the run is over."""
    for stage in stages:
        if elapsed_s < stage.end_s:
            return stage
    return None
