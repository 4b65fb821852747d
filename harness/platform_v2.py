"""Step 2 on the real Cognigy.AI REST API v2.0 (profile `cognigy-ai-v2`).

Registering a definition there means two resources: a Connection that holds
the external API's credentials (found by name, else created), and an HTTP
Request node in the target Flow that carries the method, URL, headers, payload
and auth of the definition. A node whose label is the definition's name is
updated in place, never added twice. The node's id is the integration id.

Some facts the node needs are not public. Each is chosen once, in
`BASIC_AUTH`, `API_KEY_X_KEY_AUTH` and `CONTEXT_ROOTS` below, and the README
lists them as assumptions to confirm against a real tenant.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from harness.errors import PlatformError, RegistrationRefusedError, SecretMissingError
from harness.models import (
    BODYLESS_METHODS,
    AuthType,
    BodyTransform,
    IntegrationConfig,
    IntegrationDefinition,
)
from harness.platform import Registration, problem_error
from harness.retry import parse_retry_after
from harness.settings import HarnessSettings
from harness.tokens import TokenProvider

logger = logging.getLogger(__name__)

API_PREFIX = "/new/v2.0"
#: The OAuth2 token endpoint sits beside the API, without the `/new` prefix.
TOKEN_PATH = "/auth/oauth2/token"  # noqa: S105 - a path
NODE_EXTENSION = "@cognigy/basic-nodes"
HTTP_REQUEST_NODE = "httpRequest"
#: Where the node stores the answer: the context, under the definition's name.
STORE_LOCATION = "context"
LIST_LIMIT = 100

# Cognigy's own client retries these; 511 asks for a login, waiting won't help.
RETRYABLE_STATUSES = frozenset({408, 429} | set(range(500, 600))) - {511}
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
ATTEMPTS = 3
# A Retry-After longer than this is not slept through: the call fails instead.
RETRY_AFTER_CAP_SECONDS = 60.0

Sleep = Callable[[float], Awaitable[None]]
SecretLookup = Callable[[str], SecretStr | None]


@dataclass(frozen=True)
class NodeAuth:
    """How an HTTP Request node expresses one kind of credential."""

    #: The node config's `authType` (public).
    auth_type: str
    #: The Connection's `type` (only `http_basic` is public).
    connection_type: str
    #: The node-config key that holds the Connection's id (not public).
    connection_key: str


# Assumptions to confirm on a real tenant (README, "Assumptions"): the
# Connection type string of API-key auth and the key naming the Connection.
BASIC_AUTH = NodeAuth("basic", "http_basic", "basicConnection")
API_KEY_X_KEY_AUTH = NodeAuth("apiKeyXKey", "http_apiKeyXKey", "apiKeyXKeyConnection")

#: Where the harness's bot context lives in a Flow, for CognigyScript.
CONTEXT_ROOTS = {
    "bot.payload": "input.data",
    "user_id": "input.userId",
    "session_id": "input.sessionId",
    "context": "context",
}
_DOTTED_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def node_auth(config: IntegrationConfig) -> NodeAuth | None:
    """The node's auth for a definition, None for `none`; refuses the rest."""
    if config.auth_type is AuthType.NONE:
        return None
    if config.auth_type is AuthType.BASIC:
        return BASIC_AUTH
    if config.auth_type is AuthType.BEARER:
        raise RegistrationRefusedError(
            "auth_type bearer: an HTTP Request node has no bearer-token auth, so "
            "the token would have to be written into the node's headers in clear; "
            "use api_key with auth_header_name X-API-Key, basic or none"
        )
    if config.auth_header_name.lower() == "x-api-key":
        return API_KEY_X_KEY_AUTH
    raise RegistrationRefusedError(
        f"auth_type api_key in header {config.auth_header_name}: an HTTP Request "
        "node sends an API key from a Connection only as X-API-Key; any other "
        "header would hold the key in clear"
    )


def cognigy_script(selector: str) -> str:
    """The CognigyScript of a `$input` selector, or a refusal saying why."""
    if _DOTTED_PATH.match(selector):
        for root, script in CONTEXT_ROOTS.items():
            if selector == root or selector.startswith(root + "."):
                return script + selector[len(root) :]
    known = ", ".join(CONTEXT_ROOTS)
    raise RegistrationRefusedError(
        f"$input {selector!r}: a node has no JMESPath; only dotted paths under "
        f"{known} translate to CognigyScript"
    )


