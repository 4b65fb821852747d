"""Step 3: call the external API with retries, measuring every attempt.

One `Executor` serves a whole pipeline over one pooled `httpx.AsyncClient`.
Each execution retries with the definition's policy (`harness.retry`), times
every attempt and the whole execution on a monotonic clock, and ends with
either the parsed JSON body or the real, typed error of the last attempt.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt

from harness.errors import (
    DeadlineExceededError,
    HarnessError,
    InvalidResponseError,
    LocalSaturationError,
    SecretMissingError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamStatusError,
)
from harness.mapping import RequestSpec, build_request, join_path
from harness.models import AuthType, IntegrationConfig, header_problem
from harness.netguard import guarded_transport
from harness.retry import (
    NOT_ACTED_STATUSES,
    RETRYABLE_STATUSES,
    ConnectFailedError,
    ConnectTimeoutError,
    ReadTimeoutError,
    RetryableStatusError,
    RetryWait,
    is_transient,
    parse_retry_after,
    refusal,
)
from harness.settings import HarnessSettings

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

#: Statuses that carry a Location to follow (when the definition allows it).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_EXCERPT = 200
_BACKSTOP_SLACK_SECONDS = 0.05
_MASK = "***"


async def backoff_sleep(seconds: float) -> None:
    """How the executor waits between attempts (tests patch this name)."""
    await asyncio.sleep(seconds)


async def _late_bound_sleep(seconds: float) -> None:
    await backoff_sleep(seconds)


@dataclass(frozen=True)
class AttemptOutcome:
    """One attempt: its status code or error type, when it began, how long it took.

    `started_ms` counts from the start of the execution, so the waits between
    attempts (backoff, Retry-After) can be read off the outcomes.
    """

    outcome: int | str
    latency_ms: float
    started_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "started_ms": round(self.started_ms, 3),
            "latency_ms": round(self.latency_ms, 3),
        }


@dataclass
class ExecutionResult:
    """What the external call gave: parsed body or a typed error, and timings."""

    status_code: int | None
    body: Any
    latency_ms: float
    attempts: list[AttemptOutcome] = field(default_factory=list)
    error: HarnessError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def pooled_client(settings: HarnessSettings) -> httpx.AsyncClient:
    """The one pooled client a pipeline owns, on the configured transport.

    Its transport refuses non-public addresses the settings do not allow
    (`harness.netguard`).
    """
    limits = httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_connections,
    )
    return httpx.AsyncClient(transport=guarded_transport(settings, limits))


def apply_host_override(url: str, overrides: Mapping[str, str]) -> str:
    """Send a definition's https URL to the loopback base URL mapped to its host."""
    parts = urlsplit(url)
    base = overrides.get(parts.hostname or "")
    if base is None:
        return url
    target = urlsplit(base.rstrip("/"))
    if target.scheme == "http" and target.hostname not in (
        "127.0.0.1",
        "localhost",
        "::1",
    ):
        raise HarnessError(f"host override {base!r}: plain http only for loopback")
    return urlunsplit(
        (
            target.scheme,
            target.netloc,
            join_path(target.path, parts.path),
            parts.query,
            "",
        )
    )


def credential_headers(
    config: IntegrationConfig, settings: HarnessSettings
) -> dict[str, str]:
    """The headers `auth_type` asks for; a missing secret stops the run here."""
    if config.auth_type is AuthType.NONE:
        return {}
    secret = settings.secret(config.secret_env)
    if secret is None:
        raise SecretMissingError(
            f"{config.secret_env} is not set: auth_type {config.auth_type.value} "
            "needs it; nothing was sent"
        )
    value = secret.get_secret_value()
    # h11 would refuse a line break or a non-ASCII character with an error that
    # quotes the whole header, secret included: refuse it here without quoting.
    if config.auth_type is not AuthType.BASIC and header_problem("x", value):
        raise SecretMissingError(
            f"{config.secret_env} holds a character a header cannot carry (CR, "
            "LF, NUL, non-ASCII, or whitespace at either end); nothing was sent"
        )
    if config.auth_type is AuthType.BEARER:
        return {config.auth_header_name: f"Bearer {value}"}
    if config.auth_type is AuthType.API_KEY:
        return {config.auth_header_name: value}
    pair = f"{config.username}:{value}".encode()
    return {config.auth_header_name: "Basic " + base64.b64encode(pair).decode()}


def _excerpt(response: httpx.Response) -> str:
    text = response.content[: _EXCERPT * 4].decode("utf-8", errors="replace")
    return " ".join(text.split())[:_EXCERPT]


