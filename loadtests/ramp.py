"""The locustfile of the `ramp` profile: the pipeline users plus a ramp shape.

Locust picks up every shape class in a locustfile, so the shape lives in a
file of its own: `loadtests/locustfile.py` keeps a constant user count and
this file adds stages (see `loadtests.shapes`) over the same users.
"""

from __future__ import annotations

from locust import LoadTestShape

from loadtests.locustfile import PipelineUser
from loadtests.shapes import Stage, ramp_stages, stage_at

__all__ = ["PipelineUser", "RampShape"]


class RampShape(LoadTestShape):
    """Users in stages up to `--users` over `--run-time`, then a step down."""

    # The peak users, spawn rate and run time come from -u, -r and -t.
    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self._stages: list[Stage] | None = None

    def tick(self) -> tuple[int, float] | None:
        if self._stages is None:
            self._stages = self._plan()
        stage = stage_at(self._stages, self.get_run_time())
        return None if stage is None else (stage.users, stage.spawn_rate)

    def _plan(self) -> list[Stage]:
        assert self.runner is not None
        options = self.runner.environment.parsed_options
        users = int(getattr(options, "num_users", None) or 1)
        spawn_rate = float(getattr(options, "spawn_rate", None) or users)
        run_time = float(getattr(options, "run_time", None) or 60)
        return ramp_stages(users, run_time, spawn_rate)