def _text(template: Any) -> str:
    """A literal or `{"$input": ...}` as the text of a node field."""
    if isinstance(template, dict) and "$input" in template:
        return "{{" + cognigy_script(template["$input"]) + "}}"
    return str(template)


def _payload(template: Any, where: str = "body") -> Any:
    """A body template as node JSON: each `$input` becomes a `$cs` script."""
    if isinstance(template, list):
        return [_payload(item, f"{where}[{i}]") for i, item in enumerate(template)]
    if not isinstance(template, dict):
        return template
    if "$input" not in template:
        return {
            key: _payload(value, f"{where}.{key}") for key, value in template.items()
        }

    merges = template.get("transform") == BodyTransform.JSON_MERGE.value
    if merges and set(template) - {"$input", "transform"}:
        raise RegistrationRefusedError(
            f"request_mapping.{where}: a node cannot merge the bot's object into "
            "template keys; select the whole object or drop the other keys"
        )
    script = cognigy_script(template["$input"])
    return {"$cs": {"script": script, "type": "object"}}


def node_config(
    definition: IntegrationDefinition, cap_seconds: float
) -> dict[str, Any]:
    """The HTTP Request node's config, without its Connection reference.

    Refuses (nothing is sent) what the node cannot hold: a timeout over the
    cap, an auth type it cannot express, a selector CognigyScript cannot say.
    """
    config = definition.config
    if config.timeout_seconds > cap_seconds:
        raise RegistrationRefusedError(
            f"timeout_seconds {config.timeout_seconds:g} exceeds the {cap_seconds:g} s "
            "an HTTP Request node may wait (COGNIGY_NODE_TIMEOUT_CAP_SECONDS)"
        )
    auth = node_auth(config)
    mapping = config.request_mapping

    url = config.url
    for name, template in mapping.path.items():
        url = url.replace("{" + name + "}", _text(template))
    query = "&".join(f"{name}={_text(t)}" for name, t in mapping.query.items())
    if query:
        url += ("&" if "?" in url else "?") + query
    headers = dict(config.headers)
    headers.update({name: _text(t) for name, t in mapping.headers.items()})

    node: dict[str, Any] = {
        "type": config.method.value,
        "url": url,
        "headers": headers,
        "timeout": round(config.timeout_seconds * 1000),
        "authType": auth.auth_type if auth else "none",
        "storeLocation": STORE_LOCATION,
        "contextKey": definition.name,
        "async": False,
    }
    if config.method not in BODYLESS_METHODS and mapping.body is not None:
        node["payloadType"] = "json"
        node["payloadJSON"] = _payload(mapping.body)
    return node


def connection_name(config: IntegrationConfig, auth: NodeAuth) -> str:
    """One Connection per credential: named by where the secret comes from."""
    user = f" {config.username}" if auth is BASIC_AUTH else ""
    return f"cognigy-harness {config.secret_env}{user} ({auth.connection_type})"


def connection_fields(
    config: IntegrationConfig, auth: NodeAuth, secret: SecretStr
) -> dict[str, str]:
    if auth is BASIC_AUTH:
        return {
            "username": config.username or "",
            "password": secret.get_secret_value(),
        }
    return {"authApiKey": secret.get_secret_value()}


def _iso(seconds: Any) -> str:
    """A Unix-seconds timestamp as ISO-8601, like the other profile's."""
    if not isinstance(seconds, int | float):
        return ""
    when = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
    return when.replace("+00:00", "Z")