def parse_json_body(response: httpx.Response) -> Any:
    """The JSON body of a success answer, or a typed error keeping the status."""
    status = response.status_code
    if status == 204 or not response.content:
        raise InvalidResponseError(
            f"upstream answered {status} with an empty body", status=status
        )
    content_type = response.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise InvalidResponseError(
            f"upstream answered {status} with {media or 'no content type'}, not JSON",
            status=status,
            body_excerpt=_excerpt(response),
        )
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        reason = str(exc) if not isinstance(exc, RecursionError) else "nested too deep"
        raise InvalidResponseError(
            f"upstream answered {status} with invalid JSON: {reason}",
            status=status,
            body_excerpt=_excerpt(response),
        ) from None


@dataclass
class _Call:
    """One execution's request and what its attempts gave so far."""

    config: IntegrationConfig
    spec: RequestSpec
    headers: dict[str, str]
    started: float
    attempts: list[AttemptOutcome]

    @property
    def what(self) -> str:
        return f"{self.spec.method} {self.spec.url}"

    def remaining(self) -> float | None:
        """Seconds left before `deadline_seconds`, None without a deadline."""
        if self.config.deadline_seconds is None:
            return None
        return self.started + self.config.deadline_seconds - time.monotonic()

    def record(self, outcome: int | str, began: float) -> None:
        now = time.monotonic()
        self.attempts.append(
            AttemptOutcome(
                outcome,
                latency_ms=(now - began) * 1000,
                started_ms=(began - self.started) * 1000,
            )
        )


