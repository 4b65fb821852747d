"""The mock Cognigy.AI REST API v2.0 (profile `cognigy-ai-v2`).

The subset the harness uses, answering with the real API's shapes: lists as
`{items, total, nextCursor, previousCursor}` when the client sends
`Accept: application/json` and as HAL (`_embedded`, `_links`) when it does
not; RFC 7807 errors with Cognigy's internal `code` (1002 not found, 1004
conflict, 1005 invalid argument; 1000 for authentication and 1006 for the
rate limit are this mock's own choice); 204 on PATCH and DELETE; 403 from the
"CDN" for a GET that carries a body; 429 with Retry-After under a rate limit;
an API key (`X-API-Key` or `api_key`) or an OAuth2 bearer token. Ids are 24
hex digits, timestamps Unix seconds. State lives in memory: projects, flows
with their charts, Connections and the audit events of every write.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from harness.platform_v2 import API_KEY_X_KEY_AUTH, API_PREFIX, BASIC_AUTH, TOKEN_PATH
from mocks.base import MockApp, json_response
from mocks.cognigy import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    RateLimit,
    client_credentials_error,
    token_form,
)
from mocks.faults import FaultPlan
from mocks.journal import Journal
from mocks.scrub import Scrubber

#: The API key the mock accepts when the settings name none (documented).
DEMO_API_KEY = "demo-cognigy-api-key"

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_SKIP = 1_000_000
_SORT = re.compile(r"[A-Za-z_]+:(asc|desc)")
_OBJECT_ID = re.compile(r"[0-9a-f]{24}")
NOT_FOUND, CONFLICT, INVALID = 1002, 1004, 1005
UNAUTHORIZED, RATE_LIMITED = 1000, 1006

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
AUTH_TYPES = frozenset({"none", "basic", "oAuth2", "apiKeyAuthKey", "apiKeyXKey"})
PAYLOAD_TYPES = frozenset({"json", "text", "form-data"})
NODE_MODES = frozenset({"append", "prepend"})
# The public field sets; the type strings beside http_basic are the harness's.
CONNECTION_FIELDS = {
    BASIC_AUTH.connection_type: frozenset({"username", "password"}),
    API_KEY_X_KEY_AUTH.connection_type: frozenset({"authApiKey"}),
    "http_oAuth2": frozenset(
        {"oAuth2Url", "oAuth2ClientId", "oAuth2ClientSecret", "oAuth2Scope"}
    ),
}
CONNECTION_SECRET_FIELDS = ("password", "authApiKey", "oAuth2ClientSecret")
NODE_CONNECTIONS = {auth.auth_type: auth for auth in (BASIC_AUTH, API_KEY_X_KEY_AUTH)}

CDN_403 = (
    "<html><head><title>403 ERROR</title></head><body><h1>403 ERROR</h1>"
    "<h2>The request could not be satisfied.</h2>Bad request.</body></html>"
)

Handler = Callable[[Request, Any, re.Match[str]], Awaitable[Response]]


class Problem(Exception):
    """An RFC 7807 answer raised from deep inside a handler."""

    def __init__(self, status: int, title: str, detail: str, code: int) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.code = status, title, detail, code


def new_id() -> str:
    """A 24-hex id, like the platform's."""
    return secrets.token_hex(12)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _offset(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        return max(0, int(text.removeprefix("o:")))
    except ValueError:
        raise Problem(
            400, "Bad Request", f"invalid cursor {cursor!r}", INVALID
        ) from None


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        detail = f"{name} must be an integer from {low} to {high}"
        raise Problem(400, "Bad Request", detail, INVALID)
    return int(raw)


def _project_param(request: Request) -> str | None:
    """The `projectId` filter of a list, which must be an id when given."""
    project = request.query_params.get("projectId")
    if project is not None and not _OBJECT_ID.fullmatch(project):
        raise _invalid(f"projectId {project!r} is not a 24-hex id")
    return project


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


class CognigyAiMock(MockApp):
    """Projects, flows, charts, Connections and audit events, in memory."""

    def __init__(
        self,
        *,
        api_key: str = DEMO_API_KEY,
        client_id: str = DEMO_CLIENT_ID,
        client_secret: str = DEMO_CLIENT_SECRET,
        expires_in: int = 3600,
        node_timeout_cap_ms: int = 15_000,
        rate_limit: RateLimit | None = None,
        fault_plan: FaultPlan | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(fault_plan)
        # A Connection's fields are credentials: the journal keeps them masked.
        scrubber = Scrubber().extended(json_keys=CONNECTION_SECRET_FIELDS)
        self.journal = Journal(scrubber=scrubber)
        self.api_key = api_key
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.node_timeout_cap_ms = node_timeout_cap_ms
        self.rate_limit = rate_limit
        self.clock = clock
        self.reset()
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"/projects"), self._list_projects),
            ("GET", re.compile(r"/flows"), self._list_flows),
            ("GET", re.compile(r"/flows/(?P<flow>\w+)/chart"), self._chart),
            ("POST", re.compile(r"/flows/(?P<flow>\w+)/chart/nodes"), self._add_node),
            (
                "GET",
                re.compile(r"/flows/(?P<flow>\w+)/chart/nodes/(?P<node>\w+)"),
                self._read_node,
            ),
            (
                "PATCH",
                re.compile(r"/flows/(?P<flow>\w+)/chart/nodes/(?P<node>\w+)"),
                self._update_node,
            ),
            (
                "DELETE",
                re.compile(r"/flows/(?P<flow>\w+)/chart/nodes/(?P<node>\w+)"),
                self._delete_node,
            ),
            ("GET", re.compile(r"/connections"), self._list_connections),
            ("POST", re.compile(r"/connections"), self._add_connection),
            ("GET", re.compile(r"/connections/(?P<id>\w+)"), self._read_connection),
            ("PATCH", re.compile(r"/connections/(?P<id>\w+)"), self._update_connection),
            (
                "DELETE",
                re.compile(r"/connections/(?P<id>\w+)"),
                self._delete_connection,
            ),
            ("GET", re.compile(r"/auditevents"), self._list_audit_events),
        ]

    # State a test or the demo sets up.

    def reset(self) -> None:
        """Forget everything: one project with one flow, as on a new tenant."""
        self.tokens: dict[str, float] = {}
        self.token_requests = 0
        self.projects: dict[str, dict[str, Any]] = {}
        self.flows: dict[str, dict[str, Any]] = {}
        self.charts: dict[str, list[dict[str, Any]]] = {}
        self.connections: dict[str, dict[str, Any]] = {}
        self.audit_events: list[dict[str, Any]] = []
        self.journal.clear()
        self.project_id = self.add_project("Demo project")
        self.flow_id = self.add_flow(self.project_id, "Main")

    def now(self) -> int:
        return int(time.time())

    def add_project(self, name: str) -> str:
        project_id = new_id()
        self.projects[project_id] = self._stamped({"_id": project_id, "name": name})
        return project_id

    def add_flow(self, project_id: str, name: str) -> str:
        """A flow whose chart holds its Start node, as a new flow's does."""
        flow_id = new_id()
        flow = {"_id": flow_id, "name": name, "projectId": project_id}
        self.flows[flow_id] = self._stamped(flow)
        start = {"_id": new_id(), "type": "start", "label": "Start", "config": {}}
        self.charts[flow_id] = [self._stamped(start)]
        return flow_id

    def nodes_labelled(self, label: str, flow_id: str | None = None) -> list[Any]:
        return [n for n in self.charts[flow_id or self.flow_id] if n["label"] == label]

    def _stamped(self, resource: dict[str, Any]) -> dict[str, Any]:
        resource["createdAt"] = resource["lastChanged"] = self.now()
        return resource

    def _audit(self, action: str, resource: str, resource_id: str) -> None:
        event = {"type": action, "resource": resource, "resourceId": resource_id}
        self.audit_events.append(self._stamped({"_id": new_id(), **event}))

    # The request path: CDN, rate limit, token endpoint, authentication, route.

    async def handle(self, request: Request, body: bytes) -> Response:
        if request.method == "GET" and body:
            return Response(CDN_403, 403, media_type="text/html")
        if self.rate_limit is not None:
            wait = self.rate_limit.retry_after(self.clock())
            if wait is not None:
                response = self._problem(
                    request,
                    Problem(429, "Too Many Requests", "slow down", RATE_LIMITED),
                )
                response.headers["Retry-After"] = str(max(1, round(wait + 0.5)))
                return response

        path = request.url.path.rstrip("/")
        if path == TOKEN_PATH and request.method == "POST":
            return self._token(body)
        try:
            self._authenticate(request)
            return await self._route(request, path, body)
        except Problem as problem:
            return self._problem(request, problem)

    async def _route(self, request: Request, path: str, body: bytes) -> Response:
        inner = path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX) else None
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(inner or "")
            if inner is not None and match and request.method == method:
                return await handler(request, _json_body(body), match)
        detail = f"no route {request.method} {path}"
        raise Problem(404, "Not Found", detail, NOT_FOUND)

    def _token(self, body: bytes) -> Response:
        self.token_requests += 1
        form = token_form(body)
        refused = client_credentials_error(form, self.client_id, self.client_secret)
        if refused is not None:
            return refused
        token = "mock_" + secrets.token_urlsafe(24)
        self.tokens[token] = self.clock() + self.expires_in
        answer = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        return json_response(200, answer)

    def _authenticate(self, request: Request) -> None:
        key = request.headers.get("x-api-key") or request.query_params.get("api_key")
        if key is not None:
            if secrets.compare_digest(key.encode(), self.api_key.encode()):
                return
            raise Problem(401, "Unauthorized", "invalid API key", UNAUTHORIZED)
        header = request.headers.get("authorization", "")
        expires_at = self.tokens.get(header.removeprefix("Bearer ").strip())
        if not header.startswith("Bearer ") or expires_at is None:
            detail = "an X-API-Key or a bearer token is required"
            raise Problem(401, "Unauthorized", detail, UNAUTHORIZED)
        if self.clock() >= expires_at:
            raise Problem(
                401, "Unauthorized", "the access token has expired", UNAUTHORIZED
            )

    # Answers: JSON or HAL by Accept, RFC 7807 for errors.

    def _problem(self, request: Request, problem: Problem) -> Response:
        return problem_response(problem, request.url.path)

    def _resource(self, request: Request, status: int, resource: Any) -> Response:
        if _wants_json(request):
            return json_response(status, resource)
        hal = {**resource, "_links": {"self": {"href": str(request.url.path)}}}
        return _hal_response(status, hal)

    def _list(
        self, request: Request, name: str, items: list[dict[str, Any]]
    ) -> Response:
        """One page of a list, filtered, sorted and cut by the query."""
        items = _filtered(items, request.query_params.get("filter"))
        items = _sorted(items, request.query_params.get("sort"))
        limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _int_param(request, "skip", 0, 0, MAX_SKIP)
        for key in ("next", "previous"):
            if key in request.query_params:
                offset = _offset(request.query_params[key])

        page = items[offset : offset + limit]
        has_next = offset + limit < len(items)
        next_cursor = _cursor(offset + limit) if has_next else None
        previous = _cursor(max(0, offset - limit)) if offset > 0 else None
        if _wants_json(request):
            body = {
                "items": page,
                "total": len(items),
                "nextCursor": next_cursor,
                "previousCursor": previous,
            }
            return json_response(200, body)
        # A link keeps the query (limit, sort, filter) and swaps the position.
        here = request.url.remove_query_params(["next", "previous", "skip"])
        links = {"self": {"href": str(request.url)}}
        if next_cursor:
            links["next"] = {"href": str(here.include_query_params(next=next_cursor))}
        if previous:
            links["previous"] = {
                "href": str(here.include_query_params(previous=previous))
            }
        hal = {"_embedded": {name: page}, "_links": links, "total": len(items)}
        return _hal_response(200, hal)

    # Projects, flows and charts.

    async def _list_projects(self, request: Request, body: Any, match: Any) -> Response:
        return self._list(request, "projects", list(self.projects.values()))

    async def _list_flows(self, request: Request, body: Any, match: Any) -> Response:
        project = _project_param(request)
        flows = [f for f in self.flows.values() if project in (None, f["projectId"])]
        return self._list(request, "flows", flows)

    def _nodes(self, flow_id: str) -> list[dict[str, Any]]:
        if flow_id not in self.charts:
            raise Problem(404, "Not Found", f"no flow {flow_id}", NOT_FOUND)
        return self.charts[flow_id]

    def _node(self, flow_id: str, node_id: str) -> dict[str, Any]:
        for node in self._nodes(flow_id):
            if node["_id"] == node_id:
                return node
        raise Problem(
            404, "Not Found", f"no node {node_id} in flow {flow_id}", NOT_FOUND
        )

    async def _chart(self, request: Request, body: Any, match: Any) -> Response:
        nodes = self._nodes(match["flow"])
        relations = [
            {"node": node["_id"], "next": following["_id"] if following else None}
            for node, following in zip(nodes, [*nodes[1:], None], strict=True)
        ]
        return self._resource(request, 200, {"nodes": nodes, "relations": relations})

    async def _add_node(self, request: Request, body: Any, match: Any) -> Response:
        nodes = self._nodes(match["flow"])
        for field in ("type", "extension", "label", "target", "mode"):
            if not isinstance(body.get(field), str):
                raise _invalid(f"{field} is required (a string)")
        if body["mode"] not in NODE_MODES:
            raise _invalid(f"mode must be one of {sorted(NODE_MODES)}")
        target = self._node(match["flow"], body["target"])
        config = body.get("config", {})
        self._check_node_config(body["type"], config)

        node = {
            "_id": new_id(),
            "type": body["type"],
            "extension": body["extension"],
            "label": body["label"],
            "comment": body.get("comment", ""),
            "config": config,
        }
        at = nodes.index(target) + (1 if body["mode"] == "append" else 0)
        nodes.insert(at, self._stamped(node))
        self._audit("createNode", "node", node["_id"])
        return self._resource(request, 201, node)

    async def _read_node(self, request: Request, body: Any, match: Any) -> Response:
        return self._resource(request, 200, self._node(match["flow"], match["node"]))

    async def _update_node(self, request: Request, body: Any, match: Any) -> Response:
        node = self._node(match["flow"], match["node"])
        _strings(body, ("label", "comment"))
        update = body.get("config", {})
        if not isinstance(update, dict):
            raise _invalid("config must be an object")
        config = {**node["config"], **update}
        self._check_node_config(node["type"], config)
        node.update({k: body[k] for k in ("label", "comment") if k in body})
        node["config"] = config
        node["lastChanged"] = self.now()
        self._audit("updateNode", "node", node["_id"])
        return Response(status_code=204)

    async def _delete_node(self, request: Request, body: Any, match: Any) -> Response:
        nodes = self._nodes(match["flow"])
        node = self._node(match["flow"], match["node"])
        if node["type"] == "start":
            raise _invalid("the Start node cannot be deleted")
        nodes.remove(node)
        self._audit("deleteNode", "node", node["_id"])
        return Response(status_code=204)

    def _check_node_config(self, node_type: str, config: Any) -> None:
        """What the platform checks of an HTTP Request node's config."""
        if not isinstance(config, dict):
            raise _invalid("config must be an object")
        if node_type != "httpRequest":
            return
        if config.get("type") not in METHODS:
            raise _invalid(f"config.type must be one of {sorted(METHODS)}")
        if not isinstance(config.get("url"), str) or not config["url"]:
            raise _invalid("config.url is required")
        timeout = config.get("timeout", 8000)
        if not isinstance(timeout, int) or not 0 < timeout <= self.node_timeout_cap_ms:
            detail = f"config.timeout must be 1..{self.node_timeout_cap_ms} ms"
            raise _invalid(detail)
        if config.get("payloadType", "json") not in PAYLOAD_TYPES:
            raise _invalid(f"config.payloadType must be one of {sorted(PAYLOAD_TYPES)}")
        auth_type = config.get("authType", "none")
        if auth_type not in AUTH_TYPES:
            raise _invalid(f"config.authType must be one of {sorted(AUTH_TYPES)}")
        auth = NODE_CONNECTIONS.get(auth_type)
        if auth is not None:
            connection = self.connections.get(config.get(auth.connection_key, ""))
            if connection is None or connection["type"] != auth.connection_type:
                key, kind = auth.connection_key, auth.connection_type
                raise _invalid(f"config.{key}: no {kind} Connection")

    # Connections: the secret fields are stored, never answered.

    def _connection(self, connection_id: str) -> dict[str, Any]:
        if connection_id not in self.connections:
            raise Problem(404, "Not Found", f"no connection {connection_id}", NOT_FOUND)
        return self.connections[connection_id]

    @staticmethod
    def _public(connection: dict[str, Any]) -> dict[str, Any]:
        shown = {k: v for k, v in connection.items() if k != "fields"}
        shown["fieldNames"] = sorted(connection["fields"])
        return shown

    async def _list_connections(
        self, request: Request, body: Any, match: Any
    ) -> Response:
        project = _project_param(request)
        stored = self.connections.values()
        items = [self._public(c) for c in stored if project in (None, c["projectId"])]
        return self._list(request, "connections", items)

    async def _add_connection(
        self, request: Request, body: Any, match: Any
    ) -> Response:
        for field in ("projectId", "name", "type", "extension"):
            if not isinstance(body.get(field), str):
                raise _invalid(f"{field} is required (a string)")
        if body["projectId"] not in self.projects:
            raise Problem(
                404, "Not Found", f"no project {body['projectId']}", NOT_FOUND
            )
        fields = _connection_fields(body["type"], body.get("fields"), complete=True)
        for stored in self.connections.values():
            if (stored["projectId"], stored["name"]) == (
                body["projectId"],
                body["name"],
            ):
                detail = f"a connection named {body['name']!r} exists in the project"
                raise Problem(409, "Conflict", detail, CONFLICT)

        connection = {
            "_id": new_id(),
            "name": body["name"],
            "type": body["type"],
            "extension": body["extension"],
            "projectId": body["projectId"],
            "fields": fields,
        }
        self.connections[connection["_id"]] = self._stamped(connection)
        self._audit("createConnection", "connection", connection["_id"])
        return self._resource(request, 201, self._public(connection))

    async def _read_connection(
        self, request: Request, body: Any, match: Any
    ) -> Response:
        connection = self._public(self._connection(match["id"]))
        return self._resource(request, 200, connection)

    async def _update_connection(
        self, request: Request, body: Any, match: Any
    ) -> Response:
        connection = self._connection(match["id"])
        _strings(body, ("name",))
        if body.get("name") == "":
            raise _invalid("name must not be empty")
        if "fields" in body:
            update = _connection_fields(connection["type"], body["fields"])
            connection["fields"] = {**connection["fields"], **update}
        connection["name"] = body.get("name", connection["name"])
        connection["lastChanged"] = self.now()
        self._audit("updateConnection", "connection", connection["_id"])
        return Response(status_code=204)

    async def _delete_connection(
        self, request: Request, body: Any, match: Any
    ) -> Response:
        self._connection(match["id"])
        del self.connections[match["id"]]
        self._audit("deleteConnection", "connection", match["id"])
        return Response(status_code=204)

    async def _list_audit_events(
        self, request: Request, body: Any, match: Any
    ) -> Response:
        return self._list(request, "auditevents", list(self.audit_events))