class CognigyAiClient:
    """The Cognigy.AI v2.0 client: Connections and HTTP Request nodes.

    Every call sends `Accept: application/json` (else lists come as HAL) and
    either `X-API-Key` or an OAuth2 bearer token. 408, 429 and 5xx but 511
    are retried, honouring Retry-After, for idempotent methods only.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_url: str,
        *,
        api_key: SecretStr | None = None,
        tokens: TokenProvider | None = None,
        project_id: str | None = None,
        flow_id: str | None = None,
        node_timeout_cap_seconds: float = 15.0,
        secret: SecretLookup = lambda name: None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if api_key is None and tokens is None:
            raise ValueError("an API key or a token provider is needed")
        self.client = client
        self.base_url = api_url.rstrip("/")
        self.api_key = api_key
        self.tokens = tokens
        self.project_id = project_id
        self.flow_id = flow_id
        self.node_timeout_cap_seconds = node_timeout_cap_seconds
        self.secret = secret
        self.sleep = sleep

    async def register(self, definition: IntegrationDefinition) -> Registration:
        """Find or create the Connection, then add or update the node."""
        project_id, flow_id = self._target(definition)
        config = node_config(definition, self.node_timeout_cap_seconds)
        auth = node_auth(definition.config)

        connection_id = None
        if auth is not None:
            secret = self.secret(definition.config.secret_env)
            if secret is None:
                raise SecretMissingError(
                    f"{definition.config.secret_env} is not set: the node's "
                    "Connection needs it; nothing was sent"
                )
            connection_id = await self._connection(
                project_id, definition.config, auth, secret
            )
            config[auth.connection_key] = connection_id
        return await self._node(flow_id, definition.name, config, connection_id)

    def _target(self, definition: IntegrationDefinition) -> tuple[str, str]:
        override = definition.cognigy_ai
        project_id = (override and override.project_id) or self.project_id
        flow_id = (override and override.flow_id) or self.flow_id
        if not project_id or not flow_id:
            raise PlatformError(
                f"{definition.name}: COGNIGY_PROJECT_ID and COGNIGY_FLOW_ID (or "
                "cognigy_ai.project_id / flow_id in the definition) must be set "
                "to register on Cognigy.AI; nothing was sent"
            )
        return project_id, flow_id

    async def _connection(
        self,
        project_id: str,
        config: IntegrationConfig,
        auth: NodeAuth,
        secret: SecretStr,
    ) -> str:
        """The id of the Connection for these credentials, its fields kept current."""
        name = connection_name(config, auth)
        fields = connection_fields(config, auth, secret)
        # Every Connection of the project, compared by name here: what the
        # API's `filter` matches is not public, so it is not relied on.
        stored = await self.list_all("/connections", {"projectId": project_id})
        for item in stored:
            if item.get("name") == name and item.get("type") == auth.connection_type:
                path = f"/connections/{item['_id']}"
                await self.call(
                    "PATCH", path, "connection update", json={"fields": fields}
                )
                return str(item["_id"])

        created = await self.call(
            "POST",
            "/connections",
            "connection create",
            json={
                "projectId": project_id,
                "name": name,
                "type": auth.connection_type,
                "extension": NODE_EXTENSION,
                "fields": fields,
            },
        )
        return str(_field(created, "_id", "connection create"))

    async def _node(
        self,
        flow_id: str,
        label: str,
        config: dict[str, Any],
        connection_id: str | None,
    ) -> Registration:
        """Update the node labelled `label` in the flow, or append one."""
        chart = await self.call("GET", f"/flows/{flow_id}/chart", "flow chart read")
        nodes = [
            n for n in _field(chart, "nodes", "flow chart read") if isinstance(n, dict)
        ]
        same = [
            n
            for n in nodes
            if n.get("label") == label and n.get("type") == HTTP_REQUEST_NODE
        ]
        if len(same) > 1:
            logger.warning(
                "flow %s holds %d nodes labelled %r; updating the first",
                flow_id,
                len(same),
                label,
            )
        if same:
            node = same[0]
            path = f"/flows/{flow_id}/chart/nodes/{node['_id']}"
            await self.call("PATCH", path, "node update", json={"config": config})
        else:
            if not nodes:
                raise PlatformError(f"flow {flow_id} has no node to append to")
            node = await self.call(
                "POST",
                f"/flows/{flow_id}/chart/nodes",
                "node create",
                json={
                    "type": HTTP_REQUEST_NODE,
                    "extension": NODE_EXTENSION,
                    "label": label,
                    "target": nodes[-1]["_id"],
                    "mode": "append",
                    "config": config,
                },
            )
        return Registration(
            id=str(_field(node, "_id", "node create")),
            name=label,
            status="ACTIVE",
            created_at=_iso(node.get("createdAt")),
            reused=bool(same),
            connection_id=connection_id,
            flow_id=flow_id,
        )

    async def list_all(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every item of a list resource, following `nextCursor`."""
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {**params, "limit": LIST_LIMIT}
        while True:
            page = await self.call("GET", path, f"list {path}", params=query)
            batch = _field(page, "items", f"list {path}")
            items.extend(item for item in batch if isinstance(item, dict))
            cursor = page.get("nextCursor")
            if not cursor or not batch:
                return items
            query = {**params, "limit": LIST_LIMIT, "next": cursor}

    async def call(
        self, method: str, path: str, what: str, *, json: Any = None, params: Any = None
    ) -> Any:
        """One API call's parsed JSON answer; None for 204 or an empty body."""
        response = await self.request(method, path, json=json, params=params)
        if not response.is_success:
            raise problem_error(response, what)
        if response.status_code == 204 or not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise PlatformError(
                f"platform {what}: {response.status_code} answer is not JSON "
                f"({response.headers.get('content-type', 'no content type')})",
                status=response.status_code,
            ) from None

    async def request(
        self, method: str, path: str, *, json: Any = None, params: Any = None
    ) -> httpx.Response:
        """Send with auth and `Accept: application/json`; retry what may be."""
        url = self.base_url + API_PREFIX + path
        replayed = False
        attempt = 1
        while True:
            headers, token = await self._auth_headers()
            try:
                response = await self.client.request(
                    method, url, json=json, params=params, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout):
                # Nothing was sent: safe to try again whatever the method.
                if attempt >= ATTEMPTS:
                    raise
                await self.sleep(float(attempt))
                attempt += 1
                continue
            logger.info("%s %s -> %s", method, url, response.status_code)

            if response.status_code == 401:
                if token is None:
                    raise PlatformError(
                        f"Cognigy.AI refused the API key (401) on {method} {path}: "
                        "check COGNIGY_API_KEY; not retried",
                        status=401,
                    )
                if not replayed:
                    assert self.tokens is not None
                    self.tokens.invalidate(token)
                    replayed = True
                    continue
            wait = self._retry_wait(method, response, attempt)
            if wait is None:
                return response
            await self.sleep(wait)
            attempt += 1

    def _retry_wait(
        self, method: str, response: httpx.Response, attempt: int
    ) -> float | None:
        """Seconds before the next attempt, or None to return this answer."""
        retryable = response.status_code in RETRYABLE_STATUSES
        if not retryable or method not in IDEMPOTENT_METHODS or attempt >= ATTEMPTS:
            return None
        wait = parse_retry_after(response.headers.get("retry-after"))
        if wait is None:
            return float(attempt)
        return wait if wait <= RETRY_AFTER_CAP_SECONDS else None

    async def _auth_headers(self) -> tuple[dict[str, str], SecretStr | None]:
        """The headers of every call, and the bearer token when one is used."""
        headers = {"Accept": "application/json"}
        if self.api_key is not None:
            headers["X-API-Key"] = self.api_key.get_secret_value()
            return headers, None
        assert self.tokens is not None
        token = await self.tokens.get()
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        return headers, token


