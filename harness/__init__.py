"""cognigy-harness: build, validate, register and execute Cognigy REST integrations."""

from harness.audit import AuditError, AuditLog, AuditVerification, verify_log
from harness.errors import (
    DeadlineExceededError,
    DefinitionError,
    ExtractionError,
    HarnessError,
    InvalidResponseError,
    LocalSaturationError,
    PlatformError,
    RegistrationConflictError,
    RegistrationRefusedError,
    SecretMissingError,
    TransformError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from harness.executor import AttemptOutcome, ExecutionResult, Executor
from harness.loader import IntegrationDir, Sample, load_definition, load_integration
from harness.metrics import Metrics
from harness.models import (
    AuthType,
    CognigyAiTarget,
    IntegrationConfig,
    IntegrationDefinition,
    Method,
    NormalizeMode,
    RequestMapping,
    ResponseMapping,
    RetryPolicy,
    Thresholds,
)
from harness.pipeline import FAILURE, SUCCESS, ExecutionReport, Pipeline, bot_context
from harness.platform import Platform, PlatformClient, Registration
from harness.platform_v2 import CognigyAiClient
from harness.settings import HarnessSettings
from harness.tokens import TokenProvider
from harness.webhook import WebhookReporter

__all__ = [
    "FAILURE",
    "SUCCESS",
    "AttemptOutcome",
    "AuditError",
    "AuditLog",
    "AuditVerification",
    "AuthType",
    "CognigyAiClient",
    "CognigyAiTarget",
    "DeadlineExceededError",
    "DefinitionError",
    "ExecutionReport",
    "ExecutionResult",
    "Executor",
    "ExtractionError",
    "HarnessError",
    "HarnessSettings",
    "IntegrationConfig",
    "IntegrationDefinition",
    "IntegrationDir",
    "InvalidResponseError",
    "LocalSaturationError",
    "Method",
    "Metrics",
    "NormalizeMode",
    "Pipeline",
    "Platform",
    "PlatformClient",
    "PlatformError",
    "Registration",
    "RegistrationConflictError",
    "RegistrationRefusedError",
    "RequestMapping",
    "ResponseMapping",
    "RetryPolicy",
    "Sample",
    "SecretMissingError",
    "Thresholds",
    "TokenProvider",
    "TransformError",
    "UpstreamConnectionError",
    "UpstreamError",
    "UpstreamStatusError",
    "UpstreamTimeoutError",
    "WebhookReporter",
    "bot_context",
    "load_definition",
    "load_integration",
    "verify_log",
]
