"""Token caching, refresh and single-flight."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from harness.cli import main
from harness.errors import PlatformError
from harness.loader import IntegrationDir
from harness.models import IntegrationDefinition
from harness.pipeline import Pipeline, bot_context
from harness.platform import INTEGRATIONS_PATH, PlatformClient
from harness.tokens import TokenProvider
from mocks.environment import MockEnvironment
from mocks.faults import FaultPlan, Latency

TOKEN_URL = "https://tenant.example.com/api/v1/auth/oauth/token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def provider(client: httpx.AsyncClient, clock: Clock) -> TokenProvider:
    return TokenProvider(
        client,
        TOKEN_URL,
        "cid",
        SecretStr("csecret"),
        "a b",
        leeway_seconds=30,
        clock=clock,
    )


async def test_token_is_cached_until_the_leeway_before_expiry() -> None:
    clock = Clock()
    with respx.mock() as router:
        route = router.post(TOKEN_URL).mock(
            side_effect=[
                httpx.Response(200, json={"access_token": "t1", "expires_in": 100}),
                httpx.Response(200, json={"access_token": "t2", "expires_in": 100}),
            ]
        )
        async with httpx.AsyncClient() as client:
            tokens = provider(client, clock)
            assert (await tokens.get()).get_secret_value() == "t1"
            clock.now += 60
            assert (await tokens.get()).get_secret_value() == "t1"
            clock.now += 15  # within 30 s of expiry
            assert (await tokens.get()).get_secret_value() == "t2"
    assert route.call_count == 2


async def test_concurrent_callers_share_one_fetch() -> None:
    clock = Clock()
    with respx.mock() as router:
        route = router.post(TOKEN_URL).mock(
            return_value=httpx.Response(
                200, json={"access_token": "t", "expires_in": 60}
            )
        )
        async with httpx.AsyncClient() as client:
            tokens = provider(client, clock)
            await asyncio.gather(*(tokens.get() for _ in range(50)))
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("status", "body", "text"),
    [
        (
            401,
            {"error": "invalid_client", "error_description": "bad"},
            "invalid_client",
        ),
        (400, {"error": "invalid_scope", "error_description": "nope"}, "invalid_scope"),
        (200, {"token_type": "Bearer"}, "access_token"),
    ],
)
async def test_token_errors_are_clear_and_hold_no_secret(
    status: int, body: dict[str, str], text: str
) -> None:
    with respx.mock() as router:
        router.post(TOKEN_URL).mock(return_value=httpx.Response(status, json=body))
        async with httpx.AsyncClient() as client:
            with pytest.raises(PlatformError) as caught:
                await provider(client, Clock()).get()
    assert text in str(caught.value)
    assert "csecret" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error", "description"),
    [
        (401, "invalid_client", "client authentication failed"),
        (400, "invalid_scope", "scope not allowed: cognigy:admin"),
    ],
)
async def test_token_endpoint_errors_are_not_retried_and_show_both_fields(
    status: int, error: str, description: str
) -> None:
    body = {"error": error, "error_description": description}
    with respx.mock() as router:
        route = router.post(TOKEN_URL).mock(
            return_value=httpx.Response(status, json=body)
        )
        async with httpx.AsyncClient() as client:
            tokens = provider(client, Clock())
            with pytest.raises(PlatformError) as caught:
                await tokens.get()

    assert route.call_count == 1
    assert str(caught.value) == (
        f"token endpoint answered {status} {error}: {description} (not retried)"
    )
    assert caught.value.status == status


async def test_http_basic_client_authentication_keeps_the_secret_out_of_the_body() -> (
    None
):
    with respx.mock() as router:
        route = router.post(TOKEN_URL).mock(
            return_value=httpx.Response(200, json={"access_token": "t"})
        )
        async with httpx.AsyncClient() as client:
            tokens = TokenProvider(
                client,
                TOKEN_URL,
                "client id+1",
                SecretStr("s3cr:et&"),
                "a b",
                auth_method="client_secret_basic",
            )
            await tokens.get()

    request = route.calls.last.request
    scheme, _, encoded = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded) == b"client+id%2B1:s3cr%3Aet%26"
    form = parse_qs(request.content.decode())
    assert form == {"grant_type": ["client_credentials"], "scope": ["a b"]}


async def test_a_token_shorter_than_the_leeway_is_still_reused() -> None:
    clock = Clock()
    with respx.mock() as router:
        route = router.post(TOKEN_URL).mock(
            return_value=httpx.Response(
                200, json={"access_token": "t", "expires_in": 20}
            )
        )
        async with httpx.AsyncClient() as client:
            tokens = provider(client, clock)  # leeway 30 s > lifetime
            await tokens.get()
            clock.now += 9
            await tokens.get()
            clock.now += 2  # past half the lifetime
            await tokens.get()
    assert route.call_count == 2


async def test_a_401_refreshes_once_and_replays_once_never_more() -> None:
    tenant = "https://tenant.example.com"
    with respx.mock() as router:
        token_route = router.post(TOKEN_URL).mock(
            return_value=httpx.Response(200, json={"access_token": "t"})
        )
        create = router.post(tenant + INTEGRATIONS_PATH).mock(
            return_value=httpx.Response(401, json={"title": "Unauthorized"})
        )
        async with httpx.AsyncClient() as client:
            platform = PlatformClient(client, tenant, provider(client, Clock()))
            with pytest.raises(PlatformError) as caught:
                await platform.register(_definition("loop-check"))

    assert caught.value.status == 401
    assert create.call_count == 2, "the request and exactly one replay"
    assert token_route.call_count == 2, "the first token and one refresh"


def _definition(name: str) -> IntegrationDefinition:
    return IntegrationDefinition.model_validate(
        {
            "name": name,
            "bot_id": "bot_1",
            "config": {"url": "https://api.example.com/x"},
        }
    )


def _renamed(integration: IntegrationDir, name: str) -> IntegrationDefinition:
    return integration.definition.model_copy(update={"name": name})


def slow_platform(mock_env: MockEnvironment) -> None:
    # Every platform answer takes 20 ms, so all 50 executions really are in
    # flight together (in-process, an instant answer would serialize them).
    mock_env.platform.fault_plan = FaultPlan(latency=Latency(fixed_ms=20))


BALANCE = bot_context({"user_id": "u_998877", "query": "account_balance"})


async def test_50_executions_with_an_expired_token_make_one_token_request(
    pipeline: Pipeline, mock_env: MockEnvironment, account_balance: IntegrationDir
) -> None:
    first = await pipeline.run(account_balance.definition, BALANCE)
    assert first.status == "SUCCESS"
    assert mock_env.platform.token_requests == 1

    # An hour later, on both sides: the cached token has expired.
    later = time.monotonic() + 3600
    mock_env.platform.clock = lambda: later
    platform = pipeline.platform
    assert isinstance(platform, PlatformClient)
    platform.tokens.clock = lambda: later
    slow_platform(mock_env)
    reports = await asyncio.gather(
        *(
            pipeline.run(_renamed(account_balance, f"balance-{n}"), BALANCE)
            for n in range(50)
        )
    )

    assert [r.status for r in reports] == ["SUCCESS"] * 50
    assert mock_env.platform.token_requests == 2, "one refresh for all 50"


async def test_50_executions_refused_with_401_refresh_once_and_replay_once_each(
    pipeline: Pipeline, mock_env: MockEnvironment, account_balance: IntegrationDir
) -> None:
    await pipeline.run(account_balance.definition, BALANCE)
    mock_env.platform.tokens.clear()  # the platform revokes every token
    mock_env.platform.journal.clear()
    slow_platform(mock_env)

    reports = await asyncio.gather(
        *(
            pipeline.run(_renamed(account_balance, f"revoked-{n}"), BALANCE)
            for n in range(50)
        )
    )

    assert [r.status for r in reports] == ["SUCCESS"] * 50
    assert mock_env.platform.token_requests == 2
    posts = [
        e for e in mock_env.platform.journal.entries if e.path == INTEGRATIONS_PATH
    ]
    assert len(posts) == 100, "each registration: one refused, one replayed"


def test_the_demo_runs_with_http_basic_client_authentication(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COGNIGY_TOKEN_AUTH_METHOD", "client_secret_basic")
    assert main(["demo", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "SUCCESS"
