"""The locustfile: locust users that run the project's own pipeline.

Each user loops over the integration's sample payloads and runs
`Pipeline.run` (register once, execute with retries, parse, webhook, audit)
for each; the process's users share one pipeline on one asyncio loop (see
`loadtests.bridge`). Every execution becomes one locust request: the name is
the integration, the response time is the execution latency the pipeline
measured, a FAILURE is a failed request named by its error type.

Run it through `cognigy-harness load`, or directly with locust:

    locust -f loadtests/locustfile.py --headless --integration DIR ...

Settings (tenant, credentials, webhook, host overrides) come from the
environment like every other command. Options of this locustfile:
`--integration` (required), `--retry-policy` (JSON of a RetryPolicy that
replaces the definition's), `--summary-json FILE` (the run's figures, written
by the master or the single process) and `--progress-interval SECONDS`.
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
from locust import User, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.loader import IntegrationDir, load_integration
from harness.models import IntegrationDefinition, RetryPolicy
from harness.pipeline import SUCCESS, ExecutionReport, Pipeline, bot_context
from harness.settings import HarnessSettings
from loadtests.bridge import AsyncioBridge, Interrupted
from loadtests.stats import RetryTally
from loadtests.summary import LoadSummary

logger = logging.getLogger("loadtests.locustfile")

#: The request type locust shows for an execution.
REQUEST_TYPE = "EXECUTE"
#: Lines of progress start with this, so `cognigy-harness load` can pick
#: them out of locust's own output.
PROGRESS_PREFIX = "[progress] "
_TALLY_KEY = "cognigy_harness_tally"


class ExecutionFailed(Exception):
    """A FAILURE execution, as locust records it: the error type and status."""


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("cognigy-harness")
    group.add_argument(
        "--integration",
        default="",
        help="the integration directory (or its integration.yaml) to load",
    )
    group.add_argument(
        "--retry-policy",
        default="",
        help="JSON of a retry policy replacing the definition's (load profiles)",
    )
    group.add_argument("--profile-name", default="custom", help="label of the run")
    group.add_argument(
        "--summary-json", default="", help="write the run's figures to this file"
    )
    group.add_argument(
        "--progress-interval",
        type=float,
        default=2.0,
        help="seconds between progress lines (0: none)",
    )


class ProcessState:
    """What the users of one locust process share: loop, pipeline, tallies."""

    def __init__(self) -> None:
        self.bridge = AsyncioBridge()
        self.tally = RetryTally()
        # Executions each worker reported, for the master's summary.
        self.per_worker: dict[str, int] = {}
        self.environment: Environment | None = None
        # Wall-clock bounds of the run (master or single process).
        self.started_at = 0.0
        self.stopped_at = 0.0
        self.progress: gevent.Greenlet | None = None
        self.integration: IntegrationDir | None = None
        self.definition: IntegrationDefinition | None = None
        self.pipeline: Pipeline | None = None
        self._payloads: Iterator[Any] | None = None

    def prepare(self, environment: Environment) -> None:
        """Load the integration named by the options (once per process)."""
        if self.definition is not None:
            return
        options = environment.parsed_options
        if options is None or not options.integration:
            raise SystemExit("cognigy-harness locustfile: --integration is required")
        self.integration = load_integration(Path(options.integration))
        definition = self.integration.definition
        if options.retry_policy:
            policy = RetryPolicy.model_validate_json(options.retry_policy)
            config = definition.config.model_copy(update={"retry": policy})
            definition = definition.model_copy(update={"config": config})
        self.definition = definition
        payloads = [s.payload for s in self.integration.samples] or [{}]
        self._payloads = itertools.cycle(payloads)

    def execute(self) -> ExecutionReport:
        """One execution of the pipeline, run on the loop thread."""
        assert self.definition is not None
        assert self._payloads is not None
        context = bot_context(next(self._payloads))
        return self.bridge.run(self._run(self.definition, context))

    async def _run(
        self, definition: IntegrationDefinition, context: dict[str, Any]
    ) -> ExecutionReport:
        if self.pipeline is None:
            # Created on the loop thread: one pooled client for all users.
            self.pipeline = Pipeline(HarnessSettings())
        return await self.pipeline.run(definition, context)

    def close(self) -> None:
        pipeline, self.pipeline = self.pipeline, None
        self.bridge.close(pipeline.aclose() if pipeline else None)


STATE = ProcessState()


class PipelineUser(User):
    """A bot turn after a bot turn: runs the integration back to back."""

    wait_time = constant(0)

    def on_start(self) -> None:
        STATE.prepare(self.environment)

    @task
    def execute(self) -> None:
        try:
            report = STATE.execute()
        except Interrupted as stopped:
            # Stopped mid-execution: the pipeline finished and audited it,
            # so it is counted before the user goes.
            self._report(stopped.result)
            raise
        self._report(report)

    def _report(self, report: ExecutionReport) -> None:
        STATE.tally.observe(report)
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE,
            name=report.integration_name,
            response_time=report.latency_ms,
            response_length=report.webhook_event.get("payload_size", 0),
            exception=_failure(report),
            context={},
        )


def _failure(report: ExecutionReport) -> ExecutionFailed | None:
    if report.status == SUCCESS:
        return None
    if report.error is None:
        return ExecutionFailed("unknown")
    status = f" (HTTP {report.error.status})" if report.error.status else ""
    return ExecutionFailed(f"{report.error.kind}{status}")


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs: Any) -> None:
    STATE.environment = environment
    # gevent's loop caches "now" and has not run since locust imported it;
    # without a refresh, --run-time counts the seconds spent importing the
    # pipeline and a 5 s run ends after 3.
    gevent.get_hub().loop.update_now()


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    if isinstance(environment.runner, WorkerRunner) or options is None:
        return
    # The master runs no users but names the integration in its summary.
    STATE.prepare(environment)
    STATE.started_at = time.time()
    if options.progress_interval > 0:
        STATE.progress = gevent.spawn(
            _print_progress, environment, options.progress_interval
        )


def _print_progress(environment: Environment, interval: float) -> None:
    started = time.monotonic()
    while True:
        gevent.sleep(interval)
        total = environment.stats.total
        runner = environment.runner
        users = runner.user_count if runner else 0
        failed = total.num_failures / total.num_requests if total.num_requests else 0
        elapsed = time.monotonic() - started
        sys.stderr.write(
            f"{PROGRESS_PREFIX}{elapsed:6.1f} s  users {users:4d}"
            f"  executions {total.num_requests:7d}"
            f"  {total.num_requests / elapsed:7.1f}/s"
            f"  errors {failed:6.2%}"
            f"  p95 {total.get_current_response_time_percentile(0.95) or 0:.0f} ms\n"
        )
        sys.stderr.flush()


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_kwargs: Any) -> None:
    STATE.stopped_at = time.time()
    if STATE.progress is not None:
        STATE.progress.kill(block=False)
    if isinstance(environment.runner, WorkerRunner):
        # Report the last executions now, before the worker tells the master
        # it stopped; locust's own final report comes with `quit`, and a
        # master on a busy machine may stop listening before it arrives.
        environment.runner._send_stats()


@events.report_to_master.add_listener
def _on_report_to_master(data: dict[str, Any], **_kwargs: Any) -> None:
    data[_TALLY_KEY] = STATE.tally.drain()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    delta = data.get(_TALLY_KEY, {})
    STATE.tally.merge(delta)
    executions = int(delta.get("executions", 0))
    STATE.per_worker[client_id] = STATE.per_worker.get(client_id, 0) + executions


@events.quit.add_listener
def _on_quit(**_kwargs: Any) -> None:
    # `quit` fires after the master collected its workers' final reports.
    environment = STATE.environment
    if environment is not None and not isinstance(environment.runner, WorkerRunner):
        options = environment.parsed_options
        if options is not None and options.summary_json:
            _write_summary(environment, Path(options.summary_json))
    STATE.close()


def _write_summary(environment: Environment, path: Path) -> None:
    total = environment.stats.total
    options = environment.parsed_options
    # From the test's start to its stop: spawning and the last executions
    # in flight included, so executions/s is what the whole run sustained.
    duration = max(STATE.stopped_at - STATE.started_at, 1e-9)
    summary = LoadSummary(
        integration=STATE.definition.name if STATE.definition else "",
        profile=options.profile_name if options else "custom",
        duration_s=duration,
        executions=total.num_requests,
        failures=total.num_failures,
        executions_per_s=total.num_requests / duration,
        p50_ms=total.get_response_time_percentile(0.5) or 0,
        p95_ms=total.get_response_time_percentile(0.95) or 0,
        p99_ms=total.get_response_time_percentile(0.99) or 0,
        max_ms=total.max_response_time or 0,
        attempts=STATE.tally.attempts,
        retries=STATE.tally.retries,
        errors=dict(STATE.tally.errors),
    )
    data = summary.to_dict()
    data["tally_executions"] = STATE.tally.executions
    data["exceptions"] = len(environment.runner.exceptions) if environment.runner else 0
    if isinstance(environment.runner, MasterRunner):
        data["workers"] = dict(STATE.per_worker)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
