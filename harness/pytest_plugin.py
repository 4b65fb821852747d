"""pytest plugin: the mocks, the audit log and a wired pipeline as fixtures.

Installing `cognigy-harness` registers this module through the `pytest11`
entry point, so its fixtures appear in every test suite of that environment.
Every name starts with `cognigy_` so it never clashes with a suite's own.

Markers point a test at its integration and set up the mocks::

    @pytest.mark.cognigy_integration("integrations/account-balance")
    @pytest.mark.cognigy_faults("503,503")
    async def test_retries(cognigy_run, cognigy_external):
        report = await cognigy_run({"query": "account_balance"})
        assert report.attempts == 3

Options: `--record-mode` (none, once, new_episodes, all) and `--live` (run
against the configured tenant and external APIs instead of the mocks).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from harness.audit import AuditLog
from harness.loader import IntegrationDir, load_integration
from harness.pipeline import ExecutionReport, Pipeline, bot_context
from harness.settings import HarnessSettings

if TYPE_CHECKING:
    from mocks.cognigy import CognigyMock
    from mocks.environment import MockEnvironment
    from mocks.external import ExternalMock
    from mocks.faults import FaultPlan
    from mocks.webhook import WebhookMock

MARK_INTEGRATION = "cognigy_integration"
MARK_RECORD = "cognigy_record"
MARK_FAULTS = "cognigy_faults"
RECORD_MODES = ("none", "once", "new_episodes", "all")

#: What a live run needs, per platform profile, besides the integration's secret.
LIVE_VARIABLES = {
    "integrations-v1": (
        "COGNIGY_TENANT_URL",
        "COGNIGY_CLIENT_ID",
        "COGNIGY_CLIENT_SECRET",
    ),
    "cognigy-ai-v2": ("COGNIGY_API_URL",),
}

MARKERS = (
    f"{MARK_INTEGRATION}(path): the integration directory (or its "
    "integration.yaml) the cognigy_* fixtures use; relative to the rootdir",
    f"{MARK_RECORD}(mode=None, fixtures=None, upstream=None): the record mode "
    "(none, once, new_episodes, all), the fixture file the external mock replays "
    "and records into, and the base URL it records from",
    f"{MARK_FAULTS}(spec=None, *, plan=None, scenario=None): faults the external "
    "mock plays: the --fault shorthand ('503,503'), a fault plan (dict) or a "
    "scenario of the integration's scenarios.yaml",
)

RunIntegration = Callable[..., Awaitable[ExecutionReport]]
_Fixture = TypeVar("_Fixture", bound=Callable[..., Any])


def _async_fixture(func: _Fixture) -> _Fixture:
    """pytest-asyncio's fixture decorator (the `test` extra installs it)."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - depends on the environment
        # Without pytest-asyncio no async fixture can run: pytest says so
        # when a test asks for one, and the plugin's other fixtures still work.
        return cast(_Fixture, pytest.fixture(func))
    return cast(_Fixture, pytest_asyncio.fixture(func))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cognigy-harness")
    group.addoption(
        "--record-mode",
        choices=RECORD_MODES,
        default=None,
        help="how the external mock uses its fixture file: none (replay only, the "
        "default), once, new_episodes, all; a cognigy_record mark wins",
    )
    group.addoption(
        "--live",
        action="store_true",
        default=False,
        help="run the cognigy_* fixtures against the configured tenant and "
        "external APIs instead of the mocks (tests skip when credentials are "
        "missing, or when they assert on mock journals)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)


# ------------------------------------------------------------ configuration


@pytest.fixture
def cognigy_live(request: pytest.FixtureRequest) -> bool:
    """True when the run was started with `--live`."""
    return bool(request.config.getoption("--live"))


@pytest.fixture
def cognigy_integration(request: pytest.FixtureRequest) -> IntegrationDir:
    """The integration the `cognigy_integration(path)` mark names, loaded."""
    marker = request.node.get_closest_marker(MARK_INTEGRATION)
    if marker is None or not marker.args:
        pytest.fail(
            f"mark the test with @pytest.mark.{MARK_INTEGRATION}(PATH) to use the "
            "cognigy_* fixtures",
            pytrace=False,
        )
    path = Path(marker.args[0])
    if not path.is_absolute():
        path = request.config.rootpath / path
    return load_integration(path)


@pytest.fixture
def cognigy_record_mode(request: pytest.FixtureRequest) -> str:
    """The record mode: the `cognigy_record` mark, then `--record-mode`, then none."""
    marker = request.node.get_closest_marker(MARK_RECORD)
    mode = marker.kwargs.get("mode") if marker else None
    mode = mode or request.config.getoption("--record-mode") or "none"
    if mode not in RECORD_MODES:
        pytest.fail(f"record mode {mode!r} is not one of {RECORD_MODES}", pytrace=False)
    return str(mode)


@pytest.fixture
def cognigy_fixtures_path(
    request: pytest.FixtureRequest, cognigy_integration: IntegrationDir
) -> Path:
    """The fixture file the external mock replays (the integration's by default)."""
    marker = request.node.get_closest_marker(MARK_RECORD)
    chosen = marker.kwargs.get("fixtures") if marker else None
    if chosen is None:
        return cognigy_integration.fixtures_path
    path = Path(chosen)
    return path if path.is_absolute() else request.config.rootpath / path


@pytest.fixture
def cognigy_fault_plan(
    request: pytest.FixtureRequest, cognigy_integration: IntegrationDir
) -> FaultPlan | None:
    """The fault plan the `cognigy_faults` mark asks for, fresh for each test."""
    from mocks.faults import FaultPlan, parse_fault_spec

    marker = request.node.get_closest_marker(MARK_FAULTS)
    if marker is None:
        return None
    if marker.args:
        return parse_fault_spec(str(marker.args[0]))
    if "plan" in marker.kwargs:
        return FaultPlan.model_validate(marker.kwargs["plan"])
    name = marker.kwargs.get("scenario")
    for scenario in cognigy_integration.scenarios:
        if scenario.name == name:
            return scenario.fault_plan()
    known = [s.name for s in cognigy_integration.scenarios]
    pytest.fail(
        f"{MARK_FAULTS} needs a spec, plan= or scenario=; scenario {name!r} is not "
        f"in {cognigy_integration.root.name}/scenarios.yaml (known: {known})",
        pytrace=False,
    )


# ------------------------------------------------------------------ mocks


@pytest.fixture
def cognigy_audit_log(tmp_path: Path) -> AuditLog:
    """A hash-chained audit log in the test's temporary folder.

    Entries reach the disk in groups and when the pipeline closes: the file
    lives as long as the test, so per-entry fsync would only cost time.
    """
    return AuditLog(tmp_path / "cognigy-audit.jsonl", durability="group")


@_async_fixture
async def cognigy_mocks(
    request: pytest.FixtureRequest,
    cognigy_live: bool,
    cognigy_integration: IntegrationDir,
    cognigy_fault_plan: FaultPlan | None,
    cognigy_record_mode: str,
    cognigy_fixtures_path: Path,
) -> AsyncIterator[MockEnvironment]:
    """Platform, external and webhook mocks, intercepting in-process (respx).

    With a record mode other than `none` the external mock is a recorder: what
    it lacks goes to the real service (or the `upstream` of the
    `cognigy_record` mark) and is written, scrubbed, to the fixture file when
    the test ends.
    """
    from mocks.environment import MockEnvironment

    if cognigy_live:
        pytest.skip("--live: this test asserts on the mocks, which a live run skips")
    environment = MockEnvironment(
        [cognigy_integration],
        HarnessSettings(),
        fault_plan=cognigy_fault_plan,
        record_mode=cognigy_record_mode,
    )
    marker = request.node.get_closest_marker(MARK_RECORD)
    upstream = marker.kwargs.get("upstream") if marker else None
    if upstream or cognigy_fixtures_path != cognigy_integration.fixtures_path:
        _use_recorder(environment, cognigy_fixtures_path, upstream, cognigy_fault_plan)

    try:
        with environment.in_process():
            yield environment
        environment.save_recordings()
    finally:
        await environment.aclose()


def _use_recorder(
    environment: MockEnvironment,
    path: Path,
    upstream: str | None,
    fault_plan: FaultPlan | None,
) -> None:
    """Put a recorder over another fixture file or upstream in the external's place."""
    from mocks.faults import FaultPlan
    from mocks.record import Recorder

    integration = environment.integrations[0]
    host = urlsplit(integration.definition.config.url).hostname or ""
    plan = (fault_plan or FaultPlan()).for_mock("external", host)
    environment.externals[host] = Recorder(
        path, upstream or f"https://{host}", environment.record_mode, fault_plan=plan
    )


@pytest.fixture
def cognigy_platform(cognigy_mocks: MockEnvironment) -> CognigyMock:
    """The mock Cognigy platform; `.journal` holds every request it received."""
    return cognigy_mocks.platform


@pytest.fixture
def cognigy_external(cognigy_mocks: MockEnvironment) -> ExternalMock:
    """The integration's external service mock, with its journal and fault plan."""
    return cognigy_mocks.external()


@pytest.fixture
def cognigy_webhook(cognigy_mocks: MockEnvironment) -> WebhookMock:
    """The webhook receiver mock: `.events` holds the parsed status events."""
    return cognigy_mocks.webhook


# --------------------------------------------------------------- pipeline


@pytest.fixture
def cognigy_settings(
    request: pytest.FixtureRequest,
    cognigy_live: bool,
    cognigy_integration: IntegrationDir,
    cognigy_audit_log: AuditLog,
) -> HarnessSettings:
    """Settings that reach the mocks, or the configured tenant with `--live`."""
    audit = {"audit_log_path": cognigy_audit_log.path}
    if not cognigy_live:
        mocks: MockEnvironment = request.getfixturevalue("cognigy_mocks")
        return mocks.settings.model_copy(update=audit)

    settings = HarnessSettings()
    missing = _live_missing(settings, cognigy_integration)
    if missing:
        pytest.skip(f"--live needs {', '.join(missing)} in the environment or .env")
    return settings.model_copy(update=audit)


def _live_missing(settings: HarnessSettings, integration: IntegrationDir) -> list[str]:
    """The variables a live run of the settings' platform profile lacks."""
    missing = [
        name
        for name in LIVE_VARIABLES[settings.cognigy_platform]
        if not _setting_present(settings, name)
    ]
    if settings.cognigy_platform == "cognigy-ai-v2" and not (
        _setting_present(settings, "COGNIGY_API_KEY")
        or (
            _setting_present(settings, "COGNIGY_CLIENT_ID")
            and _setting_present(settings, "COGNIGY_CLIENT_SECRET")
        )
    ):
        missing.append(
            "COGNIGY_API_KEY (or COGNIGY_CLIENT_ID and COGNIGY_CLIENT_SECRET)"
        )
    config = integration.definition.config
    if config.auth_type.value != "none" and settings.secret(config.secret_env) is None:
        missing.append(config.secret_env)
    return missing


def _setting_present(settings: HarnessSettings, name: str) -> bool:
    value = getattr(settings, name.lower())
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value is not None and str(value) != ""


async def _no_sleep(seconds: float) -> None:
    """Backoff waits on the mocks: the schedule runs, the clock does not."""


@_async_fixture
async def cognigy_pipeline(
    cognigy_settings: HarnessSettings,
    cognigy_live: bool,
    cognigy_audit_log: AuditLog,
) -> AsyncIterator[Pipeline]:
    """A pipeline wired to the mocks (or the live tenant) and the audit log."""
    # A live upstream gets its real backoff; the mocks answer at once.
    sleep = None if cognigy_live else _no_sleep
    async with Pipeline(
        cognigy_settings, audit_log=cognigy_audit_log, sleep=sleep
    ) as pipeline:
        yield pipeline


@pytest.fixture
def cognigy_run(
    cognigy_pipeline: Pipeline, cognigy_integration: IntegrationDir
) -> RunIntegration:
    """`await cognigy_run(payload, **context)`: one execution of the integration."""

    async def run(payload: Any, **context: Any) -> ExecutionReport:
        return await cognigy_pipeline.run(
            cognigy_integration.definition, bot_context(payload, **context)
        )

    return run
