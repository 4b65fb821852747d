"""The webhook receiver mock: stores every event it is sent.

With a signing secret it checks each delivery's signature as a real receiver
should, and refuses an unsigned, forged or stale one with 401.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from harness.webhook import verify_signature
from mocks.base import MockApp, json_response
from mocks.faults import FaultPlan


class WebhookMock(MockApp):
    """Accepts JSON events with 204; `down = True` makes it answer 503.

    `events` keeps the newest `max_events` events, so a long load run stays
    flat in memory; `total` counts every event ever accepted.
    """

    def __init__(
        self,
        fault_plan: FaultPlan | None = None,
        *,
        signing_secret: SecretStr | None = None,
        max_events: int = 10_000,
    ) -> None:
        super().__init__(fault_plan)
        self.events: list[dict[str, Any]] = []
        self.max_events = max_events
        self.total = 0
        self.down = False
        self.signing_secret = signing_secret

    async def handle(self, request: Request, body: bytes) -> Response:
        if self.down:
            return json_response(503, {"error": "receiver down"})
        if request.method != "POST":
            return json_response(405, {"error": "POST only"})
        if self.signing_secret is not None:
            refused = verify_signature(self.signing_secret, request.headers, body)
            if refused:
                return json_response(401, {"error": refused})
        try:
            event = json.loads(body)
        except ValueError:
            return json_response(400, {"error": "body is not JSON"})
        if not isinstance(event, dict):
            return json_response(400, {"error": "event must be an object"})
        if len(self.events) >= self.max_events:
            del self.events[0]
        self.events.append(event)
        self.total += 1
        return Response(status_code=204)
