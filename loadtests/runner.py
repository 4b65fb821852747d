"""Run a load test end to end and return its result as data.

`run_load` starts the mocks on a loopback port with the profile's fault
plan, runs locust headless in a subprocess (locust patches its whole process
with gevent, so it never runs in the caller's), relays the progress lines,
reads the summary the locustfile writes and checks the thresholds. The CLI
(`cognigy-harness load`) and the CI gate both call it.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from harness.errors import HarnessError
from harness.loader import IntegrationDir, load_integration
from harness.models import Thresholds
from harness.settings import HarnessSettings
from loadtests.profiles import LoadProfile, get_profile
from loadtests.summary import (
    LoadSummary,
    ThresholdCheck,
    check_thresholds,
    merge_thresholds,
)

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
RAMP_LOCUSTFILE = Path(__file__).with_name("ramp.py")
PROGRESS_PREFIX = "[progress] "
#: How long locust may take beyond the run time to start, stop and report.
GRACE_SECONDS = 60.0
_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$"
)

Progress = Callable[[str], None]


class LoadRunError(HarnessError):
    """The load run itself failed (locust crashed, no summary): no verdict."""

    kind = "load_error"


def parse_duration(text: str) -> float:
    """Seconds from `30`, `30s`, `2m`, `1m30s` or `1h`; ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration such as 30s, 2m or 1m30s")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"duration {text!r} must be more than 0 s")
    return total


@dataclass(frozen=True)
class LoadOptions:
    """What to run: the integration, the profile, users, time and limits.

    Threshold values given here take precedence over the `thresholds` of the
    integration's YAML; unset ones fall back to it.
    """

    integration: Path
    profile: str | LoadProfile = "steady"
    users: int = 10
    spawn_rate: float | None = None
    duration_s: float = 30.0
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_error_rate: float | None = None
    turn_budget_ms: float | None = None
    csv_prefix: str | None = None
    html: Path | None = None
    # Locust worker processes on this machine (`--processes`); None: one process.
    processes: int | None = None
    audit_log: Path = Path(".cognigy-harness/load-audit.jsonl")
    # Keep the definition's own retry waits instead of the profile's short ones.
    keep_backoff: bool = False
    progress_interval: float = 2.0


@dataclass(frozen=True)
class LoadResult:
    """A finished load run: its figures and the verdict of each threshold."""

    summary: LoadSummary
    thresholds: Thresholds
    checks: list[ThresholdCheck]
    # Executions per locust worker (distributed runs only).
    workers: dict[str, int] = field(default_factory=dict)
    # Exceptions raised in users (bugs, not FAILURE executions).
    exceptions: int = 0

    @property
    def breaches(self) -> list[ThresholdCheck]:
        return [check for check in self.checks if not check.passed]

    @property
    def passed(self) -> bool:
        return not self.breaches

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary.to_dict(),
            "passed": self.passed,
            "checks": [
                {
                    "name": c.name,
                    "limit": c.limit,
                    "measured": c.measured,
                    "passed": c.passed,
                }
                for c in self.checks
            ],
            "workers": self.workers,
            "exceptions": self.exceptions,
        }


def run_load(options: LoadOptions, progress: Progress | None = None) -> LoadResult:
    """Run one load test against the mocks on loopback and check its thresholds.

    Raises:
        DefinitionError: the integration does not load.
        UnknownProfileError: no profile of that name.
        LoadRunError: locust failed or wrote no summary.
    """
    # Imported here: the mocks pull in uvicorn, which a caller may not need.
    from mocks.environment import MockEnvironment
    from mocks.transport import BackgroundServer

    integration = load_integration(options.integration)
    profile = (
        options.profile
        if isinstance(options.profile, LoadProfile)
        else get_profile(options.profile)
    )
    environment = MockEnvironment(
        [integration], HarnessSettings(), fault_plan=profile.fault_plan()
    )
    with (
        BackgroundServer(environment.asgi_app()) as server,
        tempfile.TemporaryDirectory(prefix="cognigy-load-") as work,
    ):
        settings = environment.port_settings(server.base_url)
        summary_path = Path(work) / "summary.json"
        command = locust_command(options, integration, profile, summary_path)
        env = locust_environment(settings, options.audit_log)
        _run_locust(command, env, options, progress)
        data = _read_summary(summary_path)

    summary = LoadSummary.from_dict(data)
    thresholds = merge_thresholds(
        integration.definition.thresholds,
        p95_ms=options.p95_ms,
        p99_ms=options.p99_ms,
        max_error_rate=options.max_error_rate,
        turn_budget_ms=options.turn_budget_ms,
    )
    checks = check_thresholds(summary, thresholds)
    exceptions = int(data.get("exceptions", 0))
    # An exception in a user is a bug in the harness: never a passing run.
    checks.append(ThresholdCheck("user_exceptions", 0, exceptions, "count"))
    return LoadResult(
        summary=summary,
        thresholds=thresholds,
        checks=checks,
        workers={str(k): int(v) for k, v in data.get("workers", {}).items()},
        exceptions=exceptions,
    )


