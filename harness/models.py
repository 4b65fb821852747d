"""The integration definition and the rules that make it valid (step 1)."""

from __future__ import annotations

import math
import re
import unicodedata
import warnings
from enum import StrEnum
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

import httpx
import jmespath
from jmespath.exceptions import (
    IncompleteExpressionError,
    JMESPathError,
    LexerError,
    ParseError,
)
from jmespath.functions import Functions
from jmespath.lexer import Lexer
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

# RFC 9110 token characters, the only ones a header name may use.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 field values: visible ASCII, space and tab, no whitespace at either end
# (h11 refuses that on the wire, so it is refused here, before anything is sent).
_HEADER_VALUE = re.compile(r"([\x21-\x7e]([\x20\x09]*[\x21-\x7e])*)?")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Cognigy.AI resource ids are 24 hexadecimal digits.
_OBJECT_ID = r"^[0-9a-f]{24}$"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A field location at the start of a validator's message ("headers.X: reason").
_LOCATED = re.compile(r"([^\s:]+): (.+)", re.DOTALL)
_NOT_IN_URL = frozenset({"Cc", "Cf", "Cs"})
_SURROGATE = re.compile("[\ud800-\udfff]")
_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`")

#: Header names that carry credentials. A definition never sets them itself:
#: `auth_type` and `secret_env` say where the credential comes from.
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "cookie",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-auth-token",
    }
)


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

# The keys of a selector object in a request template.
_SELECTOR_KEYS = frozenset({"$input", "transform"})


#: Every model refuses unknown fields, and no error message echoes the input: a
#: definition that holds a secret by mistake must not print it back.
_MODEL_CONFIG = ConfigDict(extra="forbid", hide_input_in_errors=True)

_FUNCTIONS = Functions().FUNCTION_TABLE


def one_line(text: str) -> str:
    """Text with every unprintable character escaped, so a message is one line.

    Line breaks, control characters and lone surrogates (which pydantic cannot
    even put into an error) are written as their escapes.
    """
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def located(field: str, reason: str) -> tuple[str, str]:
    """Split a validator's `"sub.field: reason"` message into (field, reason).

    Validators of a whole model name the field a rule is about at the start of
    their message; reporters append it to the location pydantic gives.
    """
    while (match := _LOCATED.fullmatch(reason)) is not None:
        inner, reason = match.groups()
        field = f"{field}.{inner}" if field else inner
    return field, reason


def _quoting_hint(expression: str) -> str:
    # `-` means nothing in an unquoted name and a name cannot start with a
    # digit, so an unquoted key such as `my-key` or `2fa` is the usual cause.
    bare = _QUOTED.sub("", expression)
    if "-" in bare or re.search(r"(^|[.\s{,(|&!])\d", bare):
        return (
            '; keys with "-", "." or a leading digit must be quoted, '
            'e.g. data."my-key" or "2fa"'
        )
    return ""


def _parse_problem(exc: JMESPathError) -> str:
    """What jmespath says is wrong, and where, on one line."""
    if isinstance(exc, LexerError):
        reason = exc.message
    elif isinstance(exc, IncompleteExpressionError):
        reason = "incomplete expression"
    elif isinstance(exc, ParseError):
        reason = exc.msg
    else:
        return str(exc)
    token = f" near {exc.token_value!r}" if exc.token_value is not None else ""
    return f"at character {exc.lex_position + 1}{token}: {reason}"


def _function_problem(tree: Any) -> str | None:
    """Unknown functions and wrong arities, which jmespath only finds at run time."""
    pending: list[Any] = [tree]
    while pending:
        node = pending.pop()
        if node.get("type") == "function_expression":
            name, count = node["value"], len(node["children"])
            if name not in _FUNCTIONS:
                return f"unknown function {name}()"
            signature = _FUNCTIONS[name]["signature"]
            variadic = bool(signature) and signature[-1].get("variadic", False)
            if count < len(signature) or (count > len(signature) and not variadic):
                least = "at least " if variadic else ""
                return (
                    f"{name}() takes {least}{len(signature)} argument(s), got {count}"
                )
        pending.extend(c for c in node.get("children", []) if isinstance(c, dict))
    return None


def _lex_without_deprecations(expression: str) -> None:
    """Tokenize, turning jmespath's deprecated-literal warning into an error.

    jmespath reads `` `text` `` (not JSON) as a string with a warning; its
    compile cache would hide the warning the second time, the lexer does not.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", PendingDeprecationWarning)
        for _ in Lexer().tokenize(expression):
            pass


def jmespath_problem(expression: str) -> str | None:
    """Why a JMESPath expression does not compile, or None when it does."""
    problem = _jmespath_problem(expression)
    return None if problem is None else one_line(problem)


def _jmespath_problem(expression: str) -> str | None:
    try:
        _lex_without_deprecations(expression)
        tree = jmespath.compile(expression).parsed
    except PendingDeprecationWarning:
        return (
            f"JMESPath {expression!r} uses the deprecated `text` literal; write "
            "a raw string 'text' or a JSON literal `\"text\"`"
        )
    except JMESPathError as exc:
        return (
            f"invalid JMESPath {expression!r} {_parse_problem(exc)}"
            f"{_quoting_hint(expression)}"
        )
    except RecursionError:
        # The jmespath parser recurses once per nesting level.
        return f"JMESPath {expression!r} is nested too deeply to compile"
    problem = _function_problem(tree)
    return f"invalid JMESPath {expression!r}: {problem}" if problem else None


