"""The mock Cognigy platform (integrations-v1) is stateful like the real one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mocks.cognigy import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    INTEGRATIONS_PATH,
    TOKEN_PATH,
    CognigyMock,
    RateLimit,
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def platform(clock: Clock) -> CognigyMock:
    return CognigyMock(
        expires_in=60, foreign_bots=frozenset({"bot_elsewhere"}), clock=clock
    )


@pytest.fixture
async def api(platform: CognigyMock) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=platform)
    base = "https://tenant.cognigy.invalid"
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        yield client


def credentials(**changes: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
    }
    form.update(changes)
    return form


async def token(api: httpx.AsyncClient, **changes: str) -> dict[str, str]:
    response = await api.post(TOKEN_PATH, data=credentials(**changes))
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def definition(name: str = "account-balance", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "bot_id": "bot_banking_assistant",
        "config": {"url": "https://api.external-service.com/v1/data"},
    }
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone"}, 401, "invalid_client"),
        ({"scope": "cognigy:admin"}, 400, "invalid_scope"),
    ],
)
async def test_the_token_endpoint_refuses(
    api: httpx.AsyncClient, changes: dict[str, str], status: int, error: str
) -> None:
    response = await api.post(TOKEN_PATH, data=credentials(**changes))
    assert response.status_code == status
    assert response.json()["error"] == error


async def test_integrations_are_created_read_listed_and_deleted(
    api: httpx.AsyncClient,
) -> None:
    auth = await token(api)

    created = await api.post(INTEGRATIONS_PATH, json=definition(), headers=auth)
    assert created.status_code == 201
    stored = created.json()
    assert stored["id"].startswith("int_")
    assert stored["created_at"].endswith("Z")
    path = f"{INTEGRATIONS_PATH}/{stored['id']}"

    assert (await api.get(path, headers=auth)).json() == stored
    listed = await api.get(
        INTEGRATIONS_PATH, params={"bot_id": "bot_banking_assistant"}, headers=auth
    )
    assert listed.json() == {"items": [stored], "total": 1}
    assert (await api.delete(path, headers=auth)).status_code == 204
    assert (await api.get(path, headers=auth)).status_code == 404


async def test_a_duplicate_name_for_the_bot_is_a_conflict(
    api: httpx.AsyncClient,
) -> None:
    auth = await token(api)
    await api.post(INTEGRATIONS_PATH, json=definition(), headers=auth)

    again = await api.post(INTEGRATIONS_PATH, json=definition(), headers=auth)
    other_bot = await api.post(
        INTEGRATIONS_PATH, json=definition(bot_id="bot_other"), headers=auth
    )

    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert other_bot.status_code == 201


async def test_a_bot_of_another_workspace_is_forbidden(api: httpx.AsyncClient) -> None:
    auth = await token(api)
    response = await api.post(
        INTEGRATIONS_PATH, json=definition(bot_id="bot_elsewhere"), headers=auth
    )
    assert response.status_code == 403
    assert "another workspace" in response.json()["detail"]


async def test_an_invalid_definition_names_each_field(api: httpx.AsyncClient) -> None:
    auth = await token(api)
    body = definition(name="x", config={"url": "http://plain.example.com"})

    response = await api.post(INTEGRATIONS_PATH, json=body, headers=auth)

    assert response.status_code == 400
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys()
    fields = {error["field"] for error in problem["errors"]}
    assert {"name", "config.url"} <= fields


async def test_tokens_expire(api: httpx.AsyncClient, clock: Clock) -> None:
    auth = await token(api)
    assert (await api.get(INTEGRATIONS_PATH, headers=auth)).status_code == 200

    clock.now += 61

    expired = await api.get(INTEGRATIONS_PATH, headers=auth)
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


async def test_an_unknown_token_is_unauthorized(api: httpx.AsyncClient) -> None:
    response = await api.get(
        INTEGRATIONS_PATH, headers={"Authorization": "Bearer made-up"}
    )
    assert response.status_code == 401


async def test_a_token_without_the_scope_is_forbidden(api: httpx.AsyncClient) -> None:
    auth = await token(api, scope="cognigy:platform:read")

    read = await api.get(INTEGRATIONS_PATH, headers=auth)
    write = await api.post(INTEGRATIONS_PATH, json=definition(), headers=auth)

    assert read.status_code == 200
    assert write.status_code == 403
    assert "cognigy:integrations:write" in write.json()["detail"]


async def test_rate_limiting_answers_429_with_retry_after(clock: Clock) -> None:
    platform = CognigyMock(rate_limit=RateLimit.parse("2/10"), clock=clock)
    transport = httpx.ASGITransport(app=platform)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
        statuses = [(await api.get(INTEGRATIONS_PATH)).status_code for _ in range(3)]
        limited = await api.get(INTEGRATIONS_PATH)
        clock.now += 10
        later = await api.get(INTEGRATIONS_PATH)

    assert statuses == [401, 401, 429]
    assert limited.headers["retry-after"] == "10"
    assert later.status_code == 401, "the window moved on"


@pytest.mark.parametrize("spec", ["x/10", "5/y", "5/0", "0/10"])
def test_a_bad_rate_limit_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="N/SECONDS"):
        RateLimit.parse(spec)


async def test_the_journal_masks_secrets(
    api: httpx.AsyncClient, platform: CognigyMock
) -> None:
    auth = await token(api)
    await api.get(INTEGRATIONS_PATH, headers=auth)

    posted, listed = platform.journal.entries
    assert DEMO_CLIENT_SECRET not in str(posted.body)
    assert "client_secret=***" in posted.body
    assert listed.headers["authorization"] == "***"
    assert (posted.status, listed.status) == (200, 200)
