"""Consumer side: every request a mock receives is held to its contract.

A `ContractGuard` is a mock's request check (`MockApp.request_check`). It
validates the parameters (path, query, header), the content type and the
body of each request against the operation the contract declares for it.
A request the contract does not allow is recorded and refused with 400 in
the error format of that API, the way the real server refuses invalid data;
the test fixtures then fail the test that sent it, with the contract's reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema_rs
from starlette.requests import Request
from starlette.responses import Response

from contracts.documents import (
    CONTRACTS_DIR,
    Contract,
    Operation,
    contract_for_host,
    escape,
    load_contract,
)
from contracts.errors import ContractViolation
from harness.platform_v2 import TOKEN_PATH as COGNIGY_AI_TOKEN_PATH
from mocks.base import MockApp, json_response
from mocks.cognigy import TOKEN_PATH, oauth_error, problem
from mocks.cognigy_v2 import (
    INVALID,
    NOT_FOUND,
    UNAUTHORIZED,
    Problem,
    problem_response,
)
from mocks.environment import MockEnvironment

logger = logging.getLogger("contracts.guard")

#: The JSON Schema of the event the harness POSTs to WEBHOOK_URL.
WEBHOOK_EVENT_SCHEMA = "webhook-event.schema.json"


@dataclass(frozen=True)
class RequestViolation:
    """A part of a request the contract does not allow, and why."""

    contract: str
    request: str
    location: str
    reason: str
    schema_path: str = ""

    def __str__(self) -> str:
        where = f" (schema {self.schema_path})" if self.schema_path else ""
        return f"{self.contract}: {self.request}: {self.location}: {self.reason}{where}"


Refusal = Callable[[list[RequestViolation]], Response]


def check_request(
    contract: Contract,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    *,
    credentials: bool = True,
) -> list[RequestViolation]:
    """Every way a request breaks `contract` (empty when it conforms).

    With `credentials=False` the security requirements are not looked at.
    """
    label = f"{method.upper()} {path}"
    operation = contract.find_operation(method, path)
    if operation is None:
        reason = "the contract declares no such operation"
        return [RequestViolation(contract.name, label, "operation", reason)]

    check = _RequestCheck(contract, operation, label)
    if credentials and not check.credentials(headers):
        return check.found
    check.parameters(path, list(query), headers)
    check.body(headers.get("content-type", ""), body)
    return check.found


@dataclass
class _RequestCheck:
    contract: Contract
    operation: Operation
    label: str
    found: list[RequestViolation] = field(default_factory=list)

    def add(self, location: str, reason: str, schema_path: str = "") -> None:
        self.found.append(
            RequestViolation(
                self.contract.name, self.label, location, reason, schema_path
            )
        )

    def credentials(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries what one security requirement asks for.

        Only presence is checked: whether a credential is valid is the
        server's business (the platform mock answers 401 itself).
        """
        requirements = self.operation.spec.get(
            "security", self.contract.document.get("security", [])
        )
        if not requirements:
            return True
        schemes = self.contract.document.get("components", {}).get(
            "securitySchemes", {}
        )
        lower = {k.lower(): v for k, v in headers.items()}
        for requirement in requirements:
            if all(_carries(schemes.get(name, {}), lower) for name in requirement):
                return True
        names = " or ".join("+".join(r) or "none" for r in requirements)
        self.add("security", f"no credentials for {names}")
        return False

    def parameters(
        self, path: str, query: list[tuple[str, str]], headers: Mapping[str, str]
    ) -> None:
        path_values = _path_values(self.operation.path, path)
        lower_headers = {k.lower(): v for k, v in headers.items()}
        for pointer, parameter in self.contract.parameters(self.operation):
            name, where = parameter["name"], parameter["in"]
            if where == "query":
                raw = [value for key, value in query if key == name]
            elif where == "path":
                raw = [path_values[name]] if name in path_values else []
            elif where == "header":
                header = lower_headers.get(name.lower())
                raw = [] if header is None else [header]
            else:
                continue
            self._parameter(parameter, raw, where, pointer + "/schema")

    def _parameter(
        self, parameter: dict[str, Any], raw: list[str], where: str, pointer: str
    ) -> None:
        location = f"{where}.{parameter['name']}"
        if not raw:
            if parameter.get("required", False):
                self.add(location, "required parameter is missing")
            return
        value = _coerce_parameter(self.contract.resolve(pointer), raw, parameter)
        for error in self.contract.validation_errors(pointer, value):
            self.add(location, error.message, error.schema_path)

    def body(self, content_type: str, body: bytes) -> None:
        spec = self.operation.spec.get("requestBody")
        if spec is None:
            return
        spec = self.contract.resolve(self.operation.pointer + "/requestBody")
        if not body:
            if spec.get("required", False):
                self.add("body", "a request body is required")
            return
        media = content_type.split(";")[0].strip().lower()
        declared = spec.get("content", {})
        if media not in declared:
            allowed = ", ".join(declared) or "none"
            self.add("content-type", f"{media or 'none'} is not one of: {allowed}")
            return
        pointer = f"{self.operation.pointer}/requestBody/content/{escape(media)}/schema"
        instance = self._decode(media, body, pointer)
        if instance is _UNREADABLE:
            return
        for error in self.contract.validation_errors(pointer, instance):
            location = "body" + (
                error.instance_path if error.instance_path != "/" else ""
            )
            self.add(location, error.message, error.schema_path)

    def _decode(self, media: str, body: bytes, pointer: str) -> Any:
        if media == "application/x-www-form-urlencoded":
            fields = dict(parse_qsl(body.decode("utf-8", "replace"), True))
            schema = self.contract.resolve(pointer)
            properties = (
                schema.get("properties", {}) if isinstance(schema, dict) else {}
            )
            return {
                key: _coerce(self.contract.deref(properties.get(key, {})), value)
                for key, value in fields.items()
            }
        try:
            return json.loads(body)
        except ValueError:
            self.add("body", f"is not valid {media}")
            return _UNREADABLE


