"""Load tests: locust drives the pipeline against the mocks on loopback.

Importing this package never imports locust or gevent: only the locustfiles
(`loadtests.locustfile`, `loadtests.ramp`) and `loadtests.bridge` do, and
they run in locust's own process. `run_load` starts such a process and
returns a `LoadResult`.
"""

from loadtests.profiles import PROFILES, LoadProfile, UnknownProfileError, get_profile
from loadtests.runner import (
    LOCUSTFILE,
    LoadOptions,
    LoadResult,
    LoadRunError,
    parse_duration,
    run_load,
)
from loadtests.shapes import Stage, ramp_stages
from loadtests.stats import RetryTally
from loadtests.summary import (
    LoadSummary,
    ThresholdCheck,
    check_thresholds,
    format_table,
    merge_thresholds,
)

__all__ = [
    "LOCUSTFILE",
    "PROFILES",
    "LoadOptions",
    "LoadProfile",
    "LoadResult",
    "LoadRunError",
    "LoadSummary",
    "RetryTally",
    "Stage",
    "ThresholdCheck",
    "UnknownProfileError",
    "check_thresholds",
    "format_table",
    "get_profile",
    "merge_thresholds",
    "parse_duration",
    "ramp_stages",
    "run_load",
]