class Executor:
    """Executes definitions over one shared, pooled `httpx.AsyncClient`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: HarnessSettings,
        *,
        sleep: Sleep | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        # Looked up at call time, so a patched `backoff_sleep` takes effect.
        self.sleep: Sleep = sleep if sleep is not None else _late_bound_sleep
        # At most one external call per pool connection: a burst beyond the
        # pool waits here, where the wait is measured as local saturation and
        # never counted as upstream latency.
        self.slots = asyncio.Semaphore(settings.max_connections)

    async def execute(
        self, config: IntegrationConfig, context: dict[str, Any]
    ) -> ExecutionResult:
        """Run the call with the definition's retry policy.

        Never raises for a failed call: the result carries the typed error.
        Cancellation (`asyncio.CancelledError`) is never retried and always
        propagates to the caller.
        """
        started = time.monotonic()
        attempts: list[AttemptOutcome] = []
        secrets: list[str] = []
        try:
            spec = build_request(config, context)
            credentials = credential_headers(config, self.settings)
            secrets = _secret_values(config, self.settings, credentials)
            headers = {**spec.headers, **credentials}
            if config.idempotency_key:
                # One key for every attempt of this execution.
                headers["Idempotency-Key"] = str(uuid.uuid4())
            call = _Call(config, spec, headers, started, attempts)
            body = await self._with_retries(call)
        except HarnessError as error:
            if isinstance(error, UpstreamError):
                error.attempts = len(attempts)
            _redact(error, secrets)
            return ExecutionResult(
                status_code=error.status,
                body=None,
                latency_ms=(time.monotonic() - started) * 1000,
                attempts=attempts,
                error=error,
            )
        last = attempts[-1].outcome
        return ExecutionResult(
            status_code=last if isinstance(last, int) else None,
            body=body,
            latency_ms=(time.monotonic() - started) * 1000,
            attempts=attempts,
        )

    async def _with_retries(self, call: _Call) -> Any:
        wait = RetryWait(call.config)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(call.config.retry.attempts),
            wait=wait,
            retry=lambda state: _retry_allowed(state, call, wait),
            sleep=self.sleep,
            before_sleep=lambda state: _log_retry(state, call),
            # The caller gets the last real error, never a tenacity RetryError.
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(call)
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def _attempt(self, call: _Call) -> Any:
        """One attempt: a connection slot, the exchange, the parsed answer."""
        budget, by_deadline = self._budget(call)
        async with self._slot(call, budget):
            began = time.monotonic()
            try:
                # httpx bounds each phase; this bounds the whole attempt (a
                # body that trickles in). A little later than httpx, so its
                # precise errors (a connect timeout: nothing was sent) win.
                async with asyncio.timeout(budget + _BACKSTOP_SLACK_SECONDS):
                    response = await self._exchange(call, budget)
            except (TimeoutError, httpx.RequestError) as exc:
                error = self._failure(call, exc, budget, by_deadline)
                call.record(error.kind, began)
                raise error from None
            except HarnessError as refused:
                # A redirect the policy refused: the request was sent and
                # answered, so it is an attempt like any other, with its status.
                call.record(refused.status or refused.kind, began)
                raise

        call.record(response.status_code, began)
        logger.info(
            "%s -> %s (attempt %d, %.1f ms)",
            call.what,
            response.status_code,
            len(call.attempts),
            call.attempts[-1].latency_ms,
        )
        return self._parse(response)

    def _budget(self, call: _Call) -> tuple[float, bool]:
        """This attempt's time: `timeout_seconds`, or less when the deadline nears."""
        timeout = call.config.timeout_seconds
        remaining = call.remaining()
        if remaining is None or remaining >= timeout:
            return timeout, False
        if remaining <= 0:
            raise DeadlineExceededError(
                f"{call.what}: the deadline of {call.config.deadline_seconds:g} s "
                f"passed after {len(call.attempts)} attempt(s)"
            )
        return remaining, True

    def _slot(self, call: _Call, budget: float) -> _Slot:
        wait = min(self.settings.pool_timeout_seconds, budget)
        return _Slot(self.slots, wait, call)

    async def _exchange(self, call: _Call, budget: float) -> httpx.Response:
        """Send the request and follow redirects as far as the definition allows.

        The hops of followed redirects belong to one attempt: it is recorded
        once, with the final answer's status and the latency of every hop
        together (each hop is logged). Retries count attempts, never hops.
        """
        method, url = call.spec.method, call.spec.url
        params: dict[str, str] | None = call.spec.params or None
        headers, has_body = call.headers, call.spec.has_body
        timeout = httpx.Timeout(budget, pool=self.settings.pool_timeout_seconds)

        for hops in itertools.count():
            response = await self.client.request(
                method,
                apply_host_override(url, self.settings.host_overrides),
                params=params,
                headers=headers,
                json=call.spec.json_body if has_body else None,
                timeout=timeout,
            )
            if response.status_code not in REDIRECT_STATUSES:
                return response

            target = self._redirect_target(call, response, url, hops)
            logger.info("%s %s -> %s", method, url, response.status_code)
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method == "POST"
            ):
                # What every HTTP client does: the follow-up is a plain GET.
                method, has_body = "GET", False
            if _origin(target) != _origin(url):
                # Credentials are for the origin the definition names.
                headers = _without(headers, call.config.auth_header_name)
            url, params = target, None
        raise AssertionError("unreachable: the redirect loop returns or raises")

    @staticmethod
    def _redirect_target(
        call: _Call, response: httpx.Response, url: str, hops: int
    ) -> str:
        """The next hop's URL, or a typed error when the policy refuses it."""
        status, limit = response.status_code, call.config.max_redirects
        location: str | None = response.headers.get("location")
        if location is None:
            raise InvalidResponseError(
                f"{call.what}: upstream answered {status} without a Location",
                status=status,
            )
        target = urljoin(url, location.strip())
        shown = _without_query(target)
        if limit == 0:
            raise InvalidResponseError(
                f"{call.what}: upstream answered {status} redirect to {shown!r}; "
                "redirects are refused (config.max_redirects is 0)",
                status=status,
            )
        if hops >= limit:
            raise InvalidResponseError(
                f"{call.what}: more than {limit} redirect(s); the last "
                f"answer was {status} to {shown!r}",
                status=status,
            )
        if urlsplit(target).scheme.lower() != "https":
            raise InvalidResponseError(
                f"{call.what}: upstream answered {status} redirect to {shown!r}; "
                "only https:// targets are followed",
                status=status,
            )
        return target

    def _parse(self, response: httpx.Response) -> Any:
        status = response.status_code
        if status in RETRYABLE_STATUSES:
            header = response.headers.get("retry-after")
            retry_after = None
            if status in NOT_ACTED_STATUSES:
                retry_after = parse_retry_after(header)
            shown_after = f" (Retry-After: {header})" if header else ""
            raise RetryableStatusError(
                f"upstream answered {status}{shown_after}",
                status=status,
                retry_after=retry_after,
                body_excerpt=_excerpt(response),
            )
        if 300 <= status < 400:
            raise InvalidResponseError(
                f"upstream answered {status}, not an answer to extract from",
                status=status,
            )
        if status >= 400:
            raise UpstreamStatusError(
                f"upstream answered {status}",
                status=status,
                body_excerpt=_excerpt(response),
            )
        return parse_json_body(response)

    def _failure(
        self, call: _Call, exc: Exception, budget: float, by_deadline: bool
    ) -> HarnessError:
        """The typed error of an attempt that got no answer to parse."""
        reason = str(exc) or type(exc).__name__
        timed_out = isinstance(exc, TimeoutError | httpx.TimeoutException)
        if isinstance(exc, httpx.PoolTimeout):
            waited = self.settings.pool_timeout_seconds
            return LocalSaturationError(
                f"{call.what}: no free connection in the pool within "
                f"{waited:g} s; nothing was sent"
            )
        if timed_out and by_deadline:
            return DeadlineExceededError(
                f"{call.what}: the deadline of {call.config.deadline_seconds:g} s "
                f"passed during attempt {len(call.attempts) + 1}"
            )
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) and (
            _dropped_after_connecting(exc)
        ):
            return UpstreamConnectionError(
                f"{call.what}: connection dropped ({reason})"
            )
        if isinstance(exc, httpx.ConnectTimeout):
            return ConnectTimeoutError(
                f"{call.what}: no connection within {budget:g} s"
            )
        if timed_out:
            return ReadTimeoutError(
                f"{call.what}: no complete answer within {budget:g} s"
            )
        if isinstance(exc, httpx.ConnectError):
            return ConnectFailedError(f"{call.what}: could not connect ({reason})")
        if isinstance(exc, httpx.DecodingError):
            return InvalidResponseError(
                f"{call.what}: the answer could not be decoded ({reason})"
            )
        return UpstreamConnectionError(f"{call.what}: connection failed ({reason})")


