"""Threshold checks, the summary table, tallies and the ramp's stages."""

from __future__ import annotations

import pytest

from harness.errors import UpstreamStatusError
from harness.executor import AttemptOutcome
from harness.models import Thresholds
from harness.pipeline import FAILURE, SUCCESS, ExecutionReport
from loadtests.runner import parse_duration
from loadtests.shapes import ramp_stages, stage_at
from loadtests.stats import RetryTally
from loadtests.summary import (
    LoadSummary,
    check_thresholds,
    format_table,
    merge_thresholds,
)


def summary(**changes: object) -> LoadSummary:
    data: dict[str, object] = {
        "integration": "account-balance",
        "profile": "steady",
        "duration_s": 10.0,
        "executions": 1000,
        "failures": 5,
        "executions_per_s": 100.0,
        "p50_ms": 40.0,
        "p95_ms": 120.0,
        "p99_ms": 300.0,
        "max_ms": 900.0,
        "attempts": 1100,
        "retries": 100,
        "errors": {"upstream_status": 5},
    }
    data.update(changes)
    return LoadSummary.from_dict(data)


def test_command_line_thresholds_override_the_definitions() -> None:
    base = Thresholds(p95_ms=250, p99_ms=500, max_error_rate=0.01)

    merged = merge_thresholds(base, p95_ms=1, p99_ms=None, turn_budget_ms=8000)

    assert merged == Thresholds(
        p95_ms=1, p99_ms=500, max_error_rate=0.01, turn_budget_ms=8000
    )
    assert merge_thresholds(None) == Thresholds()


def test_each_set_threshold_is_checked_and_breaches_are_named() -> None:
    thresholds = Thresholds(p95_ms=100, max_error_rate=0.01, turn_budget_ms=800)

    checks = {c.name: c for c in check_thresholds(summary(), thresholds)}

    assert set(checks) == {"p95_ms", "max_error_rate", "turn_budget_ms"}
    assert not checks["p95_ms"].passed
    assert checks["max_error_rate"].passed
    assert checks["max_error_rate"].measured == pytest.approx(0.005)
    # The turn budget bounds the slowest execution, all attempts included.
    assert not checks["turn_budget_ms"].passed
    assert "p95_ms: measured 120 ms, limit 100 ms: BREACHED" in (
        checks["p95_ms"].describe()
    )


def test_a_limit_equal_to_the_measurement_passes() -> None:
    (check,) = check_thresholds(summary(p99_ms=500), Thresholds(p99_ms=500))
    assert check.passed


def test_the_table_shows_every_figure() -> None:
    table = format_table(summary())

    for label, value in [
        ("executions/s", "100.0"),
        ("p50", "40 ms"),
        ("p95", "120 ms"),
        ("p99", "300 ms"),
        ("error rate", "0.50% (5 failed)"),
        ("retries/execution", "0.100"),
        ("upstream_status", "5"),
    ]:
        line = next(line for line in table.splitlines() if label in line)
        assert value in line


def test_summary_round_trips_through_its_dict() -> None:
    original = summary()
    assert LoadSummary.from_dict(original.to_dict()) == original


def report(status: str, attempts: int) -> ExecutionReport:
    outcomes = [AttemptOutcome(503, 1.0)] * attempts
    error = UpstreamStatusError("upstream answered 503", status=503)
    return ExecutionReport(
        integration_id="int_1",
        integration_name="account-balance",
        status=status,
        latency_ms=1.0,
        attempt_outcomes=outcomes,
        error=None if status == SUCCESS else error,
    )


def test_tally_counts_retries_and_failure_kinds_and_merges() -> None:
    worker = RetryTally()
    for status, attempts in [(SUCCESS, 1), (SUCCESS, 2), (FAILURE, 3), (FAILURE, 0)]:
        worker.observe(report(status, attempts))

    master = RetryTally()
    master.merge(worker.drain())
    master.merge(RetryTally().drain())

    assert worker.executions == 0
    assert master.to_dict() == {
        "executions": 4,
        "failures": 2,
        "attempts": 6,
        "retries": 3,
        "errors": {"upstream_status": 2},
    }
    assert master.error_rate == 0.5
    assert master.retries_per_execution == 0.75


def test_ramp_climbs_to_the_peak_and_steps_down() -> None:
    stages = ramp_stages(peak_users=20, run_time_s=100, spawn_rate=5)

    assert [s.users for s in stages] == [5, 10, 20, 5]
    assert [s.end_s for s in stages] == [25, 50, 90, 100]
    assert stage_at(stages, 0).users == 5  # type: ignore[union-attr]
    assert stage_at(stages, 60).users == 20  # type: ignore[union-attr]
    assert stage_at(stages, 100) is None
    assert ramp_stages(1, 10, 1)[0].users == 1
    with pytest.raises(ValueError, match="users >= 1"):
        ramp_stages(0, 10, 1)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30), ("30s", 30), ("2m", 120), ("1m30s", 90), ("1h", 3600), ("0.5s", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "10x", "0s", "-5s"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