def _field(body: Any, name: str, what: str) -> Any:
    """A field every answer of that kind carries, or a clear error."""
    if not isinstance(body, dict) or name not in body:
        hal = isinstance(body, dict) and "_embedded" in body
        hint = " (a HAL answer: Accept: application/json was ignored)" if hal else ""
        raise PlatformError(f"platform {what}: the answer has no {name!r}{hint}")
    return body[name]


def cognigy_ai_client(
    client: httpx.AsyncClient, settings: HarnessSettings, *, sleep: Sleep | None = None
) -> CognigyAiClient:
    """The profile's client from the settings: an API key, else OAuth2."""
    if settings.cognigy_api_url is None:
        raise PlatformError(
            "COGNIGY_API_URL is not set (profile cognigy-ai-v2), e.g. "
            "https://api-trial.cognigy.ai"
        )
    api_url = str(settings.cognigy_api_url).rstrip("/")
    api_key = settings.cognigy_api_key
    tokens = None
    if api_key is None or not api_key.get_secret_value():
        api_key = None
        if not settings.cognigy_client_id or settings.cognigy_client_secret is None:
            raise SecretMissingError(
                "COGNIGY_API_KEY, or COGNIGY_CLIENT_ID and COGNIGY_CLIENT_SECRET, "
                "must be set to register on Cognigy.AI; nothing was sent"
            )
        # The public documentation names no scopes for this endpoint.
        tokens = TokenProvider(
            client,
            api_url + TOKEN_PATH,
            settings.cognigy_client_id,
            settings.cognigy_client_secret,
            "",
            leeway_seconds=settings.token_leeway_seconds,
            auth_method=settings.cognigy_token_auth_method,
        )
    return CognigyAiClient(
        client,
        api_url,
        api_key=api_key,
        tokens=tokens,
        project_id=settings.cognigy_project_id,
        flow_id=settings.cognigy_flow_id,
        node_timeout_cap_seconds=settings.cognigy_node_timeout_cap_seconds,
        secret=settings.secret,
        sleep=sleep or asyncio.sleep,
    )
