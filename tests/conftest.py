"""Shared fixtures of the project's own tests."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from contracts.guard import EnvironmentGuards, guard_environment
from harness.audit import AuditLog
from harness.loader import IntegrationDir, load_integration
from harness.pipeline import Pipeline
from harness.settings import HarnessSettings
from mocks.environment import MockEnvironment

# pytester runs small suites in-process to test the harness's own pytest plugin.
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
INTEGRATIONS = ROOT / "integrations"
#: The `cognigy-harness` console script, run by this interpreter (subprocess).
CLI = [
    sys.executable,
    "-c",
    "import sys; from harness.cli import main; sys.exit(main())",
]

# Property tests: `fast` (the default) keeps `make test` quick; `make test-deep`
# sets HYPOTHESIS_PROFILE=deep. No deadline: the machines are shared and
# noisy, and speed is measured by benchmarks, not by tests. The autouse
# environment fixture below is safe to share between examples.
_PROPERTY_CHECKS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture],
}
settings.register_profile("fast", max_examples=40, **_PROPERTY_CHECKS)
settings.register_profile("deep", max_examples=1500, **_PROPERTY_CHECKS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


async def no_sleep(seconds: float) -> None:
    """Backoff waits in tests: recorded, not slept."""


@pytest.fixture(autouse=True)
def _every_mock_environment_guarded(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Consumer side: each `MockEnvironment` a test builds holds every request
    to the contracts; a request they do not allow fails the test that sent it.

    A test that sends such requests on purpose is marked `contract_violations`.
    """
    if request.node.get_closest_marker("contract_violations"):
        yield
        return
    created: list[EnvironmentGuards] = []
    build = MockEnvironment.__init__

    def guarded(self: MockEnvironment, *args: Any, **kwargs: Any) -> None:
        build(self, *args, **kwargs)
        created.append(guard_environment(self))

    monkeypatch.setattr(MockEnvironment, "__init__", guarded)
    yield
    for guards in created:
        guards.assert_clean()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The developer's own .env or exported credentials never leak into tests.
    for name in (
        "COGNIGY_TENANT_URL",
        "COGNIGY_CLIENT_ID",
        "COGNIGY_CLIENT_SECRET",
        "EXTERNAL_API_KEY",
        "WEBHOOK_URL",
        "AUDIT_LOG_PATH",
        "COGNIGY_PLATFORM",
        "COGNIGY_API_URL",
        "COGNIGY_API_KEY",
        "COGNIGY_PROJECT_ID",
        "COGNIGY_FLOW_ID",
        "COGNIGY_NODE_TIMEOUT_CAP_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def account_balance() -> IntegrationDir:
    return load_integration(INTEGRATIONS / "account-balance")


@pytest.fixture
def weather_forecast() -> IntegrationDir:
    return load_integration(INTEGRATIONS / "weather-forecast")


@pytest.fixture
def order_status() -> IntegrationDir:
    return load_integration(INTEGRATIONS / "order-status")


@pytest.fixture
def cognigy_ai_env(
    order_status: IntegrationDir, account_balance: IntegrationDir
) -> Iterator[MockEnvironment]:
    """The mocks, with settings on profile `cognigy-ai-v2`."""
    settings = HarnessSettings(cognigy_platform="cognigy-ai-v2")
    environment = MockEnvironment([order_status, account_balance], settings)
    with environment.in_process():
        yield environment


@pytest.fixture
async def cognigy_ai_pipeline(
    cognigy_ai_env: MockEnvironment, audit_log: AuditLog
) -> AsyncIterator[Pipeline]:
    async with Pipeline(
        cognigy_ai_env.settings, audit_log=audit_log, sleep=no_sleep
    ) as p:
        yield p


@pytest.fixture
def mock_env(
    account_balance: IntegrationDir, weather_forecast: IntegrationDir
) -> Iterator[MockEnvironment]:
    environment = MockEnvironment([account_balance, weather_forecast])
    with environment.in_process():
        yield environment


@pytest.fixture
def audit_log(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl")


@pytest.fixture
async def pipeline(
    mock_env: MockEnvironment, audit_log: AuditLog
) -> AsyncIterator[Pipeline]:
    async with Pipeline(mock_env.settings, audit_log=audit_log, sleep=no_sleep) as p:
        yield p
