"""Step 3: call the external API with retries, measuring every attempt."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from tenacity import AsyncRetrying, stop_after_attempt

from harness.errors import (
    HarnessError,
    InvalidResponseError,
    SecretMissingError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from harness.mapping import RequestSpec, build_request
from harness.models import AuthType, IntegrationConfig
from harness.retry import (
    RETRYABLE_STATUSES,
    ConnectFailedError,
    ConnectTimeoutError,
    ReadTimeoutError,
    RetryableStatusError,
    RetryWait,
    is_retryable,
    parse_retry_after,
)
from harness.settings import HarnessSettings

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


async def backoff_sleep(seconds: float) -> None:
    """How the executor waits between attempts (tests patch this name)."""
    await asyncio.sleep(seconds)


async def _late_bound_sleep(seconds: float) -> None:
    await backoff_sleep(seconds)


_EXCERPT = 200


@dataclass(frozen=True)
class AttemptOutcome:
    """One attempt: its status code or error type, and its own latency."""

    outcome: int | str
    latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "latency_ms": round(self.latency_ms, 3)}


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
        (target.scheme, target.netloc, target.path + parts.path, parts.query, "")
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
    if config.auth_type is AuthType.BEARER:
        return {config.auth_header_name: f"Bearer {value}"}
    if config.auth_type is AuthType.API_KEY:
        return {config.auth_header_name: value}
    pair = f"{config.username}:{value}".encode()
    return {config.auth_header_name: "Basic " + base64.b64encode(pair).decode()}


def _excerpt(response: httpx.Response) -> str:
    text = response.text[:_EXCERPT]
    return " ".join(text.split())


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
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidResponseError(
            f"upstream answered {status} with invalid JSON: {exc}",
            status=status,
            body_excerpt=_excerpt(response),
        ) from None


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

    async def execute(
        self, config: IntegrationConfig, context: dict[str, Any]
    ) -> ExecutionResult:
        """Run the call with the definition's retry policy; never raises."""
        started = time.monotonic()
        attempts: list[AttemptOutcome] = []
        try:
            spec = build_request(config, context)
            headers = {**spec.headers, **credential_headers(config, self.settings)}
            if config.idempotency_key:
                # One key for every attempt of this execution.
                headers["Idempotency-Key"] = str(uuid.uuid4())
            body = await self._with_retries(config, spec, headers, attempts, started)
        except HarnessError as error:
            if isinstance(error, UpstreamError):
                error.attempts = len(attempts)
            return ExecutionResult(
                status_code=error.status,
                body=None,
                latency_ms=(time.monotonic() - started) * 1000,
                attempts=attempts,
                error=error,
            )
        return ExecutionResult(
            status_code=attempts[-1].outcome if attempts else None,  # type: ignore[arg-type]
            body=body,
            latency_ms=(time.monotonic() - started) * 1000,
            attempts=attempts,
        )

    async def _with_retries(
        self,
        config: IntegrationConfig,
        spec: RequestSpec,
        headers: dict[str, str],
        attempts: list[AttemptOutcome],
        started: float,
    ) -> Any:
        deadline = (
            started + config.deadline_seconds if config.deadline_seconds else None
        )
        wait = RetryWait(config)

        def retry_allowed(state: Any) -> bool:
            error = state.outcome.exception() if state.outcome else None
            if error is None or not is_retryable(error, config):
                return False
            if deadline is None:
                return True
            # Stop now rather than sleep past the deadline.
            return time.monotonic() + wait(state) < deadline

        retrying = AsyncRetrying(
            stop=stop_after_attempt(config.retry.attempts),
            wait=wait,
            retry=retry_allowed,
            sleep=self.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(config, spec, headers, attempts, deadline)
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def _attempt(
        self,
        config: IntegrationConfig,
        spec: RequestSpec,
        headers: dict[str, str],
        attempts: list[AttemptOutcome],
        deadline: float | None,
    ) -> Any:
        timeout = config.timeout_seconds
        if deadline is not None:
            timeout = min(timeout, max(0.001, deadline - time.monotonic()))
        url = apply_host_override(spec.url, self.settings.host_overrides)

        began = time.monotonic()
        try:
            response = await self.client.request(
                spec.method,
                url,
                params=spec.params or None,
                headers=headers,
                json=spec.json_body if spec.has_body else None,
                timeout=timeout,
            )
            await response.aread()
        except httpx.TimeoutException as exc:
            error = self._timeout_error(exc, spec, timeout)
            attempts.append(_outcome(error.kind, began))
            raise error from None
        except httpx.TransportError as exc:
            conn_error = self._connection_error(exc, spec)
            attempts.append(_outcome(conn_error.kind, began))
            raise conn_error from None
        attempts.append(_outcome(response.status_code, began))
        logger.info(
            "%s %s -> %s (attempt %d)",
            spec.method,
            spec.url,
            response.status_code,
            len(attempts),
        )
        return self._parse(response)

    def _parse(self, response: httpx.Response) -> Any:
        status = response.status_code
        if status in RETRYABLE_STATUSES:
            raise RetryableStatusError(
                f"upstream answered {status}",
                status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                body_excerpt=_excerpt(response),
            )
        if 300 <= status < 400:
            raise InvalidResponseError(
                f"upstream answered {status} redirect to "
                f"{response.headers.get('location', 'nowhere')!r}; not followed",
                status=status,
            )
        if status >= 400:
            raise UpstreamStatusError(
                f"upstream answered {status}",
                status=status,
                body_excerpt=_excerpt(response),
            )
        return parse_json_body(response)

    @staticmethod
    def _timeout_error(
        exc: httpx.TimeoutException, spec: RequestSpec, timeout: float
    ) -> UpstreamTimeoutError:
        what = f"{spec.method} {spec.url}"
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            return ConnectTimeoutError(f"{what}: no connection within {timeout:g} s")
        return ReadTimeoutError(f"{what}: no answer within {timeout:g} s")

    @staticmethod
    def _connection_error(
        exc: httpx.TransportError, spec: RequestSpec
    ) -> UpstreamConnectionError:
        reason = str(exc) or type(exc).__name__
        what = f"{spec.method} {spec.url}"
        if isinstance(exc, httpx.ConnectError):
            return ConnectFailedError(f"{what}: could not connect ({reason})")
        return UpstreamConnectionError(f"{what}: connection failed ({reason})")


def _outcome(outcome: int | str, began: float) -> AttemptOutcome:
    return AttemptOutcome(outcome, (time.monotonic() - began) * 1000)
