"""One behaviour, two transports: in-process and on a loopback port agree."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.loader import IntegrationDir
from harness.settings import HarnessSettings
from mocks.environment import DEMO_EXTERNAL_SECRET, EXTERNAL_PREFIX, MockEnvironment
from mocks.transport import BackgroundServer

BODY = {"user_id": "u_998877", "query": "account_balance"}
#: The credential the account-balance definition sends in mock runs.
AUTH = {"Authorization": f"Bearer {DEMO_EXTERNAL_SECRET}"}
HOST = "api.external-service.com"


# Drives the mock's mechanics with raw requests, not the harness's client.
@pytest.mark.contract_violations
async def test_the_same_request_gets_the_same_answer_both_ways(
    account_balance: IntegrationDir,
) -> None:
    environment = MockEnvironment([account_balance])
    host = "api.external-service.com"

    with environment.in_process():
        async with httpx.AsyncClient() as client:
            in_process = await client.post(
                f"https://{host}/v1/data", json=BODY, headers=AUTH
            )

    with BackgroundServer(environment.asgi_app()) as server:
        url = f"{server.base_url}{EXTERNAL_PREFIX}/{host}/v1/data"
        async with httpx.AsyncClient() as client:
            on_port = await client.post(url, json=BODY, headers=AUTH)

    assert in_process.status_code == on_port.status_code == 200
    assert in_process.json() == on_port.json()
    assert environment.external().journal.total == 2


async def test_the_platform_on_a_port_issues_tokens(
    account_balance: IntegrationDir,
) -> None:
    environment = MockEnvironment([account_balance])
    with BackgroundServer(environment.asgi_app()) as server:
        settings = environment.port_settings(server.base_url)
        token_url = f"{settings.cognigy_tenant_url}/api/v1/auth/oauth/token"
        async with httpx.AsyncClient() as client:
            good = await client.post(
                token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": "demo-client",
                    "client_secret": "demo-secret",
                },
            )
            bad = await client.post(
                token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": "demo-client",
                    "client_secret": "wrong",
                },
            )
    assert good.status_code == 200
    assert good.json()["access_token"]
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"


# Drives the mock's mechanics with raw requests, not the harness's client.
@pytest.mark.contract_violations
async def test_a_slow_mock_times_out_in_process_too(
    account_balance: IntegrationDir,
) -> None:
    from mocks.faults import parse_fault_spec

    environment = MockEnvironment(
        [account_balance], fault_plan=parse_fault_spec("timeout")
    )
    with environment.in_process():
        async with httpx.AsyncClient() as client:
            try:
                await client.post(
                    "https://api.external-service.com/v1/data", json=BODY, timeout=0.2
                )
            except httpx.ReadTimeout:
                timed_out = True
            else:
                timed_out = False
    assert timed_out


# Drives the mock's mechanics with raw requests, not the harness's client.
@pytest.mark.contract_violations
async def test_every_mock_answers_alike_in_both_transports(
    account_balance: IntegrationDir,
) -> None:
    """Platform, external (a match, a near miss, a fault) and webhook."""
    from mocks.faults import parse_fault_spec

    def requests(settings: HarnessSettings) -> list[tuple[str, str, dict[str, Any]]]:
        tenant = str(settings.cognigy_tenant_url).rstrip("/")
        external = settings.host_overrides.get(HOST, f"https://{HOST}")
        form = {"grant_type": "client_credentials", "client_id": "demo-client"}
        return [
            ("POST", f"{tenant}/api/v1/auth/oauth/token", {"data": form}),
            ("GET", f"{tenant}/api/v1/integrations", {}),
            ("POST", f"{external}/v1/data", {"json": BODY, "headers": AUTH}),
            ("POST", f"{external}/v1/data", {"json": {"query": "x"}, "headers": AUTH}),
            ("GET", f"{external}/v1/other", {"params": {"a": "1"}, "headers": AUTH}),
            ("POST", str(settings.webhook_url), {"content": b"[1]"}),
        ]

    async def answers(settings: HarnessSettings) -> list[tuple[int, Any]]:
        async with httpx.AsyncClient() as client:
            found = []
            for method, url, options in requests(settings):
                response = await client.request(method, url, **options)
                found.append((response.status_code, response.json()))
            environment.external().fault_plan = parse_fault_spec("429:retry-after=3")
            limited = await client.post(
                requests(settings)[2][1], json=BODY, headers=AUTH
            )
            found.append((limited.status_code, limited.headers["retry-after"]))
            return found

    environment = MockEnvironment([account_balance])
    with environment.in_process():
        in_process = await answers(environment.settings)
    with BackgroundServer(environment.asgi_app()) as server:
        on_port = await answers(environment.port_settings(server.base_url))

    assert in_process == on_port
    statuses = [status for status, _ in in_process]
    # The webhook's answer (unsigned event) is whatever its checks say: alike.
    assert statuses[:5] + statuses[6:] == [401, 401, 200, 599, 599, 429]


async def test_the_webhook_receiver_keeps_a_bounded_window_of_events() -> None:
    from mocks.webhook import WebhookMock

    receiver = WebhookMock(max_events=3)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=receiver), base_url="http://mock"
    ) as client:
        for number in range(5):
            await client.post("/events", json={"n": number})

    assert [event["n"] for event in receiver.events] == [2, 3, 4]
    assert receiver.total == 5
