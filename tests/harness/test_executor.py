"""Step 3 against respx routes: retries, auth, typed errors, timings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from harness.errors import (
    InvalidResponseError,
    SecretMissingError,
    UpstreamStatusError,
)
from harness.executor import Executor
from harness.models import IntegrationConfig
from harness.pipeline import bot_context
from harness.settings import HarnessSettings

URL = "https://api.example.com/v1/data"
KEY = "test-key-123"


def config(**fields: Any) -> IntegrationConfig:
    return IntegrationConfig.model_validate({"url": URL} | fields)


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def executor(sleeps: Sleeps) -> AsyncIterator[Executor]:
    settings = HarnessSettings(external_api_key=SecretStr(KEY))
    async with httpx.AsyncClient() as client:
        yield Executor(client, settings, sleep=sleeps)


@pytest.fixture
def router() -> respx.MockRouter:
    with respx.mock(assert_all_called=False) as mocked:
        yield mocked


OK = httpx.Response(200, json={"data": {"result": 1}})


async def test_503_twice_then_success_takes_three_attempts(
    executor: Executor, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    router.post(URL).mock(side_effect=[httpx.Response(503), httpx.Response(503), OK])

    result = await executor.execute(config(), bot_context({}))

    assert result.ok
    assert [a.outcome for a in result.attempts] == [503, 503, 200]
    assert len(sleeps) == 2
    assert result.latency_ms >= sum(a.latency_ms for a in result.attempts)


async def test_the_last_error_is_the_real_one_not_a_retry_error(
    executor: Executor, router: respx.MockRouter
) -> None:
    router.post(URL).mock(return_value=httpx.Response(503, text="down"))

    result = await executor.execute(config(), bot_context({}))

    assert isinstance(result.error, UpstreamStatusError)
    assert result.error.status == 503
    assert result.error.attempts == 3
    assert "down" in (result.error.body_excerpt or "")


async def test_post_500_is_not_retried_without_an_idempotency_key(
    executor: Executor, router: respx.MockRouter
) -> None:
    route = router.post(URL).mock(return_value=httpx.Response(500))
    result = await executor.execute(config(), bot_context({}))
    assert route.call_count == 1
    assert result.error is not None
    assert result.error.status == 500


async def test_idempotency_key_is_the_same_on_every_attempt(
    executor: Executor, router: respx.MockRouter
) -> None:
    route = router.post(URL).mock(side_effect=[httpx.Response(500), OK])

    result = await executor.execute(config(idempotency_key=True), bot_context({}))

    assert result.ok
    keys = {call.request.headers["Idempotency-Key"] for call in route.calls}
    assert len(keys) == 1
    assert route.call_count == 2


async def test_retry_after_is_waited_instead_of_backoff(
    executor: Executor, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    limited = httpx.Response(429, headers={"Retry-After": "4"})
    router.post(URL).mock(side_effect=[limited, OK])
    await executor.execute(config(), bot_context({}))
    assert sleeps == [4.0]


async def test_html_502_is_a_typed_error_keeping_the_status(
    executor: Executor, router: respx.MockRouter
) -> None:
    page = httpx.Response(502, html="<html>Bad Gateway</html>")
    router.get(URL).mock(return_value=page)
    result = await executor.execute(config(method="GET"), bot_context({}))
    assert result.error is not None
    assert result.error.status == 502
    assert len(result.attempts) == 3


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b""),
        httpx.Response(204),
        httpx.Response(200, text="plain"),
        httpx.Response(
            200, content=b"{bad", headers={"content-type": "application/json"}
        ),
    ],
)
async def test_undecodable_success_is_an_invalid_response(
    executor: Executor, router: respx.MockRouter, response: httpx.Response
) -> None:
    router.post(URL).mock(return_value=response)
    result = await executor.execute(config(), bot_context({}))
    assert isinstance(result.error, InvalidResponseError)
    assert result.error.status == response.status_code
    assert result.error.message


@pytest.mark.parametrize(
    ("fields", "header", "expected"),
    [
        ({}, "Authorization", f"Bearer {KEY}"),
        ({"auth_type": "api_key", "auth_header_name": "X-API-Key"}, "X-API-Key", KEY),
        (
            {"auth_type": "basic", "username": "bot"},
            "Authorization",
            "Basic " + __import__("base64").b64encode(f"bot:{KEY}".encode()).decode(),
        ),
    ],
)
async def test_credentials_follow_auth_type(
    executor: Executor,
    router: respx.MockRouter,
    fields: dict[str, Any],
    header: str,
    expected: str,
) -> None:
    route = router.post(URL).mock(return_value=OK)
    await executor.execute(config(**fields), bot_context({}))
    assert route.calls.last.request.headers[header] == expected


async def test_auth_none_sends_no_credentials(
    executor: Executor, router: respx.MockRouter
) -> None:
    route = router.post(URL).mock(return_value=OK)
    await executor.execute(config(auth_type="none"), bot_context({}))
    assert "authorization" not in route.calls.last.request.headers


async def test_missing_secret_stops_before_anything_is_sent(
    router: respx.MockRouter,
) -> None:
    route = router.post(URL).mock(return_value=OK)
    async with httpx.AsyncClient() as client:
        executor = Executor(client, HarnessSettings())
        result = await executor.execute(
            config(secret_env="NOT_SET_ANYWHERE_KEY"), bot_context({})
        )
    assert isinstance(result.error, SecretMissingError)
    assert "NOT_SET_ANYWHERE_KEY" in result.error.message
    assert route.call_count == 0, "never Bearer None on the wire"


async def test_timeouts_are_typed_and_say_what_timed_out(
    executor: Executor, router: respx.MockRouter
) -> None:
    router.get(URL).mock(side_effect=httpx.ReadTimeout(""))
    result = await executor.execute(config(method="GET"), bot_context({}))
    assert result.error is not None
    assert result.error.kind == "timeout"
    assert URL in result.error.message
    assert [a.outcome for a in result.attempts] == ["timeout"] * 3
