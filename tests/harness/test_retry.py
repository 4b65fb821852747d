"""The retry policy: what is retried and how long to wait."""

from __future__ import annotations

import asyncio
import random
import time
from email.utils import formatdate

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from harness.errors import (
    DeadlineExceededError,
    InvalidResponseError,
    LocalSaturationError,
    UpstreamConnectionError,
    UpstreamStatusError,
)
from harness.models import IntegrationConfig
from harness.retry import (
    ConnectFailedError,
    ConnectTimeoutError,
    ReadTimeoutError,
    RetryableStatusError,
    RetryWait,
    is_retryable,
    parse_retry_after,
    refusal,
)

NOW = 1_800_000_000.0


def config(method: str = "POST", **fields: object) -> IntegrationConfig:
    return IntegrationConfig.model_validate(
        {"url": "https://api.example.com/", "method": method} | fields
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        ("0", 0.0),
        (formatdate(NOW + 7, usegmt=True), 7.0),
        ("Sunday, 06-Nov-94 08:49:37 GMT", 0.0),
        ("Sun Nov  6 08:49:37 1994", 0.0),
        ("-3", None),
        ("soon", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize("status", [429, 503])
def test_post_is_retried_when_the_server_did_not_act(status: int) -> None:
    assert is_retryable(RetryableStatusError("x", status=status), config())


@pytest.mark.parametrize("status", [500, 502, 504])
def test_post_is_not_retried_when_the_server_may_have_acted(status: int) -> None:
    assert not is_retryable(RetryableStatusError("x", status=status), config())
    assert is_retryable(
        RetryableStatusError("x", status=status), config(idempotency_key=True)
    )


def test_get_is_retried_on_every_retryable_status_and_timeouts() -> None:
    get = config("GET")
    for status in (429, 500, 502, 503, 504):
        assert is_retryable(RetryableStatusError("x", status=status), get)
    assert is_retryable(ReadTimeoutError("x"), get)
    assert not is_retryable(ReadTimeoutError("x"), config("POST"))


def test_connect_errors_are_always_retried() -> None:
    assert is_retryable(ConnectFailedError("x"), config("PATCH"))


def test_other_4xx_fail_fast() -> None:
    assert not is_retryable(UpstreamStatusError("x", status=400), config("GET"))


def test_retry_after_above_the_cap_fails_fast() -> None:
    error = RetryableStatusError("x", status=429, retry_after=3600)
    assert not is_retryable(error, config())


def test_backoff_grows_and_stays_within_bounds() -> None:
    wait = RetryWait(config())
    waits = [wait.backoff(n) for n in range(1, 6)]
    assert all(2.0 <= w <= 10.0 for w in waits)
    assert waits[0] < waits[2]
    assert waits[-1] == 10.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" 12 ", 12.0),
        ("1.5", 1.5),
        # RFC 1123, RFC 850 and asctime forms of the same instant, 30 s ahead.
        (formatdate(NOW + 30, usegmt=True), 30.0),
        ("Friday, 15-Jan-27 08:00:30 GMT", 30.0),
        ("Fri Jan 15 08:00:30 2027", 30.0),
        ("", None),
        ("+5", None),
        ("1e999", None),
        ("5 seconds", None),
        ("Fri, 99 Foo 2027 08:00:30 GMT", None),
    ],
)
def test_parse_retry_after_every_form(value: str, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_transient_failures_of_a_get_are_retried_whatever_they_are() -> None:
    get = config("GET")
    for error in (
        ConnectFailedError("x"),
        ConnectTimeoutError("x"),
        ReadTimeoutError("x"),
        UpstreamConnectionError("x"),
    ):
        assert is_retryable(error, get)


@pytest.mark.parametrize(
    "error",
    [
        DeadlineExceededError("x"),
        LocalSaturationError("x"),
        InvalidResponseError("x", status=200),
        UpstreamStatusError("x", status=404),
        asyncio.CancelledError(),
        ValueError("x"),
    ],
)
def test_deadline_saturation_cancellation_and_bad_answers_are_never_retried(
    error: BaseException,
) -> None:
    assert not is_retryable(error, config("GET", idempotency_key=True))


def test_a_reset_post_is_retried_only_with_an_idempotency_key() -> None:
    reset = UpstreamConnectionError("reset")
    assert not is_retryable(reset, config("POST"))
    assert is_retryable(reset, config("POST", idempotency_key=True))
    assert is_retryable(ConnectTimeoutError("x"), config("POST"))


def test_refusal_says_why() -> None:
    capped = RetryableStatusError("x", status=503, retry_after=90)
    assert "above the cap of 60 s" in (refusal(capped, config("GET")) or "")
    acted = RetryableStatusError("x", status=502)
    assert "idempotency_key" in (refusal(acted, config("PATCH")) or "")
    assert refusal(acted, config("PUT")) is None


def test_the_cap_comes_from_the_definition() -> None:
    error = RetryableStatusError("x", status=429, retry_after=90)
    assert is_retryable(error, config(retry={"retry_after_cap_seconds": 120}))


def test_backoff_without_jitter_doubles_up_to_the_maximum() -> None:
    wait = RetryWait(config(retry={"jitter": False, "wait_min_seconds": 1.5}))
    assert [wait.backoff(n) for n in range(1, 6)] == [1.5, 3.0, 6.0, 10.0, 10.0]


def test_jitter_adds_at_most_a_quarter_and_never_passes_the_maximum() -> None:
    wait = RetryWait(config(), rng=random.Random(7))
    for attempt, base in ((1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0)):
        drawn = [wait.backoff(attempt) for _ in range(200)]
        assert min(drawn) >= base
        assert max(drawn) <= min(base * 1.25, 10.0)
    assert len({wait.backoff(1) for _ in range(20)}) > 1, "jitter spreads callers"


@given(st.text())
@example("9" * 400)
@example("Sun, 06 Nov 0000 08:49:37 GMT")
def test_parse_retry_after_never_raises(value: str) -> None:
    seconds = parse_retry_after(value, now=NOW)
    assert seconds is None or seconds >= 0


@given(st.integers(min_value=0, max_value=10**6))
def test_every_http_date_form_gives_the_same_wait(ahead: int) -> None:
    moment = time.gmtime(NOW + ahead)
    forms = (
        formatdate(NOW + ahead, usegmt=True),
        time.strftime("%A, %d-%b-%y %H:%M:%S GMT", moment),
        # asctime pads the day with a space: "Sun Nov  6 08:49:37 1994".
        time.strftime(f"%a %b {moment.tm_mday:2d} %H:%M:%S %Y", moment),
    )
    assert [parse_retry_after(form, now=NOW) for form in forms] == [ahead] * 3
