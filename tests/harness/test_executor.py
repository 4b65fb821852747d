"""Step 3 against respx routes: retries, auth, typed errors, timings."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr
from tenacity import RetryError

from harness.errors import (
    DeadlineExceededError,
    InvalidResponseError,
    LocalSaturationError,
    SecretMissingError,
    UpstreamError,
    UpstreamStatusError,
)
from harness.executor import Executor, pooled_client
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
JSON_TYPE = {"content-type": "application/json"}


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


# --- retries: configurable, never a RetryError ---------------------------------


def no_jitter(**retry: Any) -> dict[str, Any]:
    return {"retry": {"jitter": False} | retry}


async def test_attempts_and_backoff_come_from_the_definition(
    executor: Executor, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = router.get(URL).mock(return_value=httpx.Response(503))
    fields = no_jitter(attempts=5, wait_min_seconds=0.5, wait_max_seconds=3)

    result = await executor.execute(config(method="GET", **fields), bot_context({}))

    assert route.call_count == 5
    assert sleeps == [0.5, 1.0, 2.0, 3.0]
    assert result.error is not None
    assert result.error.attempts == 5


async def test_default_backoff_is_2_to_10_seconds_with_jitter(
    executor: Executor, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    router.get(URL).mock(return_value=httpx.Response(503))
    await executor.execute(config(method="GET"), bot_context({}))
    assert len(sleeps) == 2
    assert 2.0 <= sleeps[0] <= 2.5
    assert 4.0 <= sleeps[1] <= 5.0


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503, text="down"),
        httpx.ReadTimeout(""),
        httpx.ConnectError(""),
        httpx.RemoteProtocolError(""),
    ],
)
async def test_after_the_last_attempt_the_error_is_typed_never_a_retry_error(
    executor: Executor, router: respx.MockRouter, failure: Any
) -> None:
    router.get(URL).mock(side_effect=[failure] * 3)

    result = await executor.execute(config(method="GET"), bot_context({}))

    assert isinstance(result.error, UpstreamError)
    assert not isinstance(result.error, RetryError)
    assert result.error.attempts == 3
    assert result.error.message
    assert "RetryError" not in result.error.message


async def test_other_4xx_fail_fast_with_the_body_excerpt(
    executor: Executor, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = router.get(URL).mock(
        return_value=httpx.Response(404, json={"detail": "no such account"})
    )
    result = await executor.execute(config(method="GET"), bot_context({}))
    assert route.call_count == 1
    assert sleeps == []
    assert isinstance(result.error, UpstreamStatusError)
    assert result.error.status == 404
    assert "no such account" in (result.error.body_excerpt or "")


# --- Retry-After ----------------------------------------------------------------


async def test_retry_after_as_an_http_date_is_waited(
    executor: Executor, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    when = formatdate(time.time() + 30, usegmt=True)
    busy = httpx.Response(503, headers={"Retry-After": when})
    router.post(URL).mock(side_effect=[busy, OK])

    result = await executor.execute(config(), bot_context({}))

    assert result.ok
    assert len(sleeps) == 1
    assert 28.0 <= sleeps[0] <= 30.0


@pytest.mark.parametrize("value", ["-5", "soon", "", "Fri, 99 Foo 2026 00:00:00 GMT"])
async def test_unusable_retry_after_falls_back_to_backoff(
    executor: Executor, router: respx.MockRouter, sleeps: Sleeps, value: str
) -> None:
    limited = httpx.Response(429, headers={"Retry-After": value})
    router.post(URL).mock(side_effect=[limited, OK])
    result = await executor.execute(config(**no_jitter()), bot_context({}))
    assert result.ok
    assert sleeps == [2.0]


async def test_retry_after_above_the_cap_fails_fast_without_sleeping(
    executor: Executor, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    limited = httpx.Response(429, headers={"Retry-After": "61"})
    route = router.post(URL).mock(side_effect=[limited, OK])

    result = await executor.execute(config(), bot_context({}))

    assert route.call_count == 1
    assert sleeps == []
    assert result.error is not None
    assert result.error.status == 429
    assert "above the cap of 60 s" in result.error.message


async def test_the_cap_is_configurable(
    executor: Executor, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    limited = httpx.Response(429, headers={"Retry-After": "61"})
    router.post(URL).mock(side_effect=[limited, OK])
    fields = {"retry": {"retry_after_cap_seconds": 120}}
    result = await executor.execute(config(**fields), bot_context({}))
    assert result.ok
    assert sleeps == [61.0]


async def test_retry_after_is_only_honoured_on_429_and_503(
    executor: Executor, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    failing = httpx.Response(500, headers={"Retry-After": "30"})
    router.get(URL).mock(side_effect=[failing, OK])
    await executor.execute(config(method="GET", **no_jitter()), bot_context({}))
    assert sleeps == [2.0]


# --- POST and PATCH -------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("status", [500, 502, 504])
async def test_non_idempotent_calls_say_why_they_were_not_retried(
    executor: Executor, router: respx.MockRouter, method: str, status: int
) -> None:
    route = router.route(method=method, url=URL).mock(
        return_value=httpx.Response(status)
    )
    result = await executor.execute(config(method=method), bot_context({}))
    assert route.call_count == 1
    assert result.error is not None
    assert result.error.status == status
    assert "idempotency_key" in result.error.message


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (httpx.ConnectError("refused"), "connection_error"),
        (httpx.ConnectTimeout(""), "timeout"),
    ],
)
async def test_post_is_retried_when_the_connection_never_came_up(
    executor: Executor, router: respx.MockRouter, failure: Exception, kind: str
) -> None:
    route = router.post(URL).mock(side_effect=[failure, OK])
    result = await executor.execute(config(), bot_context({}))
    assert result.ok
    assert route.call_count == 2
    assert [a.outcome for a in result.attempts] == [kind, 200]


@pytest.mark.parametrize("failure", [httpx.ReadTimeout(""), httpx.ReadError("")])
async def test_post_after_the_request_went_out_needs_an_idempotency_key(
    executor: Executor, router: respx.MockRouter, failure: Exception
) -> None:
    plain = router.post(URL).mock(side_effect=[failure, OK])
    result = await executor.execute(config(), bot_context({}))
    assert not result.ok
    assert plain.call_count == 1

    plain.reset()
    plain.mock(side_effect=[failure, failure, OK])
    result = await executor.execute(config(idempotency_key=True), bot_context({}))
    assert result.ok
    assert len({c.request.headers["Idempotency-Key"] for c in plain.calls}) == 1


async def test_without_the_option_no_idempotency_key_is_sent(
    executor: Executor, router: respx.MockRouter
) -> None:
    route = router.post(URL).mock(return_value=OK)
    await executor.execute(config(), bot_context({}))
    assert "idempotency-key" not in route.calls.last.request.headers


# --- redirects ------------------------------------------------------------------


PAYLOAD_BODY = {"body": {"$input": "bot.payload"}}


def redirect(status: int, location: str) -> httpx.Response:
    return httpx.Response(status, headers={"Location": location}, text="moved")


@pytest.mark.parametrize(
    ("status", "method", "body"),
    [
        (307, "POST", b'{"q":1}'),
        (308, "POST", b'{"q":1}'),
        (303, "GET", b""),
        (302, "GET", b""),
    ],
)
async def test_a_followed_redirect_keeps_or_drops_the_method_like_http_says(
    executor: Executor,
    router: respx.MockRouter,
    status: int,
    method: str,
    body: bytes,
) -> None:
    router.post(URL).mock(return_value=redirect(status, "/v2/data"))
    moved = router.route(url="https://api.example.com/v2/data").mock(return_value=OK)

    result = await executor.execute(
        config(max_redirects=2, request_mapping=PAYLOAD_BODY), bot_context({"q": 1})
    )

    assert result.ok
    assert [a.outcome for a in result.attempts] == [200]
    sent = moved.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {KEY}", "same origin"
    assert sent.method == method
    assert sent.content.replace(b" ", b"") == body


async def test_credentials_are_dropped_when_a_redirect_leaves_the_origin(
    executor: Executor, router: respx.MockRouter
) -> None:
    router.get(URL).mock(return_value=redirect(302, "https://cdn.example.net/d"))
    other = router.get("https://cdn.example.net/d").mock(return_value=OK)
    result = await executor.execute(
        config(method="GET", max_redirects=1), bot_context({})
    )
    assert result.ok
    assert "authorization" not in other.calls.last.request.headers


ELSEWHERE = "https://api.example.com/a"


@pytest.mark.parametrize(
    ("answers", "max_redirects", "reason"),
    [
        ([redirect(302, "/a?sig=signed")], 0, "config.max_redirects is 0"),
        ([redirect(302, URL)], 2, "more than 2 redirect(s)"),
        ([httpx.Response(301)], 1, "without a Location"),
        (
            [redirect(301, ELSEWHERE), redirect(302, "http://api.example.com/b")],
            5,
            "only https:// targets are followed",
        ),
    ],
)
async def test_a_refused_redirect_is_an_error_and_never_extracted(
    executor: Executor,
    router: respx.MockRouter,
    answers: list[httpx.Response],
    max_redirects: int,
    reason: str,
) -> None:
    router.get(URL).mock(return_value=answers[0])
    router.get(ELSEWHERE).mock(side_effect=[*answers[1:], OK])
    plain = router.get("http://api.example.com/b").mock(return_value=OK)

    result = await executor.execute(
        config(method="GET", max_redirects=max_redirects), bot_context({})
    )

    assert isinstance(result.error, InvalidResponseError)
    assert result.error.status in (301, 302)
    # Sent and answered: the refused redirect is one recorded attempt.
    assert [a.outcome for a in result.attempts] == [result.error.status]
    assert reason in result.error.message
    assert "signed" not in result.error.message
    assert result.body is None
    assert plain.call_count == 0


# --- bodies and messages --------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "status"),
    [
        (httpx.Response(502, html="<html><h1>502 Bad Gateway</h1></html>"), 502),
        (httpx.Response(200, content=b'{"data": {"res'), 200),
        (httpx.Response(200, text="[" * 100_000, headers=JSON_TYPE), 200),
        (httpx.Response(200, content=b"\xff\xfe{", headers=JSON_TYPE), 200),
        (
            httpx.Response(201, text="<html/>", headers={"content-type": "text/html"}),
            201,
        ),
    ],
)
async def test_bodies_that_are_not_json_never_crash_and_keep_the_status(
    executor: Executor,
    router: respx.MockRouter,
    response: httpx.Response,
    status: int,
) -> None:
    router.get(URL).mock(return_value=response)
    result = await executor.execute(
        config(method="GET", retry={"attempts": 1}), bot_context({})
    )
    assert isinstance(result.error, UpstreamError)
    assert result.error.status == status
    assert result.error.message


async def test_the_html_502_page_is_kept_as_a_short_excerpt(
    executor: Executor, router: respx.MockRouter
) -> None:
    page = "<html><h1>502 Bad Gateway</h1>" + "x" * 5000 + "</html>"
    router.get(URL).mock(return_value=httpx.Response(502, html=page))
    result = await executor.execute(config(method="GET"), bot_context({}))
    assert isinstance(result.error, UpstreamStatusError)
    excerpt = result.error.body_excerpt or ""
    assert "502 Bad Gateway" in excerpt
    assert len(excerpt) <= 200


async def test_an_echoed_secret_is_masked_in_messages_and_excerpts(
    executor: Executor, router: respx.MockRouter
) -> None:
    echo = httpx.Response(401, text=f"bad token Bearer {KEY} for {KEY}")
    router.post(URL).mock(return_value=echo)
    result = await executor.execute(config(), bot_context({}))
    assert result.error is not None
    document = json.dumps(result.error.to_dict())
    assert KEY not in document
    assert "***" in document


async def test_connection_errors_with_empty_text_still_say_what_failed(
    executor: Executor, router: respx.MockRouter
) -> None:
    router.get(URL).mock(side_effect=httpx.ConnectError(""))
    result = await executor.execute(config(method="GET"), bot_context({}))
    assert result.error is not None
    assert result.error.kind == "connection_error"
    assert URL in result.error.message
    assert "ConnectError" in result.error.message


# --- timing ---------------------------------------------------------------------


async def test_each_attempt_and_the_total_are_measured(
    router: respx.MockRouter,
) -> None:
    async def slow_ok(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.03)
        return OK

    async def short_sleep(seconds: float) -> None:
        await asyncio.sleep(0.05)

    router.post(URL).mock(side_effect=[httpx.Response(503), slow_ok])
    settings = HarnessSettings(external_api_key=SecretStr(KEY))
    async with httpx.AsyncClient() as client:
        result = await Executor(client, settings, sleep=short_sleep).execute(
            config(), bot_context({})
        )

    first, second = result.attempts
    assert second.latency_ms >= 30
    assert second.started_ms >= first.started_ms + first.latency_ms + 50
    assert result.latency_ms >= second.started_ms + second.latency_ms
    assert result.status_code == 200


async def hang(request: httpx.Request) -> httpx.Response:
    """An upstream that never answers and ignores httpx's own timeouts."""
    await asyncio.sleep(30)
    return OK


