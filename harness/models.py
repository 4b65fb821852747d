"""The integration definition and the rules that make it valid (step 1)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

# RFC 9110 token characters, the only ones a header name may use.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_FORBIDDEN_IN_VALUE = re.compile(r"[\r\n\x00]")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Cognigy.AI resource ids are 24 hexadecimal digits.
_OBJECT_ID = r"^[0-9a-f]{24}$"


class Method(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


class AuthType(StrEnum):
    BEARER = "bearer"
    API_KEY = "api_key"
    BASIC = "basic"
    NONE = "none"


class NormalizeMode(StrEnum):
    FLATTEN = "flatten"
    MAP_KEYS = "map_keys"
    NONE = "none"


class BodyTransform(StrEnum):
    JSON_MERGE = "json_merge"
    REPLACE = "replace"


class Status(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


#: Methods that carry no request body.
BODYLESS_METHODS = frozenset({Method.GET, Method.DELETE})


def compile_jmespath(expression: str, where: str) -> None:
    """Compile a JMESPath expression or raise ValueError saying where and why."""
    try:
        jmespath.compile(expression)
    except JMESPathError as exc:
        hint = ""
        if re.search(r"(^|\.)[^.\"]*[-]|(^|\.)\d", expression):
            hint = (
                '; keys with "-", "." or a leading digit must be quoted, '
                'e.g. "my-key".value'
            )
        raise ValueError(
            f"{where}: invalid JMESPath {expression!r}: {exc}{hint}"
        ) from None
    except RecursionError:
        raise ValueError(
            f"{where}: JMESPath {expression!r} is nested too deeply"
        ) from None


def _check_selectors(template: Any, where: str) -> None:
    """Compile every `$input` selector in a body template."""
    if isinstance(template, dict):
        if "$input" in template:
            selector = template["$input"]
            if not isinstance(selector, str):
                raise ValueError(f"{where}.$input must be a JMESPath string")
            compile_jmespath(selector, f"{where}.$input")
            transform = template.get("transform", BodyTransform.REPLACE.value)
            if transform not in {t.value for t in BodyTransform}:
                known = ", ".join(t.value for t in BodyTransform)
                raise ValueError(
                    f"{where}.transform: unknown mode {transform!r} (known: {known})"
                )
        for key, value in template.items():
            if key not in ("$input", "transform"):
                _check_selectors(value, f"{where}.{key}")
    elif isinstance(template, list):
        for index, item in enumerate(template):
            _check_selectors(item, f"{where}[{index}]")


class RequestMapping(BaseModel):
    """How the request is built from the bot context (see the README)."""

    model_config = ConfigDict(extra="forbid")

    body: Any = None
    query: dict[str, Any] = Field(default_factory=dict)
    path: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _selectors_compile(self) -> Self:
        _check_selectors(self.body, "body")
        for part in ("query", "path", "headers"):
            for key, value in getattr(self, part).items():
                _check_selectors(value, f"{part}.{key}")
        return self


class ResponseMapping(BaseModel):
    """How the answer is extracted (JMESPath) and normalized."""

    model_config = ConfigDict(extra="forbid")

    extract: str | None = None
    normalize: NormalizeMode = NormalizeMode.NONE

    @field_validator("extract")
    @classmethod
    def _extract_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_jmespath(value, "extract")
        return value


class RetryPolicy(BaseModel):
    """Retries of the external call: attempts and exponential backoff."""

    model_config = ConfigDict(extra="forbid")

    attempts: Annotated[int, Field(ge=1, le=10)] = 3
    wait_min_seconds: Annotated[float, Field(ge=0, le=60)] = 2.0
    wait_max_seconds: Annotated[float, Field(ge=0, le=300)] = 10.0
    jitter: bool = True
    # A Retry-After above this fails fast instead of sleeping.
    retry_after_cap_seconds: Annotated[float, Field(ge=0)] = 60.0

    @model_validator(mode="after")
    def _waits_ordered(self) -> Self:
        if self.wait_max_seconds < self.wait_min_seconds:
            raise ValueError("wait_max_seconds must be >= wait_min_seconds")
        return self


class IntegrationConfig(BaseModel):
    """The external call: where, how, with which credentials and mapping."""

    model_config = ConfigDict(extra="forbid")

    url: str
    method: Method = Method.POST
    auth_type: AuthType = AuthType.BEARER
    auth_header_name: str = "Authorization"
    # Where the credential comes from: an environment variable or settings
    # field name. A definition never holds the secret itself.
    secret_env: str = "EXTERNAL_API_KEY"  # noqa: S105 - a variable name
    # The user name for `basic`; the password comes from `secret_env`.
    username: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    request_mapping: RequestMapping = Field(default_factory=RequestMapping)
    response_mapping: ResponseMapping = Field(default_factory=ResponseMapping)
    timeout_seconds: Annotated[float, Field(ge=1, le=120)] = 30
    deadline_seconds: Annotated[float, Field(gt=0, le=600)] | None = None
    # Send the same Idempotency-Key on every attempt, which makes a POST or
    # PATCH safe to retry after 500, 502, 504 and read timeouts.
    idempotency_key: bool = False
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    # Redirects followed per attempt; 0 refuses them (a 3xx is then an
    # invalid_response error). Every hop must stay on https, and credentials
    # are dropped when a hop leaves the original origin.
    max_redirects: Annotated[int, Field(ge=0, le=10)] = 0

    @field_validator("method", mode="before")
    @classmethod
    def _method_upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _url_https(cls, value: str) -> str:
        if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("url must not contain whitespace or control characters")
        parts = urlsplit(value)
        if parts.scheme.lower() != "https":
            raise ValueError(f"url must use https:// (got {parts.scheme or 'none'}://)")
        if not parts.hostname:
            raise ValueError("url must have a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("url must not carry credentials (user-info)")
        return value

    @field_validator("auth_header_name")
    @classmethod
    def _header_name_token(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid header name")
        return value

    @field_validator("headers")
    @classmethod
    def _headers_valid(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header name {name!r} is not an RFC 9110 token")
            if _FORBIDDEN_IN_VALUE.search(header_value):
                raise ValueError(f"header {name!r}: value contains CR, LF or NUL")
            if not header_value.isascii():
                raise ValueError(f"header {name!r}: value must be ASCII")
        return value

    @model_validator(mode="after")
    def _rules_across_fields(self) -> Self:
        # A model validator sees every field, whatever their order in the input.
        if self.method in BODYLESS_METHODS and self.request_mapping.body is not None:
            raise ValueError(
                f"request_mapping.body: a {self.method.value} request carries no body"
            )
        if self.auth_type is AuthType.BASIC and not self.username:
            raise ValueError("username: auth_type basic needs a username")
        placeholders = set(_PLACEHOLDER.findall(urlsplit(self.url).path))
        mapped = set(self.request_mapping.path)
        if placeholders != mapped:
            missing = sorted(placeholders - mapped)
            extra = sorted(mapped - placeholders)
            raise ValueError(
                "request_mapping.path must match the {name} placeholders of url"
                f" (unmapped: {missing}, not in url: {extra})"
            )
        return self


class Thresholds(BaseModel):
    """Service levels an integration is gated on."""

    model_config = ConfigDict(extra="forbid")

    p95_ms: Annotated[float, Field(gt=0)] | None = None
    p99_ms: Annotated[float, Field(gt=0)] | None = None
    max_error_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    # What one bot turn may spend on all attempts and waits together: the
    # Cognigy HTTP Request node gives up after 8 s (15 s on shared SaaS).
    turn_budget_ms: Annotated[float, Field(gt=0)] | None = None


class CognigyAiTarget(BaseModel):
    """Where profile `cognigy-ai-v2` puts this integration, over the settings."""

    model_config = ConfigDict(extra="forbid")

    project_id: Annotated[str, Field(pattern=_OBJECT_ID)] | None = None
    flow_id: Annotated[str, Field(pattern=_OBJECT_ID)] | None = None


class IntegrationDefinition(BaseModel):
    """An external REST integration of a Cognigy bot."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=3, max_length=100)]
    description: str = "External REST integration managed by cognigy-harness"
    status: Status = Status.ACTIVE
    bot_id: Annotated[str, Field(min_length=1)]
    config: IntegrationConfig
    thresholds: Thresholds | None = None
    # Only profile `cognigy-ai-v2` reads it: COGNIGY_PROJECT_ID / COGNIGY_FLOW_ID
    # for this integration alone.
    cognigy_ai: CognigyAiTarget | None = None

    def registration_payload(self) -> dict[str, Any]:
        """The JSON the platform stores: the definition without local settings."""
        return self.model_dump(mode="json", exclude={"thresholds", "cognigy_ai"})