def problem_response(problem: Problem, instance: str) -> Response:
    """An RFC 7807 answer with Cognigy's `code` and a trace id."""
    body = {
        "type": f"https://docs.cognigy.com/errors/{problem.code}",
        "title": problem.title,
        "detail": problem.detail,
        "instance": instance,
        "status": problem.status,
        "traceId": new_id(),
        "code": problem.code,
        "details": {},
    }
    return Response(
        json.dumps(body), problem.status, media_type="application/problem+json"
    )


def _strings(body: dict[str, Any], names: tuple[str, ...]) -> None:
    """Refuse a write whose optional text fields are not strings."""
    for name in names:
        if name in body and not isinstance(body[name], str):
            raise _invalid(f"{name} must be a string")


def _invalid(detail: str) -> Problem:
    return Problem(400, "Bad Request", detail, INVALID)


def _json_body(body: bytes) -> Any:
    """The JSON object a write carries; {} for none."""
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        raise _invalid("the body is not JSON") from None
    if not isinstance(parsed, dict):
        raise _invalid("the body must be a JSON object")
    return parsed


def _connection_fields(kind: str, fields: Any, *, complete: bool = False) -> Any:
    """The fields of a Connection type: strings, all of them on create."""
    if kind not in CONNECTION_FIELDS:
        raise _invalid(f"unknown connection type {kind!r}")
    expected = CONNECTION_FIELDS[kind]
    if not isinstance(fields, dict) or not all(
        isinstance(v, str) for v in fields.values()
    ):
        raise _invalid("fields must be an object of strings")
    unknown, missing = set(fields) - expected, expected - set(fields)
    if unknown or (complete and missing):
        detail = f"fields of {kind}: expected {sorted(expected)}, got {sorted(fields)}"
        raise _invalid(detail)
    return dict(fields)


def _filtered(items: list[dict[str, Any]], text: str | None) -> list[dict[str, Any]]:
    if not text:
        return items
    needle = text.lower()
    return [
        item
        for item in items
        if needle in str(item.get("name", item.get("label", ""))).lower()
    ]


def _sorted(items: list[dict[str, Any]], spec: str | None) -> list[dict[str, Any]]:
    if spec is None:
        return items
    if not _SORT.fullmatch(spec):
        raise _invalid(f"sort {spec!r} is not field:asc or field:desc")
    field, _, direction = spec.partition(":")
    return sorted(
        items, key=lambda item: str(item.get(field, "")), reverse=direction == "desc"
    )


def _hal_response(status: int, body: Any) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/hal+json",
    )
