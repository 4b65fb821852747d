"""The external service mock: replays recorded fixtures, injects faults."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mocks.base import MockApp, json_response
from mocks.faults import FaultPlan
from mocks.fixtures import FixtureFile, Interaction, Miss, find_match
from mocks.journal import decode_body


class ExternalMock(MockApp):
    """Answers each request with the first matching recorded interaction.

    An unmatched request gets 599 (a status no real server sends) with a body
    naming the closest fixture and what differs, so the test that sent it
    fails with a readable reason, not a bare "not mocked".
    """

    def __init__(self, fixtures: FixtureFile, fault_plan: FaultPlan | None = None):
        super().__init__(fault_plan)
        self.fixtures = fixtures
        self.used: set[int] = set()

    async def handle(self, request: Request, body: bytes) -> Response:
        parsed = decode_body(body, request.headers.get("content-type", ""))
        query = dict(request.query_params)
        found = find_match(
            self.fixtures, request.method, request.url.path, query, parsed
        )
        if not isinstance(found, Interaction):
            return self._unmatched(request, query, parsed, found)

        self.used.add(id(found))
        recorded = found.response
        if recorded.delay_ms:
            await asyncio.sleep(recorded.delay_ms / 1000)
        if recorded.text is not None:
            return Response(recorded.text, recorded.status, recorded.headers)
        headers = {
            k: v for k, v in recorded.headers.items() if k.lower() != "content-length"
        }
        if recorded.body is None:
            return Response(b"", recorded.status, headers)
        content = json.dumps(recorded.body).encode()
        headers.setdefault("content-type", "application/json")
        return Response(content, recorded.status, headers)

    def unused(self) -> list[Interaction]:
        """The interactions no request matched, for fixture hygiene."""
        return [i for i in self.fixtures.interactions if id(i) not in self.used]

    @staticmethod
    def _unmatched(
        request: Request, query: dict[str, str], body: Any, miss: Miss | None
    ) -> Response:
        described = f"{request.method} {request.url.path}"
        if query:
            described += f" query={query}"
        message = f"no fixture matches {described}"
        closest = None
        if miss is not None:
            name = miss.interaction.name or miss.interaction.request.path
            closest = {"name": name, "differences": miss.differences}
            message += f"; closest is {name!r}: " + "; ".join(miss.differences)
        return json_response(
            599,
            {"error": "unmatched_request", "message": message, "closest": closest},
        )
