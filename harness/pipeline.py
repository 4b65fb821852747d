"""The five steps together: build, register, execute, transform, record."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Self

import httpx

from harness.audit import AuditLog, utc_now
from harness.errors import (
    HarnessError,
    InternalError,
    PlatformError,
    SecretMissingError,
)
from harness.executor import AttemptOutcome, Executor, Sleep, pooled_client
from harness.metrics import Metrics
from harness.models import IntegrationDefinition
from harness.platform import Platform, PlatformClient, Registration
from harness.platform_v2 import cognigy_ai_client
from harness.settings import HarnessSettings
from harness.tokens import TOKEN_PATH, TokenProvider
from harness.transform import apply_response_mapping, payload_size
from harness.webhook import Outbox, WebhookReporter

logger = logging.getLogger(__name__)

SUCCESS = "SUCCESS"
FAILURE = "FAILURE"


def bot_context(
    payload: Any,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The context an execution receives: `{"bot": {"payload": ...}}` and extras."""
    data: dict[str, Any] = {"bot": {"payload": payload}}
    if user_id is not None:
        data["user_id"] = user_id
    if session_id is not None:
        data["session_id"] = session_id
    if context is not None:
        data["context"] = context
    return data


@dataclass
class ExecutionReport:
    """Everything one execution produced, successful or not."""

    integration_id: str | None
    integration_name: str
    status: str
    latency_ms: float
    attempt_outcomes: list[AttemptOutcome] = field(default_factory=list)
    normalized_data: Any = None
    audit_entry: dict[str, Any] = field(default_factory=dict)
    webhook_event: dict[str, Any] = field(default_factory=dict)
    webhook_delivered: bool = False
    error: HarnessError | None = None
    registration: Registration | None = None

    @property
    def attempts(self) -> int:
        return len(self.attempt_outcomes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document `demo --json` and `run --json` print."""
        return {
            "integration_id": self.integration_id,
            "integration_name": self.integration_name,
            "status": self.status,
            "attempts": self.attempts,
            "attempt_outcomes": [a.to_dict() for a in self.attempt_outcomes],
            "latency_ms": round(self.latency_ms, 3),
            "normalized_data": self.normalized_data,
            "audit_log": self.audit_entry,
            "webhook_delivered": self.webhook_delivered,
            "error": self.error.to_dict() if self.error else None,
            "registration": asdict(self.registration) if self.registration else None,
        }


class Pipeline:
    """Runs integrations over one pooled HTTP client, closed by `aclose`."""

    def __init__(
        self,
        settings: HarnessSettings,
        *,
        client: httpx.AsyncClient | None = None,
        audit_log: AuditLog | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.settings = settings
        self._owns_client = client is None
        self.client = client or pooled_client(settings)
        self._sleep = sleep
        self.executor = Executor(self.client, settings, sleep=sleep)
        self.audit = audit_log or AuditLog.from_settings(settings)
        self.metrics = Metrics()
        webhook_url = str(settings.webhook_url) if settings.webhook_url else None
        self.webhook = WebhookReporter(
            self.client,
            webhook_url,
            outbox=Outbox(settings.outbox_path),
            signing_secret=settings.webhook_signing_secret,
        )
        self._platform: Platform | None = None
        self._registrations: dict[tuple[str, str], Registration] = {}
        self._registering: dict[tuple[str, str], asyncio.Lock] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if the pipeline created it."""
        await self.webhook.aclose()
        await asyncio.to_thread(self.audit.close)
        if self._owns_client:
            await self.client.aclose()

    @property
    def platform(self) -> Platform:
        """The platform client of the settings' profile, created on first use."""
        if self._platform is None and self.settings.cognigy_platform == "cognigy-ai-v2":
            self._platform = cognigy_ai_client(
                self.client, self.settings, sleep=self._sleep
            )
        if self._platform is None:
            settings = self.settings
            if settings.cognigy_tenant_url is None:
                raise PlatformError("COGNIGY_TENANT_URL is not set")
            if not settings.cognigy_client_id or settings.cognigy_client_secret is None:
                raise SecretMissingError(
                    "COGNIGY_CLIENT_ID and COGNIGY_CLIENT_SECRET must be set to "
                    "register integrations; nothing was sent"
                )
            tenant = str(settings.cognigy_tenant_url).rstrip("/")
            tokens = TokenProvider(
                self.client,
                tenant + TOKEN_PATH,
                settings.cognigy_client_id,
                settings.cognigy_client_secret,
                settings.cognigy_scopes,
                leeway_seconds=settings.token_leeway_seconds,
                auth_method=settings.cognigy_token_auth_method,
            )
            self._platform = PlatformClient(self.client, tenant, tokens)
        return self._platform

    async def register(self, definition: IntegrationDefinition) -> Registration:
        """Register once per pipeline; later calls reuse the registration.

        Concurrent first runs of one definition wait for a single
        registration instead of each sending their own.
        """
        key = (definition.bot_id, definition.name)
        if key in self._registrations:
            return self._registrations[key]
        async with self._registering.setdefault(key, asyncio.Lock()):
            if key not in self._registrations:
                self._registrations[key] = await self.platform.register(definition)
        return self._registrations[key]

    async def run(
        self, definition: IntegrationDefinition, context: dict[str, Any]
    ) -> ExecutionReport:
        """Run the five steps. Never raises for a failed execution: it reports it.

        An unexpected exception (a bug, a recorder's error, a cancellation) is
        reported and audited as an `internal_error` FAILURE too, then raised.
        """
        started = time.monotonic()
        report = ExecutionReport(
            integration_id=None,
            integration_name=definition.name,
            status=FAILURE,
            latency_ms=0.0,
        )
        try:
            report.registration = await self.register(definition)
            report.integration_id = report.registration.id
            result = await self.executor.execute(definition.config, context)
            report.attempt_outcomes = result.attempts
            if result.error is not None:
                raise result.error
            report.normalized_data = apply_response_mapping(
                definition.config.response_mapping, result.body
            )
            report.status = SUCCESS
        except HarnessError as error:
            report.error = error
        except httpx.HTTPError as exc:
            # Platform calls that fail below HTTP (DNS, refused) end up here.
            report.error = PlatformError(
                f"platform unreachable: {type(exc).__name__}: {exc}"
            )
        except BaseException as exc:
            report.error = InternalError(
                f"unexpected {type(exc).__name__}; the exception was raised "
                "to the caller"
            )
            report.latency_ms = (time.monotonic() - started) * 1000
            await self._record_unexpected(report)
            raise
        report.latency_ms = (time.monotonic() - started) * 1000
        logger.debug(
            "%s: %s after %d attempt(s) in %.1f ms",
            definition.name,
            report.status,
            report.attempts,
            report.latency_ms,
        )

        await self._record(report)
        return report

    async def _record_unexpected(self, report: ExecutionReport) -> None:
        """Step 5 on the way out of an unexpected exception.

        A failure here is logged, not raised: the original exception is the
        one the caller must see. Under cancellation the awaits still run
        (the task is only cancelled again if someone asks again).
        """
        try:
            await self._record(report)
        except Exception:
            logger.exception("%s: step 5 failed", report.integration_name)

    async def _record(self, report: ExecutionReport) -> None:
        """Step 5 for every execution: webhook, metrics and audit."""
        data = report.normalized_data if report.status == SUCCESS else None
        report.webhook_event = {
            "event_id": str(uuid.uuid4()),
            "integration_id": report.integration_id,
            "integration_name": report.integration_name,
            "status": report.status,
            "latency_ms": round(report.latency_ms, 3),
            "timestamp": utc_now(),
            "payload_size": payload_size(data) if data is not None else 0,
        }
        self.metrics.observe(
            report.integration_name,
            success=report.status == SUCCESS,
            latency_ms=report.latency_ms,
            attempts=report.attempts,
        )
        report.audit_entry = await self.audit.arecord(
            integration_id=report.integration_id,
            integration_name=report.integration_name,
            status=report.status,
            latency_ms=report.latency_ms,
            error_type=report.error.kind if report.error else None,
            attempts=report.attempts,
        )
        report.webhook_delivered = await self.webhook.report(report.webhook_event)