async def test_timeout_seconds_bounds_the_whole_attempt(
    executor: Executor, router: respx.MockRouter
) -> None:
    router.get(URL).mock(side_effect=hang)
    began = time.monotonic()
    result = await executor.execute(
        config(method="GET", timeout_seconds=1, retry={"attempts": 1}),
        bot_context({}),
    )
    assert time.monotonic() - began < 5
    assert result.error is not None
    assert result.error.kind == "timeout"
    assert "within 1 s" in result.error.message


# --- deadline and cancellation --------------------------------------------------


async def test_the_deadline_stops_retries_before_a_wait_that_would_pass_it(
    executor: Executor, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = router.post(URL).mock(return_value=httpx.Response(503))
    result = await executor.execute(
        config(deadline_seconds=1.5, **no_jitter()), bot_context({})
    )
    assert route.call_count == 1
    assert sleeps == []
    assert result.error is not None
    assert result.error.status == 503
    assert "deadline of 1.5 s" in result.error.message


async def test_the_deadline_cuts_an_attempt_short(
    executor: Executor, router: respx.MockRouter
) -> None:
    router.get(URL).mock(side_effect=hang)
    began = time.monotonic()
    result = await executor.execute(
        config(method="GET", deadline_seconds=0.2), bot_context({})
    )
    assert time.monotonic() - began < 2
    assert isinstance(result.error, DeadlineExceededError)
    assert result.error.kind == "deadline_exceeded"
    assert [a.outcome for a in result.attempts] == ["deadline_exceeded"]


async def test_cancellation_during_an_attempt_propagates_and_is_not_retried(
    executor: Executor, router: respx.MockRouter
) -> None:
    sent: list[httpx.Request] = []
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        started.set()
        await asyncio.sleep(30)
        return OK

    router.get(URL).mock(side_effect=hang)
    task = asyncio.create_task(executor.execute(config(method="GET"), bot_context({})))
    await started.wait()
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    assert len(sent) == 1, "cancellation is never retried"


async def test_cancellation_during_a_backoff_wait_propagates(
    router: respx.MockRouter,
) -> None:
    waiting = asyncio.Event()

    async def forever(seconds: float) -> None:
        waiting.set()
        await asyncio.Event().wait()

    route = router.get(URL).mock(return_value=httpx.Response(503))
    settings = HarnessSettings(external_api_key=SecretStr(KEY))
    async with httpx.AsyncClient() as client:
        executor = Executor(client, settings, sleep=forever)
        task = asyncio.create_task(
            executor.execute(config(method="GET"), bot_context({}))
        )
        await waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert route.call_count == 1


# --- the pool -------------------------------------------------------------------


async def test_concurrency_beyond_the_pool_waits_for_a_slot(
    router: respx.MockRouter,
) -> None:
    in_flight, peak = 0, 0

    async def counted(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return OK

    router.post(URL).mock(side_effect=counted)
    settings = HarnessSettings(external_api_key=SecretStr(KEY), max_connections=2)
    async with pooled_client(settings) as client:
        executor = Executor(client, settings)
        results = await asyncio.gather(
            *(executor.execute(config(), bot_context({})) for _ in range(8))
        )
    assert all(r.ok for r in results)
    assert peak == 2


async def test_a_pool_wait_timeout_is_local_saturation_not_upstream(
    router: respx.MockRouter,
) -> None:
    async def busy(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.5)
        return OK

    route = router.post(URL).mock(side_effect=busy)
    settings = HarnessSettings(
        external_api_key=SecretStr(KEY), max_connections=1, pool_timeout_seconds=0.05
    )
    async with pooled_client(settings) as client:
        executor = Executor(client, settings)
        first, second = await asyncio.gather(
            executor.execute(config(), bot_context({})),
            executor.execute(config(), bot_context({})),
        )
    assert first.ok
    assert isinstance(second.error, LocalSaturationError)
    assert second.error.kind == "local_saturation"
    assert "nothing was sent" in second.error.message
    assert [a.outcome for a in second.attempts] == ["local_saturation"]
    assert route.call_count == 1


async def test_the_aiohttp_transport_is_intercepted_by_respx_using_httpx() -> None:
    settings = HarnessSettings(
        external_api_key=SecretStr(KEY), http_transport="aiohttp"
    )
    with respx.mock(using="httpx") as mocked:
        route = mocked.post(URL).mock(side_effect=[httpx.Response(503), OK])
        async with pooled_client(settings) as client:
            executor = Executor(client, settings, sleep=Sleeps())
            result = await executor.execute(config(), bot_context({}))
    assert result.ok
    assert result.body == {"data": {"result": 1}}
    assert route.call_count == 2


async def test_one_info_line_per_attempt_and_per_retry_without_secrets(
    executor: Executor,
    router: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    router.post(URL).mock(side_effect=[httpx.Response(503), OK])
    with caplog.at_level("INFO", logger="harness.executor"):
        await executor.execute(config(**no_jitter()), bot_context({}))
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith(f"POST {URL} -> 503 (attempt 1")
    assert lines[1] == f"POST {URL}: attempt 1 of 3 failed (503), retrying in 2.00 s"
    assert lines[2].startswith(f"POST {URL} -> 200 (attempt 2")
    assert KEY not in caplog.text


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_a_post_the_server_hung_up_on_is_not_sent_again(transport: str) -> None:
    # A real loopback server that reads the request, then closes without
    # answering: the server may have acted, whatever the transport calls it.
    received = 0

    async def hang_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal received
        await reader.readuntil(b"\r\n\r\n")
        received += 1
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = HarnessSettings(
        external_api_key=SecretStr(KEY),
        http_transport=transport,
        host_overrides={"api.example.com": f"http://127.0.0.1:{port}"},
        allowed_private_networks=["127.0.0.0/8"],
    )
    async with server, pooled_client(settings) as client:
        executor = Executor(client, settings, sleep=Sleeps())
        result = await executor.execute(config(), bot_context({}))

    assert received == 1, result.error
    assert result.error is not None
    assert result.error.kind == "connection_error"
    assert "idempotency_key" in result.error.message