def _dropped_after_connecting(exc: httpx.RequestError) -> bool:
    """Whether a "connect" error really came after the request may have gone out.

    httpx-aiohttp maps every aiohttp connection error to `ConnectTimeout`, a
    server that hung up after reading the request included. Only aiohttp's
    connector errors mean that nothing was sent.
    """
    cause = exc.__cause__
    if cause is None or not type(cause).__module__.startswith("aiohttp"):
        return False
    names = {cls.__name__ for cls in type(cause).__mro__}
    return not names & {"ClientConnectorError", "ConnectionTimeoutError"}


class _Slot:
    """One of the executor's connection slots, or local saturation in time."""

    def __init__(self, slots: asyncio.Semaphore, wait: float, call: _Call) -> None:
        self.slots, self.wait, self.call = slots, wait, call

    async def __aenter__(self) -> None:
        began = time.monotonic()
        try:
            async with asyncio.timeout(self.wait):
                await self.slots.acquire()
        except TimeoutError:
            self.call.record(LocalSaturationError.kind, began)
            raise LocalSaturationError(
                f"{self.call.what}: no free connection slot within {self.wait:g} s "
                "(every pooled connection is busy); nothing was sent"
            ) from None

    async def __aexit__(self, *exc_info: object) -> None:
        self.slots.release()


def _retry_allowed(state: RetryCallState, call: _Call, wait: RetryWait) -> bool:
    """Tenacity's retry predicate: the policy, then the deadline."""
    error = state.outcome.exception() if state.outcome else None
    if error is None or not is_transient(error):
        # Success, a non-transient error, or cancellation: never retried.
        return False
    reason = refusal(error, call.config)
    remaining = call.remaining()
    if reason is None and remaining is not None and wait(state) >= remaining:
        deadline = call.config.deadline_seconds
        reason = f"the deadline of {deadline:g} s leaves no time for another attempt"
    if reason is not None and state.attempt_number < call.config.retry.attempts:
        _annotate(error, f"not retried: {reason}")
    return reason is None


def _log_retry(state: RetryCallState, call: _Call) -> None:
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.info(
        "%s: attempt %d of %d failed (%s), retrying in %.2f s",
        call.what,
        state.attempt_number,
        call.config.retry.attempts,
        call.attempts[-1].outcome if call.attempts else "?",
        wait,
    )


def _annotate(error: BaseException, note: str) -> None:
    error.args = (f"{error} ({note})",)


def _secret_values(
    config: IntegrationConfig, settings: HarnessSettings, credentials: Mapping[str, str]
) -> list[str]:
    """Every string that must never appear in an error: the secret, its headers."""
    values = list(credentials.values())
    secret = settings.secret(config.secret_env)
    if config.auth_type is not AuthType.NONE and secret is not None:
        values.append(secret.get_secret_value())
    return [value for value in values if value]


def _redact(error: HarnessError, secrets: list[str]) -> None:
    """Mask secrets an upstream echoed into a body excerpt or a message."""

    def mask(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, _MASK)
        return text

    error.args = (mask(str(error)),)
    if isinstance(error, UpstreamError) and error.body_excerpt:
        error.body_excerpt = mask(error.body_excerpt)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    lowered = name.lower()
    return {k: v for k, v in headers.items() if k.lower() != lowered}


def _without_query(url: str) -> str:
    # A redirect target may carry a signed token in its query: never shown.
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
