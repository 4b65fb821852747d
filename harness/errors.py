"""Typed errors of the pipeline.

Every error carries a non-empty message and never a secret. `kind` is the
stable name reporters, audit entries and the `--json` output use.
"""

from __future__ import annotations

from typing import Any


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""

    kind = "harness_error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message or self.kind.replace("_", " "))
        self.status = status

    @property
    def message(self) -> str:
        return str(self)

    def to_dict(self) -> dict[str, Any]:
        """The error as the JSON document the CLI and reports print."""
        data: dict[str, Any] = {"type": self.kind, "message": self.message}
        if self.status is not None:
            data["status"] = self.status
        return data


class DefinitionError(HarnessError):
    """An integration definition or directory is invalid."""

    kind = "validation_error"


class InternalError(HarnessError):
    """An execution stopped on an exception the harness did not expect.

    It stands in the report, audit entry and webhook event for the original
    exception, which is raised to the caller: only its class is named here,
    since its text may hold anything (a header, a token).
    """

    kind = "internal_error"


class SecretMissingError(HarnessError):
    """A secret a definition names is not set; nothing was sent."""

    kind = "secret_missing"


class PlatformError(HarnessError):
    """The platform refused or failed a call (token or registration)."""

    kind = "platform_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.problem = problem or {}


class RegistrationConflictError(PlatformError):
    """The same name is registered for the bot with a different config."""

    kind = "registration_conflict"


class RegistrationRefusedError(PlatformError):
    """The platform cannot hold the definition as it is; nothing was sent."""

    kind = "registration_refused"


class UpstreamError(HarnessError):
    """The external API call failed; base of the execution errors."""

    kind = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        attempts: int = 1,
        body_excerpt: str | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.attempts = attempts
        self.body_excerpt = body_excerpt

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["attempts"] = self.attempts
        if self.body_excerpt:
            data["body_excerpt"] = self.body_excerpt
        return data


class UpstreamStatusError(UpstreamError):
    """The external API answered with an error status."""

    kind = "upstream_status"


class UpstreamTimeoutError(UpstreamError):
    """An attempt or the whole execution ran out of time."""

    kind = "timeout"


class DeadlineExceededError(UpstreamTimeoutError):
    """The execution's overall `deadline_seconds` passed; nothing more is tried."""

    kind = "deadline_exceeded"


class UpstreamConnectionError(UpstreamError):
    """The connection failed or was reset."""

    kind = "connection_error"


class InvalidResponseError(UpstreamError):
    """The answer was not the JSON the extraction needs (HTML, empty...)."""

    kind = "invalid_response"


class LocalSaturationError(HarnessError):
    """No free connection slot in time: this process is saturated, not upstream.

    Nothing was sent, so the upstream's latency and error rate are not what
    this error measures; raise the pool size or lower the concurrency.
    """

    kind = "local_saturation"


class ExtractionError(HarnessError):
    """The JMESPath extraction found nothing or could not be evaluated."""

    kind = "extraction_error"


class TransformError(HarnessError):
    """A normalize mode cannot apply to the extracted value."""

    kind = "transform_error"
