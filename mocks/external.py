"""The external service mock: replays recorded fixtures, injects faults."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from mocks.base import SYNTHESIZED_HEADER, MockApp, json_response
from mocks.faults import FaultPlan
from mocks.fixtures import (
    FixtureFile,
    Interaction,
    Matcher,
    Miss,
    RecordedResponse,
    RequestInfo,
    find_match,
    unmatched_message,
)
from mocks.journal import decode_body
from mocks.scrub import Scrubbed

logger = logging.getLogger(__name__)

#: The status of an unmatched request: no real server sends it, so a test
#: that hits it fails on a status nobody would mistake for the service's.
UNMATCHED_STATUS = 599


@dataclass(frozen=True)
class ExpectedCredential:
    """The credential header an external mock requires, as a definition sends it.

    `value` is the whole header value (`Bearer ...`, `Basic ...`, the key).
    """

    header: str
    value: SecretStr = field(repr=False)
    auth_type: str
    secret_env: str

    def accepts(self, request: Request) -> bool:
        sent = request.headers.get(self.header)
        expected = self.value.get_secret_value()
        return sent is not None and hmac.compare_digest(
            sent.encode(), expected.encode()
        )

    def refusal(self, request: Request) -> Response:
        """401 saying what was missing or wrong, never a credential's value."""
        which = "no" if request.headers.get(self.header) is None else "a wrong"
        message = (
            f"{which} credential in {self.header}: auth_type {self.auth_type} "
            f"expects the value of {self.secret_env}"
        )
        headers = {SYNTHESIZED_HEADER: "unauthorized"}
        if self.auth_type in ("bearer", "basic"):
            headers["WWW-Authenticate"] = self.auth_type.capitalize()
        return json_response(
            401, {"error": "unauthorized", "message": message}, headers
        )


def request_info(request: Request, body: bytes) -> RequestInfo:
    """What the matchers see of a request."""
    content_type = request.headers.get("content-type", "")
    decoded = decode_body(body, content_type)
    form = None
    if "x-www-form-urlencoded" in content_type and isinstance(decoded, str):
        form = dict(parse_qsl(decoded, keep_blank_values=True))
    return RequestInfo(
        method=request.method,
        path=request.url.path,
        query=dict(request.query_params),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=decoded,
        form=form,
    )


async def replay(recorded: RecordedResponse) -> Response:
    """The HTTP answer a recorded response describes, after its delay."""
    if recorded.delay_ms:
        await asyncio.sleep(recorded.delay_ms / 1000)
    headers = {
        k: v for k, v in recorded.headers.items() if k.lower() != "content-length"
    }
    if recorded.text is not None:
        return Response(recorded.text, recorded.status, headers)
    if recorded.body is None:
        return Response(b"", recorded.status, headers)
    content = json.dumps(recorded.body).encode()
    if not any(k.lower() == "content-type" for k in headers):
        headers["content-type"] = "application/json"
    return Response(content, recorded.status, headers)


class ExternalMock(MockApp):
    """Answers each request with the first matching recorded interaction.

    An unmatched request gets 599 with a body naming the request, the
    closest fixture and what differs, so the test that sent it fails with a
    readable reason, not a bare "not mocked". `misses` keeps those messages.

    With `credentials`, a request that carries none of them is refused with
    401 before any fixture is looked at, as the real service would
    (`MockEnvironment` sets them from the definitions' `auth_type`; none
    means the service is open).
    """

    def __init__(
        self,
        fixtures: FixtureFile,
        fault_plan: FaultPlan | None = None,
        *,
        matchers: Iterable[Matcher] = (),
    ) -> None:
        super().__init__(fault_plan)
        self.fixtures = fixtures
        self.matchers = list(matchers)
        self.used: set[int] = set()
        self.misses: list[str] = []
        self.credentials: list[ExpectedCredential] = []

    async def handle(self, request: Request, body: bytes) -> Response:
        if self.credentials and not any(c.accepts(request) for c in self.credentials):
            return self.credentials[0].refusal(request)
        info = request_info(request, body)
        found = find_match(self.fixtures, info, self.matchers)
        if not isinstance(found, Interaction):
            return self.unmatched(info, found)
        self.used.add(id(found))
        return await replay(found.response)

    def unused(self) -> list[Interaction]:
        """The interactions no request matched, for fixture hygiene."""
        return [i for i in self.fixtures.interactions if id(i) not in self.used]

    def unmatched(self, info: RequestInfo, miss: Miss | None) -> Response:
        # The message quotes the request: scrub it as a journal entry is.
        seen = Scrubbed()
        scrubber = self.journal.scrubber
        scrubber.scrub_headers(info.headers, seen)
        content_type = info.headers.get("content-type", "")
        shown = replace(
            info,
            query=scrubber.scrub_query(info.query, seen),
            body=scrubber.scrub_body(info.body, content_type, seen),
        )
        message = seen.replace_echoes(unmatched_message(shown, miss))
        self.misses.append(message)
        logger.warning("%s", message)
        closest = None
        if miss is not None:
            differs = seen.replace_echoes(miss.differences)
            closest = {"name": miss.interaction.label, "differences": differs}
        return json_response(
            UNMATCHED_STATUS,
            {"error": "unmatched_request", "message": message, "closest": closest},
            {SYNTHESIZED_HEADER: "unmatched_request"},
        )
