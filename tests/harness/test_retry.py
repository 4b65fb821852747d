"""The retry policy: what is retried and how long to wait."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from harness.errors import UpstreamStatusError
from harness.models import IntegrationConfig
from harness.retry import (
    ConnectFailedError,
    ReadTimeoutError,
    RetryableStatusError,
    RetryWait,
    is_retryable,
    parse_retry_after,
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