_UNREADABLE = object()


def _carries(scheme: dict[str, Any], headers: Mapping[str, str]) -> bool:
    kind = scheme.get("type")
    if kind == "apiKey":
        where = scheme.get("in")
        return where != "header" or scheme.get("name", "").lower() in headers
    if kind == "http" and scheme.get("scheme", "").lower() == "basic":
        return headers.get("authorization", "").lower().startswith("basic ")
    if kind in ("http", "oauth2", "openIdConnect"):
        return headers.get("authorization", "").lower().startswith("bearer ")
    return True


def _path_values(template: str, path: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for part, actual in zip(template.split("/"), path.split("/"), strict=False):
        if part.startswith("{") and part.endswith("}"):
            values[part[1:-1]] = actual
    return values


def _coerce_parameter(schema: Any, raw: list[str], parameter: dict[str, Any]) -> Any:
    """A parameter's strings as the typed value its schema describes."""
    if isinstance(schema, dict) and schema.get("type") == "array":
        explode = parameter.get("explode", parameter.get("in") in ("query", "cookie"))
        items = raw if explode else [p for value in raw for p in value.split(",")]
        return [_coerce(schema.get("items", {}), item) for item in items]
    return _coerce(schema, raw[0])


def _coerce(schema: Any, value: str) -> Any:
    """`value` as the scalar type of `schema`; left a string when it is not one."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    kinds = set(kind) if isinstance(kind, list) else {kind}
    try:
        if "integer" in kinds:
            return int(value)
        if "number" in kinds:
            return float(value)
    except ValueError:
        return value
    if "boolean" in kinds and value in ("true", "false"):
        return value == "true"
    return value


class ContractGuard:
    """A mock's request check that holds every request to a contract."""

    def __init__(
        self,
        contract: Contract,
        refuse: Refusal | None = None,
        *,
        check_credentials: bool = True,
    ) -> None:
        self.contract = contract
        # A mock that authenticates requests itself (the platforms) answers
        # a missing credential with its own 401, after its rate limiter.
        self.check_credentials = check_credentials
        self.refuse = refuse or REFUSALS.get(contract.name, problem_refusal)
        self.violations: list[RequestViolation] = []
        self.checked = 0

    def __call__(self, request: Request, body: bytes) -> Response | None:
        self.checked += 1
        found = check_request(
            self.contract,
            request.method,
            request.url.path,
            parse_qsl(request.url.query, keep_blank_values=True),
            request.headers,
            body,
            credentials=self.check_credentials,
        )
        if not found:
            return None
        self.violations.extend(found)
        logger.info("request refused by contract: %s", found[0])
        return self.refuse(found)


def refusal_status(found: list[RequestViolation]) -> int:
    """401 for missing credentials; 404 for no such operation or a malformed
    path parameter (the path names no resource); 400 for the rest."""
    if found[0].location == "security":
        return 401
    if all(item.location.split(".")[0] in ("operation", "path") for item in found):
        return 404
    return 400


def problem_refusal(found: list[RequestViolation]) -> Response:
    """RFC 7807, with `errors: [{field, reason}]` (the Integrations API)."""
    status = refusal_status(found)
    if status == 404:
        return problem(404, "Not Found", f"no resource at {found[0].request}")
    if status == 401:
        return problem(401, "Unauthorized", found[0].reason)
    errors = [{"field": item.location, "reason": item.reason} for item in found]
    return problem(400, "Bad Request", "the request breaks the contract", errors)


def _platform_refusal(found: list[RequestViolation]) -> Response:
    # The token endpoint answers RFC 6749 errors, the others RFC 7807.
    if urlsplit(found[0].request.split(" ", 1)[1]).path.rstrip("/") == TOKEN_PATH:
        return _oauth_refusal(found)
    return problem_refusal(found)


def _oauth_refusal(found: list[RequestViolation]) -> Response:
    reasons = "; ".join(f"{item.location}: {item.reason}" for item in found)
    return oauth_error(400, "invalid_request", reasons)


def _cognigy_ai_refusal(found: list[RequestViolation]) -> Response:
    # RFC 7807 with Cognigy.AI's code; the token endpoint answers RFC 6749.
    reasons = "; ".join(f"{item.location}: {item.reason}" for item in found)
    request_path = urlsplit(found[0].request.split(" ", 1)[1]).path
    if request_path.rstrip("/") == COGNIGY_AI_TOKEN_PATH:
        return oauth_error(400, "invalid_request", reasons)
    status = refusal_status(found)
    titles = {401: "Unauthorized", 404: "Not Found", 400: "Bad Request"}
    codes = {401: UNAUTHORIZED, 404: NOT_FOUND, 400: INVALID}
    problem = Problem(status, titles[status], reasons, codes[status])
    return problem_response(problem, request_path)


def _open_meteo_refusal(found: list[RequestViolation]) -> Response:
    reason = "; ".join(f"{item.location}: {item.reason}" for item in found)
    return json_response(refusal_status(found), {"error": True, "reason": reason})


def _error_message_refusal(found: list[RequestViolation]) -> Response:
    message = "; ".join(f"{item.location}: {item.reason}" for item in found)
    body = {"error": "invalid_request", "message": message}
    return json_response(refusal_status(found), body)


#: How each API refuses invalid data, in its own documented error format.
REFUSALS: dict[str, Refusal] = {
    "account-balance": _error_message_refusal,
    "cognigy-ai-v2": _cognigy_ai_refusal,
    "integrations-v1": _platform_refusal,
    "open-meteo-forecast": _open_meteo_refusal,
    "order-status": _error_message_refusal,
}


def guard(
    mock: MockApp, contract: Contract, *, check_credentials: bool = True
) -> ContractGuard:
    """Install a contract guard as the mock's request check."""
    installed = ContractGuard(contract, check_credentials=check_credentials)
    mock.request_check = installed
    return installed


class EventSchemaGuard:
    """A receiver's request check: each POSTed JSON body against a JSON Schema.

    The webhook receiver has no OpenAPI contract; its event is described by
    `webhook-event.schema.json` (written with the webhook), used as is.
    """

    def __init__(self, schema_file: str = WEBHOOK_EVENT_SCHEMA) -> None:
        self.name = schema_file
        schema = json.loads((CONTRACTS_DIR / schema_file).read_text("utf-8"))
        self.validator = jsonschema_rs.Draft202012Validator(schema)
        self.violations: list[RequestViolation] = []
        self.checked = 0

    def __call__(self, request: Request, body: bytes) -> Response | None:
        if request.method != "POST":
            return None
        self.checked += 1
        label = f"POST {request.url.path}"
        try:
            event = json.loads(body)
        except ValueError:
            found = [RequestViolation(self.name, label, "body", "is not JSON")]
        else:
            found = [
                RequestViolation(
                    self.name,
                    label,
                    "body/" + "/".join(str(p) for p in error.instance_path),
                    error.message,
                    "/" + "/".join(str(p) for p in error.schema_path),
                )
                for error in self.validator.iter_errors(event)
            ]
        if not found:
            return None
        self.violations.extend(found)
        logger.info("event refused by its schema: %s", found[0])
        reasons = "; ".join(f"{item.location}: {item.reason}" for item in found)
        return json_response(400, {"error": "invalid event", "reasons": reasons})


@dataclass
class EnvironmentGuards:
    """The guards of a `MockEnvironment`'s mocks, and the mocks left unguarded."""

    guards: dict[str, ContractGuard]
    unguarded: list[str]
    webhook: EventSchemaGuard | None = None

    def violations(self) -> list[RequestViolation]:
        found = [item for guard in self.guards.values() for item in guard.violations]
        return found + (self.webhook.violations if self.webhook else [])

    def assert_clean(self) -> None:
        """Raise `ContractViolation` naming every request a contract refused."""
        found = self.violations()
        if found:
            lines = "\n".join(f"  - {item}" for item in found)
            raise ContractViolation(
                f"{len(found)} request(s) broke their contract:\n{lines}\n"
                "(a test that sends such requests on purpose is marked "
                "`contract_violations`)"
            )


def guard_environment(environment: MockEnvironment) -> EnvironmentGuards:
    """Guard the platform mocks, the webhook receiver and every external mock
    that has a contract; the hosts without one are listed in `unguarded`."""
    webhook = EventSchemaGuard()
    environment.webhook.request_check = webhook
    guards = {
        "platform": guard(
            environment.platform,
            load_contract("integrations-v1"),
            check_credentials=False,
        ),
        "cognigy-ai": guard(
            environment.cognigy_ai,
            load_contract("cognigy-ai-v2"),
            check_credentials=False,
        ),
    }
    unguarded: list[str] = []
    for host, mock in environment.externals.items():
        contract = contract_for_host(host)
        if contract is None:
            unguarded.append(host)
        else:
            guards[host] = guard(mock, contract)
    return EnvironmentGuards(guards, unguarded, webhook)
