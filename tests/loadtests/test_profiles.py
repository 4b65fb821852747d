"""Load profiles are the mocks' fault plans, selected by name."""

from __future__ import annotations

import random
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.profiles import LOAD_RETRY, PROFILES, UnknownProfileError, get_profile

ROOT = Path(__file__).resolve().parents[2]
IMPORTS_LOCUST = re.compile(r"^\s*(import|from)\s+(locust|gevent)\b", re.MULTILINE)


def draw(profile: str, calls: int = 2_000) -> list[object]:
    plan = get_profile(profile).fault_plan()
    return [plan.next_fault("POST", "/v1/data") for _ in range(calls)]


def test_profiles_by_name_and_a_clear_error_for_others() -> None:
    assert set(PROFILES) == {"steady", "flaky", "rate-limited", "slow", "ramp"}
    with pytest.raises(UnknownProfileError, match="known: steady, flaky"):
        get_profile("spiky")


def test_steady_injects_nothing() -> None:
    assert draw("steady") == [None] * 2_000


def test_flaky_answers_503_to_a_tenth_of_the_calls() -> None:
    faults = draw("flaky")
    statuses = {f.status for f in faults if f is not None}  # type: ignore[attr-defined]
    share = sum(f is not None for f in faults) / len(faults)
    assert statuses == {503}
    assert 0.08 <= share <= 0.12


def test_rate_limited_answers_429_with_retry_after() -> None:
    faults = [f for f in draw("rate-limited") if f is not None]
    assert faults
    assert all(f.status == 429 and f.retry_after == 1 for f in faults)  # type: ignore[attr-defined]


def test_slow_draws_log_normal_latency_around_its_median() -> None:
    plan = get_profile("slow").fault_plan()
    assert plan.latency is not None
    rng = random.Random(1)
    latencies = [plan.latency.draw(rng) for _ in range(4_000)]
    assert 110 <= statistics.median(latencies) <= 130
    # Log-normal: a long right tail, nothing at or below zero.
    assert min(latencies) > 0
    assert max(latencies) > 3 * statistics.median(latencies)


def test_profiles_shorten_the_backoff_and_only_ramp_changes_the_shape() -> None:
    assert all(p.retry == LOAD_RETRY for p in PROFILES.values())
    assert LOAD_RETRY.wait_max_seconds <= 0.2
    assert {p.name for p in PROFILES.values() if p.shape == "ramp"} == {"ramp"}


def test_nothing_but_the_locustfiles_imports_locust() -> None:
    # Importing the package (as the CLI does) must leave gevent out.
    code = (
        "import sys, loadtests, harness.cli.load; "
        "assert 'locust' not in sys.modules and 'gevent' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    for folder in ("harness", "mocks", "contracts", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            assert not IMPORTS_LOCUST.search(path.read_text(encoding="utf-8")), path
