"""The retry policy of the external call: what is retried, and how long to wait.

The policy is data (`RetryPolicy` in the definition) plus small functions
tenacity calls: `is_retryable` decides, `RetryWait` waits. A failure is
*transient* when another attempt may succeed (429, 500, 502, 503, 504,
timeouts, connection failures); the policy still refuses a transient failure
when the server asks for a wait above the cap, or when a POST or PATCH may
already have been acted on. POST and PATCH are retried only when the server
says it did not act (429, 503), when nothing was sent (connect errors), or
when the definition turns on an Idempotency-Key.
"""

from __future__ import annotations

import random
import re
import time
from datetime import UTC
from email.utils import parsedate_to_datetime

from tenacity import RetryCallState

from harness.errors import (
    DeadlineExceededError,
    UpstreamConnectionError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from harness.models import IntegrationConfig, Method

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# The server says it did not act on the request: safe to retry any method.
# These are also the statuses whose Retry-After is honoured.
NOT_ACTED_STATUSES = frozenset({429, 503})
NON_IDEMPOTENT = frozenset({Method.POST, Method.PATCH})
# delta-seconds are ASCII digits; a decimal fraction is tolerated.
_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, or None when unusable.

    Accepts delta-seconds (a decimal fraction is tolerated) and every
    HTTP-date form (RFC 1123, RFC 850, asctime). Negative, unparsable or
    missing values give None, which means "fall back to backoff". A date in
    the past gives 0.
    """
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            # asctime dates carry no zone; HTTP-dates are always GMT.
            when = when.replace(tzinfo=UTC)
        moment = when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        # email.utils raises any of these, depending on how the date is wrong.
        return None
    current = time.time() if now is None else now
    return max(0.0, moment - current)


class RetryableStatusError(UpstreamStatusError):
    """A status the policy may retry; carries the server's Retry-After."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after: float | None = None,
        body_excerpt: str | None = None,
    ) -> None:
        super().__init__(message, status=status, body_excerpt=body_excerpt)
        self.retry_after = retry_after


class ConnectFailedError(UpstreamConnectionError):
    """The connection was never established: nothing was sent."""


class ReadTimeoutError(UpstreamTimeoutError):
    """The request was sent but the answer did not come in time."""


class ConnectTimeoutError(UpstreamTimeoutError):
    """No connection in time: nothing was sent."""


def is_transient(error: BaseException) -> bool:
    """Whether another attempt might succeed where this one failed."""
    if isinstance(error, DeadlineExceededError):
        return False
    return isinstance(
        error, RetryableStatusError | UpstreamTimeoutError | UpstreamConnectionError
    )


def refusal(error: BaseException, config: IntegrationConfig) -> str | None:
    """Why the policy refuses to retry a transient failure, or None to retry."""
    if isinstance(error, RetryableStatusError) and error.retry_after is not None:
        cap = config.retry.retry_after_cap_seconds
        if error.retry_after > cap:
            return (
                f"Retry-After of {error.retry_after:g} s is above the cap of "
                f"{cap:g} s (retry.retry_after_cap_seconds)"
            )
    if config.method not in NON_IDEMPOTENT or config.idempotency_key:
        return None
    if isinstance(error, RetryableStatusError):
        acted = error.status not in NOT_ACTED_STATUSES
    else:
        # Nothing was sent when the connection never came up.
        acted = not isinstance(error, ConnectFailedError | ConnectTimeoutError)
    if not acted:
        return None
    return (
        f"a {config.method.value} may already have been acted on; turn on "
        "idempotency_key to retry it"
    )


def is_retryable(error: BaseException, config: IntegrationConfig) -> bool:
    """Whether the policy allows another attempt after this error."""
    return is_transient(error) and refusal(error, config) is None


# One generator for every execution: seeding one per execution costs more
# than the rest of the retry policy.
_JITTER = random.Random()


class RetryWait:
    """Exponential backoff with jitter, overridden by a usable Retry-After."""

    def __init__(self, config: IntegrationConfig, rng: random.Random | None = None):
        self.policy = config.retry
        self.rng = rng or _JITTER

    def backoff(self, attempt: int) -> float:
        """The wait after `attempt` failed attempts, without Retry-After."""
        base = self.policy.wait_min_seconds * 2 ** (attempt - 1)
        base = min(base, self.policy.wait_max_seconds)
        if self.policy.jitter:
            # Up to 25 % more, never past the maximum: callers spread out.
            base += self.rng.uniform(0, base * 0.25)
        return float(min(base, self.policy.wait_max_seconds))

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableStatusError) and error.retry_after is not None:
            return float(error.retry_after)
        return float(self.backoff(state.attempt_number))
