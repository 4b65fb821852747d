"""The mock Cognigy platform (Integrations API, profile `integrations-v1`).

Stateful like the real one: issued tokens expire, scopes are checked,
integrations are stored, a duplicate name for a bot is refused, a bot of
another workspace gets 403, and rate limiting answers 429 with Retry-After.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from harness.models import IntegrationDefinition
from harness.settings import DEFAULT_SCOPES
from mocks.base import MockApp, json_response
from mocks.faults import FaultPlan

TOKEN_PATH = "/api/v1/auth/oauth/token"  # noqa: S105 - a path
INTEGRATIONS_PATH = "/api/v1/integrations"
WRITE_SCOPE = "cognigy:integrations:write"
READ_SCOPE = "cognigy:platform:read"

#: Credentials the mock accepts when the settings name none (documented).
DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"  # noqa: S105 - the documented demo value


@dataclass
class RateLimit:
    """At most `requests` per `window_seconds`; then 429 with Retry-After."""

    requests: int
    window_seconds: float
    seen: deque[float] = field(default_factory=deque)

    @classmethod
    def parse(cls, spec: str) -> RateLimit:
        """`N/SECONDS`, e.g. `100/60`; the window is required (no default)."""
        count, _, window = spec.partition("/")
        try:
            limit = cls(int(count), float(window))
        except ValueError:
            limit = None
        if limit is None or limit.requests < 1 or limit.window_seconds <= 0:
            raise ValueError(
                f"rate limit {spec!r} is not N/SECONDS with N >= 1 and SECONDS > 0"
            )
        return limit

    def retry_after(self, now: float) -> float | None:
        """None when the request may pass, else the seconds until it could."""
        while self.seen and self.seen[0] <= now - self.window_seconds:
            self.seen.popleft()
        if len(self.seen) >= self.requests:
            return self.seen[0] + self.window_seconds - now
        self.seen.append(now)
        return None


def problem(
    status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
) -> Response:
    """An RFC 7807 answer."""
    body: dict[str, Any] = {
        "type": f"https://docs.cognigy.com/errors/{status}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/problem+json",
    )


def oauth_error(status: int, error: str, description: str) -> Response:
    """An RFC 6749 token-endpoint error."""
    return json_response(status, {"error": error, "error_description": description})


def token_form(body: bytes, authorization: str = "") -> dict[str, str]:
    """A form-encoded token request as a dict (first value of each field).

    Client credentials sent by HTTP Basic (RFC 6749 2.3.1) land in the same
    `client_id` / `client_secret` fields as credentials in the body.
    """
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            pair = ""
        client_id, _, client_secret = pair.partition(":")
        form["client_id"] = unquote_plus(client_id)
        form["client_secret"] = unquote_plus(client_secret)
    return form


def client_credentials_error(
    form: dict[str, str], client_id: str, client_secret: str
) -> Response | None:
    """None when a token request is a valid client-credentials grant."""
    if form.get("grant_type") != "client_credentials":
        return oauth_error(
            400, "unsupported_grant_type", "only client_credentials is supported"
        )
    secret_ok = secrets.compare_digest(
        form.get("client_secret", "").encode(), client_secret.encode()
    )
    if form.get("client_id") != client_id or not secret_ok:
        return oauth_error(401, "invalid_client", "client authentication failed")
    return None


class CognigyMock(MockApp):
    """The platform's token and integrations endpoints, in memory."""

    def __init__(
        self,
        *,
        client_id: str = DEMO_CLIENT_ID,
        client_secret: str = DEMO_CLIENT_SECRET,
        allowed_scopes: str = DEFAULT_SCOPES,
        expires_in: int = 3600,
        foreign_bots: frozenset[str] = frozenset(),
        rate_limit: RateLimit | None = None,
        fault_plan: FaultPlan | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(fault_plan)
        self.client_id = client_id
        self.client_secret = client_secret
        self.allowed_scopes = set(allowed_scopes.split())
        self.expires_in = expires_in
        self.foreign_bots = foreign_bots
        self.rate_limit = rate_limit
        self.clock = clock
        self.tokens: dict[str, tuple[float, set[str]]] = {}
        self.integrations: dict[str, dict[str, Any]] = {}
        self.token_requests = 0

    async def handle(self, request: Request, body: bytes) -> Response:
        if self.rate_limit is not None:
            wait = self.rate_limit.retry_after(self.clock())
            if wait is not None:
                response = problem(429, "Too Many Requests", "rate limit exceeded")
                response.headers["Retry-After"] = str(max(1, round(wait + 0.5)))
                return response

        path = request.url.path.rstrip("/")
        if path == TOKEN_PATH and request.method == "POST":
            return self._token(body, request.headers.get("authorization", ""))
        if path == INTEGRATIONS_PATH:
            if request.method == "POST":
                return self._authorized(request, WRITE_SCOPE) or self._create(body)
            if request.method == "GET":
                return self._authorized(request, READ_SCOPE) or self._list(request)
        elif path.startswith(INTEGRATIONS_PATH + "/"):
            integration_id = path.removeprefix(INTEGRATIONS_PATH + "/")
            if request.method == "GET":
                denied = self._authorized(request, READ_SCOPE)
                return denied or self._read(integration_id)
            if request.method == "DELETE":
                denied = self._authorized(request, WRITE_SCOPE)
                return denied or self._delete(integration_id)
        return problem(404, "Not Found", f"no route {request.method} {path}")

    def _token(self, body: bytes, authorization: str) -> Response:
        self.token_requests += 1
        form = token_form(body, authorization)
        refused = client_credentials_error(form, self.client_id, self.client_secret)
        if refused is not None:
            return refused
        requested = set(
            form.get("scope", " ".join(sorted(self.allowed_scopes))).split()
        )
        if not requested <= self.allowed_scopes:
            unknown = " ".join(sorted(requested - self.allowed_scopes))
            return oauth_error(400, "invalid_scope", f"scope not allowed: {unknown}")

        token = "mock_" + secrets.token_urlsafe(24)
        self.tokens[token] = (self.clock() + self.expires_in, requested)
        return json_response(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "scope": " ".join(sorted(requested)),
            },
        )

    def _authorized(self, request: Request, scope: str) -> Response | None:
        """None when the bearer token is valid and has the scope, else the error."""
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip()
        issued = self.tokens.get(token)
        if not header.startswith("Bearer ") or issued is None:
            return problem(401, "Unauthorized", "missing or unknown bearer token")
        expires_at, scopes = issued
        if self.clock() >= expires_at:
            return problem(401, "Unauthorized", "the access token has expired")
        if scope not in scopes:
            return problem(403, "Forbidden", f"the token lacks the scope {scope}")
        return None

    def _create(self, body: bytes) -> Response:
        try:
            definition = IntegrationDefinition.model_validate_json(body)
        except ValidationError as exc:
            errors = [
                {
                    "field": ".".join(str(p) for p in item["loc"]) or "body",
                    "reason": item["msg"],
                }
                for item in exc.errors(include_url=False, include_input=False)
            ]
            return problem(400, "Bad Request", "invalid integration definition", errors)
        if definition.bot_id in self.foreign_bots:
            return problem(
                403,
                "Forbidden",
                f"bot {definition.bot_id} belongs to another workspace",
            )
        for stored in self.integrations.values():
            if (
                stored["bot_id"] == definition.bot_id
                and stored["name"] == definition.name
            ):
                return problem(
                    409,
                    "Conflict",
                    f"an integration named {definition.name!r} exists for this bot",
                )
        integration = definition.registration_payload()
        integration["id"] = f"int_{uuid.uuid4()}"
        integration["created_at"] = (
            datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        self.integrations[integration["id"]] = integration
        return json_response(201, integration)

    def _list(self, request: Request) -> Response:
        bot_id = request.query_params.get("bot_id")
        name = request.query_params.get("name")
        items = [
            item
            for item in self.integrations.values()
            if (bot_id is None or item["bot_id"] == bot_id)
            and (name is None or item["name"] == name)
        ]
        return json_response(200, {"items": items, "total": len(items)})

    def _read(self, integration_id: str) -> Response:
        stored = self.integrations.get(integration_id)
        if stored is None:
            return problem(404, "Not Found", f"no integration {integration_id}")
        return json_response(200, stored)

    def _delete(self, integration_id: str) -> Response:
        if self.integrations.pop(integration_id, None) is None:
            return problem(404, "Not Found", f"no integration {integration_id}")
        return Response(status_code=204)