def locust_command(
    options: LoadOptions,
    integration: IntegrationDir,
    profile: LoadProfile,
    summary_path: Path,
) -> list[str]:
    """The headless locust command line of a load run."""
    locustfile = RAMP_LOCUSTFILE if profile.shape == "ramp" else LOCUSTFILE
    spawn_rate = options.spawn_rate or float(options.users)
    command = [
        sys.executable, "-m", "locust",
        "-f", str(locustfile),
        "--headless",
        "--users", str(options.users),
        "--spawn-rate", f"{spawn_rate:g}",
        "--run-time", f"{options.duration_s:g}s",
        # Users finish the execution in flight, so every audited execution
        # is also counted by locust.
        "--stop-timeout", "30",
        # FAILURE executions are measured, not a crash: the thresholds decide.
        "--exit-code-on-error", "0",
        "--only-summary",
        "--loglevel", "WARNING",
        "--integration", str(integration.root),
        "--profile-name", profile.name,
        "--summary-json", str(summary_path),
        "--progress-interval", f"{options.progress_interval:g}",
    ]  # fmt: skip
    if profile.retry is not None and not options.keep_backoff:
        command += ["--retry-policy", profile.retry.model_dump_json()]
    if options.csv_prefix:
        command += ["--csv", options.csv_prefix]
    if options.html is not None:
        command += ["--html", str(options.html)]
    if options.processes:
        # The forked workers connect to --master-port: the same free port.
        port = str(free_port())
        command += [
            "--processes", str(options.processes),
            "--master-bind-host", "127.0.0.1",
            "--master-bind-port", port,
            "--master-port", port,
        ]  # fmt: skip
    return command


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def locust_environment(settings: HarnessSettings, audit_log: Path) -> dict[str, str]:
    """A locust process's environment: these settings, this audit log.

    Every settings field that is set becomes its environment variable, the
    way `HarnessSettings` reads it back (JSON for lists and dicts), so a new
    setting reaches the locust process without a change here.
    """
    env = dict(os.environ)
    # warnings=False: the mocks' settings hold URLs as plain strings.
    fields = settings.model_dump(exclude={"extra_secrets"}, warnings=False)
    for name, value in fields.items():
        if value is not None:
            env[name.upper()] = _env_value(value)
    for name, secret in settings.extra_secrets.items():
        env[name] = secret.get_secret_value()
    env.update(
        {
            "AUDIT_LOG_PATH": str(audit_log),
            # httpx's own transport stalls from about 20 concurrent calls on a
            # 2-core machine (~160 calls/s, p95 400 ms against a mock that
            # serves ~900/s to aiohttp's): it would measure the load generator.
            "HTTP_TRANSPORT": "aiohttp",
            # A scratch log of many executions: flushed to disk in groups,
            # not fsynced one by one.
            "AUDIT_DURABILITY": "group",
        }
    )
    return env


def _env_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=_json_default)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)


def _run_locust(
    command: list[str],
    env: dict[str, str],
    options: LoadOptions,
    progress: Progress | None,
) -> None:
    """Run locust, relay its progress lines, raise with its output on failure."""
    tail: collections.deque[str] = collections.deque(maxlen=30)
    deadline = time.monotonic() + options.duration_s + GRACE_SECONDS
    with subprocess.Popen(  # noqa: S603 - our own interpreter and locustfile
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Its own process group: a timeout also ends the workers it forked.
        start_new_session=True,
    ) as process:
        # Read in a thread, so a locust that hangs silently still times out.
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(process, lines), daemon=True)
        reader.start()
        while (line := _next_line(lines, deadline)) is not None:
            if line.startswith(PROGRESS_PREFIX):
                if progress is not None:
                    progress(line.removeprefix(PROGRESS_PREFIX).rstrip())
            elif line.strip():
                tail.append(line.rstrip())
        if time.monotonic() >= deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise LoadRunError("locust did not finish in time:\n" + "\n".join(tail))
        code = process.wait()
    if code != 0:
        raise LoadRunError(f"locust exited with {code}:\n" + "\n".join(tail))


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    lines.put(None)


def _next_line(lines: queue.Queue[str | None], deadline: float) -> str | None:
    """The next output line; None at its end or when the deadline passed."""
    try:
        return lines.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        return None


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LoadRunError(f"locust wrote no readable summary: {exc}") from None
    return data
