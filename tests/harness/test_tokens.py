"""Token caching, refresh and single-flight."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx
from pydantic import SecretStr

from harness.errors import PlatformError
from harness.tokens import TokenProvider

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