def compile_jmespath(expression: str, where: str) -> None:
    """Compile a JMESPath expression or raise ValueError saying where and why."""
    problem = jmespath_problem(expression)
    if problem is not None:
        raise ValueError(f"{where}: {problem}")


def header_problem(name: str, value: str | None = None) -> str | None:
    """Why a header name (and value) cannot go on the wire, or None.

    The message never repeats the value: it may be a credential.
    """
    if not _HEADER_NAME.fullmatch(name):
        return f"header name {name!r} is not an RFC 9110 token"
    if value is None:
        return None
    if any(ch in value for ch in "\r\n\0"):
        return f"{name}: value carries CR, LF or NUL"
    if not value.isascii():
        return f"{name}: value is not ASCII, which HTTP/1.1 cannot send"
    if not _HEADER_VALUE.fullmatch(value):
        return f"{name}: value has a control character or whitespace at either end"
    return None


def _finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: {value} is not a JSON number")


def surrogate_path(value: Any) -> str | None:
    """Where a lone surrogate sits in a value (`a.b[0]`), or None if nowhere.

    The path is "" for the value itself or one of its own keys. Python text
    may hold one (`"\\ud800"` in YAML or JSON); UTF-8 cannot, so
    such a value can never be sent.
    """
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:
        current, path = pending.pop()
        if isinstance(current, str) and _SURROGATE.search(current):
            return path
        if isinstance(current, dict):
            for key, item in current.items():
                if isinstance(key, str) and _SURROGATE.search(key):
                    return path
                pending.append((item, f"{path}.{key}" if path else str(key)))
        elif isinstance(current, list):
            pending.extend((item, f"{path}[{i}]") for i, item in enumerate(current))
    return None


def _unicode_problem(model: BaseModel) -> str | None:
    where = surrogate_path(model.model_dump())
    if where is None:
        return None
    return (
        f"{where or '(definition)'}: text with a lone surrogate cannot be sent as UTF-8"
    )


def _check_selector(template: dict[str, Any], where: str) -> None:
    """A `{"$input": ...}` object: the selector compiles, the mode is known."""
    selector = template["$input"]
    if not isinstance(selector, str):
        raise ValueError(f"{where}.$input: must be a JMESPath string")
    compile_jmespath(selector, f"{where}.$input")

    mode = template.get("transform", BodyTransform.REPLACE.value)
    known = [t.value for t in BodyTransform]
    if not isinstance(mode, str) or mode not in known:
        raise ValueError(
            f"{where}.transform: unknown mode {mode!r} (known: {', '.join(known)})"
        )

    # With `replace` the selected value is the whole result: other keys would
    # be dropped without a word, so they are refused instead.
    others = sorted(set(template) - _SELECTOR_KEYS)
    if others and mode != BodyTransform.JSON_MERGE.value:
        raise ValueError(
            f"{where}: keys beside $input ({', '.join(others)}) are only kept "
            "with transform json_merge"
        )


def _check_template(template: Any, where: str) -> None:
    """Every selector of a body template, at any depth."""
    _finite(template, where)
    if isinstance(template, list):
        for index, item in enumerate(template):
            _check_template(item, f"{where}[{index}]")
        return
    if not isinstance(template, dict):
        return

    if "$input" in template:
        _check_selector(template, where)
    elif "transform" in template:
        raise ValueError(f"{where}.transform: only allowed beside $input")
    for key, value in template.items():
        if key not in _SELECTOR_KEYS:
            _check_template(value, f"{where}.{key}")


