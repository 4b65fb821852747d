"""Step 2: register a definition on the Cognigy platform (Integrations API).

`Platform` is what the pipeline needs of any profile: `register`. This module
holds the `integrations-v1` client; `harness.platform_v2` the `cognigy-ai-v2`
one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from harness.errors import PlatformError, RegistrationConflictError
from harness.models import IntegrationDefinition
from harness.retry import parse_retry_after
from harness.tokens import TokenProvider

logger = logging.getLogger(__name__)

INTEGRATIONS_PATH = "/api/v1/integrations"
_PLATFORM_ATTEMPTS = 3


@dataclass(frozen=True)
class Registration:
    """A stored integration; `reused` when an identical one already existed.

    On `cognigy-ai-v2`, `id` is the HTTP Request node's id, `reused` means the
    node was updated in place, and the Connection and Flow ids are set.
    """

    id: str
    name: str
    status: str
    created_at: str
    reused: bool = False
    connection_id: str | None = None
    flow_id: str | None = None


class Platform(Protocol):
    """What step 2 needs of a platform profile."""

    async def register(self, definition: IntegrationDefinition) -> Registration:
        """Store the definition on the platform (or reuse what is stored)."""
        ...


def _differences(stored: Any, wanted: Any, prefix: str = "config") -> list[str]:
    """Dotted paths where a stored config differs from the wanted one."""
    if isinstance(stored, dict) and isinstance(wanted, dict):
        found: list[str] = []
        for key in sorted(set(stored) | set(wanted)):
            found += _differences(stored.get(key), wanted.get(key), f"{prefix}.{key}")
        return found
    return [] if stored == wanted else [prefix]


class PlatformClient:
    """The Integrations API client: token handling, 401 replay, reuse on 409."""

    def __init__(
        self, client: httpx.AsyncClient, tenant_url: str, tokens: TokenProvider
    ) -> None:
        self.client = client
        self.base_url = tenant_url.rstrip("/")
        self.tokens = tokens

    async def _call(
        self, method: str, path: str, *, json: Any = None, params: Any = None
    ) -> httpx.Response:
        """One API call: a 401 refreshes the token once and replays once."""
        url = self.base_url + path
        replayed = False
        for attempt in range(1, _PLATFORM_ATTEMPTS + 1):
            token = await self.tokens.get()
            response = await self.client.request(
                method,
                url,
                json=json,
                params=params,
                headers={"Authorization": f"Bearer {token.get_secret_value()}"},
            )
            logger.info("%s %s -> %s", method, url, response.status_code)
            if response.status_code == 401 and not replayed:
                self.tokens.invalidate(token)
                replayed = True
                continue
            busy = response.status_code == 429 or response.status_code >= 500
            if busy and attempt < _PLATFORM_ATTEMPTS:
                wait = parse_retry_after(response.headers.get("retry-after"))
                await asyncio.sleep(min(wait if wait is not None else 1.0, 10.0))
                continue
            return response
        return response

    async def register(self, definition: IntegrationDefinition) -> Registration:
        """Store the definition, or reuse the identical one stored before."""
        payload = definition.registration_payload()
        response = await self._call("POST", INTEGRATIONS_PATH, json=payload)
        if response.status_code in (200, 201):
            return _registration(response.json())
        if response.status_code == 409:
            return await self._reuse(definition, payload)
        raise problem_error(response, "registration")

    async def _reuse(
        self, definition: IntegrationDefinition, payload: dict[str, Any]
    ) -> Registration:
        response = await self._call(
            "GET",
            INTEGRATIONS_PATH,
            params={"bot_id": definition.bot_id, "name": definition.name},
        )
        if response.status_code != 200:
            raise problem_error(response, "lookup after 409")
        for stored in response.json().get("items", []):
            same_bot = stored.get("bot_id") in (None, definition.bot_id)
            if stored.get("name") != definition.name or not same_bot:
                continue
            differences = _differences(stored.get("config"), payload["config"])
            if differences:
                raise RegistrationConflictError(
                    f"integration {definition.name!r} is already registered for bot "
                    f"{definition.bot_id!r} with a different config: "
                    + ", ".join(differences),
                    status=409,
                )
            return _registration(stored, reused=True)
        raise PlatformError(
            f"platform answered 409 for {definition.name!r} but lists no such "
            "integration",
            status=409,
        )

    async def get(self, integration_id: str) -> dict[str, Any]:
        response = await self._call("GET", f"{INTEGRATIONS_PATH}/{integration_id}")
        if response.status_code != 200:
            raise problem_error(response, "read")
        body: dict[str, Any] = response.json()
        return body

    async def delete(self, integration_id: str) -> None:
        response = await self._call("DELETE", f"{INTEGRATIONS_PATH}/{integration_id}")
        if response.status_code not in (200, 204):
            raise problem_error(response, "delete")


def _registration(body: dict[str, Any], *, reused: bool = False) -> Registration:
    return Registration(
        id=str(body["id"]),
        name=str(body.get("name", "")),
        status=str(body.get("status", "")),
        created_at=str(body.get("created_at", "")),
        reused=reused,
    )


def problem_error(response: httpx.Response, what: str) -> PlatformError:
    """An RFC 7807 problem answer as a typed error naming the invalid fields."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    title = problem.get("title") or response.reason_phrase
    detail = problem.get("detail", "")
    if problem.get("code") is not None:
        # Cognigy.AI's internal error code (1002 not found, 1004 conflict...).
        title = f"{title} (code {problem['code']})"
    fields = "; ".join(
        f"{item.get('field')}: {item.get('reason')}"
        for item in problem.get("errors", [])
        if isinstance(item, dict)
    )
    message = f"platform {what} failed: {response.status_code} {title}"
    if detail:
        message += f": {detail}"
    if fields:
        message += f" ({fields})"
    return PlatformError(message, status=response.status_code, problem=problem)
