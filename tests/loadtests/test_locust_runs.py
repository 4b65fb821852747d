"""Locust runs of the pipeline, each in its own process (locust patches it).

Kept short: each run lasts a few seconds, and the suite's load tests stay
around a minute on two cores. Longer runs of every profile are `slow`.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness.loader import IntegrationDir
from loadtests.profiles import LoadProfile
from loadtests.runner import (
    LOCUSTFILE,
    LoadOptions,
    free_port,
    locust_environment,
    run_load,
)
from mocks.environment import MockEnvironment
from mocks.faults import FaultPlan, Latency
from mocks.transport import BackgroundServer
from tests.conftest import INTEGRATIONS

ACCOUNT_BALANCE = INTEGRATIONS / "account-balance"
MASTER_OPTIONS = (
    "--master-bind-host 127.0.0.1 --headless --only-summary --progress-interval 0"
    " --users 6 --spawn-rate 6 --run-time 4s --stop-timeout 30"
    " --exit-code-on-error 0"
)
CLI = [sys.executable, "-c", "from harness.cli import main; raise SystemExit(main())"]


def run_cli(options: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`cognigy-harness load` of account-balance, auditing into tmp_path."""
    audit = ["--audit-log", str(tmp_path / "audit.jsonl")]
    return subprocess.run(
        [*CLI, "load", str(ACCOUNT_BALANCE), *options.split(), *audit],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def fixed_delay(ms: float) -> FaultPlan:
    return FaultPlan(latency=Latency(fixed_ms=ms))


def test_a_200_ms_upstream_gives_a_median_of_200_to_260_ms(tmp_path: Path) -> None:
    profile = LoadProfile(
        "fixed-200ms", "every answer 200 ms late", lambda: fixed_delay(200)
    )
    audit = tmp_path / "audit.jsonl"
    options = LoadOptions(
        integration=ACCOUNT_BALANCE,
        profile=profile,
        users=20,
        duration_s=4,
        audit_log=audit,
        p95_ms=1_000,
    )

    result = run_load(options)

    summary = result.summary
    assert 200 <= summary.p50_ms <= 260, summary
    assert summary.failures == 0
    assert result.passed, [c.describe() for c in result.breaches]
    # 20 users of 200 ms each: up to 100 executions/s. More than 50 shows
    # that more than 10 users wait at once (gevent's threadpool has 10).
    assert 50 < summary.executions_per_s <= 100.5, summary
    # Every execution locust counted went through the pipeline's audit step.
    lines = audit.read_text(encoding="utf-8").splitlines()
    assert len(lines) == summary.executions, summary


def test_cli_names_the_breached_threshold_and_exits_1(tmp_path: Path) -> None:
    completed = run_cli("--users 4 --duration 3s --p95-ms 1", tmp_path)

    assert completed.returncode == 1, completed.stderr
    for label in ("executions/s", "p50", "p95", "p99", "error rate", "retries"):
        assert label in completed.stdout
    assert "threshold breached: p95_ms" in completed.stderr
    # Progress came while it ran.
    assert "executions" in completed.stderr


def test_a_master_and_two_workers_add_up(
    account_balance: IntegrationDir, tmp_path: Path
) -> None:
    environment = MockEnvironment([account_balance])
    audit = tmp_path / "audit.jsonl"
    summary_path = tmp_path / "summary.json"
    port = free_port()
    locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]

    with BackgroundServer(environment.asgi_app()) as server:
        env = locust_environment(environment.port_settings(server.base_url), audit)
        master = subprocess.Popen(
            [
                *locust,
                *f"--master --expect-workers 2 --master-bind-port {port}".split(),
                *shlex.split(MASTER_OPTIONS),
                *["--integration", str(account_balance.root)],
                *["--summary-json", str(summary_path)],
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        workers = [
            subprocess.Popen(
                [*locust, *f"--worker --master-port {port}".split()],
                env=env,
            )
            for _ in range(2)
        ]
        try:
            output, _ = master.communicate(timeout=90)
            for worker in workers:
                worker.wait(timeout=30)
        finally:
            for process in (master, *workers):
                if process.poll() is None:
                    process.kill()
        assert master.returncode == 0, output
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        webhook_events = len(environment.webhook.events)
        upstream_calls = environment.external().journal.total

    executions = summary["executions"]
    assert executions > 0
    # Both workers ran, and their reports add up to the master's totals.
    assert len(summary["workers"]) == 2, summary
    assert all(count > 0 for count in summary["workers"].values()), summary
    assert sum(summary["workers"].values()) == executions
    assert summary["tally_executions"] == executions
    # Every counted execution was audited and reported, each attempt sent once.
    assert len(audit.read_text(encoding="utf-8").splitlines()) == executions
    assert webhook_events == executions
    assert upstream_calls == summary["attempts"] == executions


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["flaky", "rate-limited", "slow", "ramp"])
def test_each_profile_shows_its_upstream_behaviour(
    profile: str, tmp_path: Path
) -> None:
    options = LoadOptions(
        integration=ACCOUNT_BALANCE,
        profile=profile,
        users=8,
        duration_s=6,
        audit_log=tmp_path / "audit.jsonl",
    )

    summary = run_load(options).summary

    assert summary.profile == profile
    assert summary.executions > 0
    if profile == "flaky":
        # 10 % of attempts answer 503: about 0.11 retries per execution.
        assert 0.05 <= summary.retries_per_execution <= 0.2, summary
        assert set(summary.errors) <= {"upstream_status"}
    elif profile == "rate-limited":
        # Retry-After: 1 is honoured: a retried execution waits a second.
        assert summary.retries > 0
        assert summary.max_ms >= 1_000, summary
    elif profile == "slow":
        assert 100 <= summary.p50_ms <= 200, summary
    else:
        assert summary.failures == 0


@pytest.mark.slow
def test_local_worker_processes_add_up(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    options = LoadOptions(
        integration=ACCOUNT_BALANCE, users=6, duration_s=5, processes=2, audit_log=audit
    )

    result = run_load(options)

    assert len(result.workers) == 2
    assert sum(result.workers.values()) == result.summary.executions > 0
    lines = audit.read_text(encoding="utf-8").splitlines()
    assert len(lines) == result.summary.executions


@pytest.mark.slow
def test_the_documented_command_passes_the_definitions_thresholds(
    tmp_path: Path,
) -> None:
    completed = run_cli("--users 20 --duration 10s", tmp_path)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    for label in ("executions/s", "p50", "p95", "p99", "error rate"):
        assert label in completed.stdout