def _check_scalar_template(value: Any, where: str) -> None:
    """A query, path or header value: a scalar literal or a bare `$input`."""
    if isinstance(value, dict) and "$input" in value:
        if set(value) != {"$input"}:
            raise ValueError(f"{where}: a selector here holds only $input")
        _check_selector(value, where)
        return
    if value is None or isinstance(value, dict | list):
        raise ValueError(
            f"{where}: must be a string, a number, a boolean or {{$input: ...}}"
        )
    _finite(value, where)


class RequestMapping(BaseModel):
    """How the request is built from the bot context (see the README)."""

    model_config = _MODEL_CONFIG

    body: JsonValue = None
    query: dict[str, JsonValue] = Field(default_factory=dict)
    path: dict[str, JsonValue] = Field(default_factory=dict)
    headers: dict[str, JsonValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _templates_valid(self) -> Self:
        try:
            self._check_templates()
        except RecursionError:
            raise ValueError("body: nested too deeply") from None
        except ValueError as exc:
            # Keys are quoted into the message as they are written.
            raise ValueError(one_line(str(exc))) from None
        return self

    def _check_templates(self) -> None:
        _check_template(self.body, "body")
        for part in ("query", "path", "headers"):
            for key, value in getattr(self, part).items():
                _check_scalar_template(value, f"{part}.{key}")
        for name, value in self.headers.items():
            literal = value if isinstance(value, str) else None
            problem = header_problem(name, literal)
            if problem is not None:
                raise ValueError(f"headers: {problem}")


class ResponseMapping(BaseModel):
    """How the answer is extracted (JMESPath) and normalized."""

    model_config = _MODEL_CONFIG

    extract: str | None = None
    normalize: NormalizeMode = NormalizeMode.NONE

    @field_validator("extract")
    @classmethod
    def _extract_compiles(cls, value: str | None) -> str | None:
        problem = None if value is None else jmespath_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class RetryPolicy(BaseModel):
    """Retries of the external call: attempts and exponential backoff."""

    model_config = _MODEL_CONFIG

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


def url_problem(url: str) -> str | None:
    """Why `url` is not an external endpoint a definition may name, or None."""
    # Cs: a lone surrogate, which no URL encoding can carry.
    if any(ch.isspace() or unicodedata.category(ch) in _NOT_IN_URL for ch in url):
        return "must not contain whitespace or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        return f"is not a valid URL: {exc}"

    if parts.scheme.lower() != "https":
        return f"must use https:// (got {parts.scheme or 'no scheme'})"
    if "@" in parts.netloc:
        return "must not carry credentials (user-info before @)"
    if not parts.hostname:
        return "must have a host"
    if "#" in url:
        return "must not have a #fragment: it is never sent"
    if any(ch in parts.netloc + parts.query for ch in "{}"):
        return "{name} placeholders are only allowed in the path"
    if any(ch in _PLACEHOLDER.sub("", parts.path) for ch in "{}"):
        return "{ and } in the path only surround a placeholder name such as {id}"

    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"is not a valid URL: {exc}"
    return None


def url_placeholders(url: str) -> set[str]:
    """The `{name}` placeholders in the path of a URL."""
    return set(_PLACEHOLDER.findall(urlsplit(url).path))


class IntegrationConfig(BaseModel):
    """The external call: where, how, with which credentials and mapping."""

    model_config = _MODEL_CONFIG

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
    def _url_valid(cls, value: str) -> str:
        problem = url_problem(value)
        if problem is not None:
            raise ValueError(one_line(f"url {problem}"))
        return value

    @field_validator("auth_header_name")
    @classmethod
    def _header_name_token(cls, value: str) -> str:
        problem = header_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("secret_env")
    @classmethod
    def _secret_env_is_a_name(cls, value: str) -> str:
        # Never echo the value: the usual mistake is pasting the secret here.
        if not _ENV_NAME.fullmatch(value):
            raise ValueError(
                "must name an environment variable (letters, digits, _), "
                "never hold the secret itself"
            )
        return value

    @field_validator("username")
    @classmethod
    def _username_valid(cls, value: str | None) -> str | None:
        if value is not None and (not value or ":" in value or not value.isprintable()):
            raise ValueError("must be non-empty, printable and without ':' (RFC 7617)")
        return value

    @field_validator("headers")
    @classmethod
    def _headers_valid(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            problem = header_problem(name, header_value)
            if problem is not None:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _rules_across_fields(self) -> Self:
        # A model validator sees every field, whatever their order in the input.
        for problem in (
            _unicode_problem(self),
            self._body_problem(),
            self._auth_problem(),
            self._header_set_problem(),
            self._placeholder_problem(),
        ):
            if problem is not None:
                raise ValueError(one_line(problem))
        return self

    def _body_problem(self) -> str | None:
        if self.method in BODYLESS_METHODS and self.request_mapping.body is not None:
            return (
                f"request_mapping.body: a {self.method.value} request carries no "
                "body; remove the body mapping or use POST, PUT or PATCH"
            )
        return None

    def _auth_problem(self) -> str | None:
        if self.auth_type is AuthType.BASIC and not self.username:
            return "username: auth_type basic needs a username"
        if self.auth_type is not AuthType.BASIC and self.username is not None:
            return "username: only auth_type basic sends a username"
        if (
            self.auth_type is AuthType.API_KEY
            and "auth_header_name" not in self.model_fields_set
        ):
            return (
                "auth_header_name: auth_type api_key needs the header that "
                "carries the key, e.g. X-API-Key"
            )
        return None

    def _header_set_problem(self) -> str | None:
        """Headers are case-insensitive, set once, and never carry credentials."""
        forbidden = set(CREDENTIAL_HEADERS)
        if self.auth_type is not AuthType.NONE:
            forbidden.add(self.auth_header_name.lower())

        seen: dict[str, str] = {}
        for part, names in (
            ("headers", self.headers),
            ("request_mapping.headers", self.request_mapping.headers),
        ):
            for name in names:
                if name.lower() in forbidden:
                    return (
                        f"{part}.{name}: a definition never holds a credential; "
                        "auth_type and secret_env say where it comes from"
                    )
                if name.lower() in seen:
                    return f"{part}.{name}: the same header as {seen[name.lower()]}"
                seen[name.lower()] = f"{part}.{name}"
        return None

    def _placeholder_problem(self) -> str | None:
        placeholders = url_placeholders(self.url)
        mapped = set(self.request_mapping.path)
        if placeholders == mapped:
            return None
        return (
            "request_mapping.path: names must match the {name} placeholders of "
            f"url (not mapped: {sorted(placeholders - mapped)}, "
            f"not in url: {sorted(mapped - placeholders)})"
        )


class Thresholds(BaseModel):
    """Service levels an integration is gated on."""

    model_config = _MODEL_CONFIG

    p95_ms: Annotated[float, Field(gt=0)] | None = None
    p99_ms: Annotated[float, Field(gt=0)] | None = None
    max_error_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    # What one bot turn may spend on all attempts and waits together: the
    # Cognigy HTTP Request node gives up after 8 s (15 s on shared SaaS).
    turn_budget_ms: Annotated[float, Field(gt=0)] | None = None


class CognigyAiTarget(BaseModel):
    """Where profile `cognigy-ai-v2` puts this integration, over the settings."""

    model_config = _MODEL_CONFIG

    project_id: Annotated[str, Field(pattern=_OBJECT_ID)] | None = None
    flow_id: Annotated[str, Field(pattern=_OBJECT_ID)] | None = None


class IntegrationDefinition(BaseModel):
    """An external REST integration of a Cognigy bot."""

    model_config = _MODEL_CONFIG

    name: Annotated[str, Field(min_length=3, max_length=100)]
    description: str = "External REST integration managed by cognigy-harness"
    status: Status = Status.ACTIVE
    bot_id: Annotated[str, Field(min_length=1)]
    config: IntegrationConfig
    thresholds: Thresholds | None = None
    # Only profile `cognigy-ai-v2` reads it: COGNIGY_PROJECT_ID / COGNIGY_FLOW_ID
    # for this integration alone.
    cognigy_ai: CognigyAiTarget | None = None

    @model_validator(mode="after")
    def _sendable_as_utf8(self) -> Self:
        problem = _unicode_problem(self)
        if problem is not None:
            raise ValueError(one_line(problem))
        return self

    def registration_payload(self) -> dict[str, Any]:
        """The JSON the platform stores: the definition without local settings."""
        return self.model_dump(mode="json", exclude={"thresholds", "cognigy_ai"})
