"""What every mock shares: raw ASGI plumbing, the journal, fault rendering."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from mocks.faults import Fault, FaultPlan
from mocks.journal import Journal, JournalEntry

#: How long a `timeout` fault keeps the client waiting: longer than any
#: attempt timeout a definition may set (120 s).
HANG_SECONDS = 600.0

HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center></body></html>"
)


#: Marks an answer a mock made up (a fault, an unmatched request, a refused
#: credential), so a recorder never mistakes it for the service's answer.
SYNTHESIZED_HEADER = "x-cognigy-harness-synthesized"


#: Looks at each request before the mock handles it: None lets it through, a
#: response refuses it (e.g. a contract guard answering 400, see `contracts`).
RequestCheck = Callable[[Request, bytes], Response | None]


class ConnectionResetFault(Exception):
    """Raised mid-response to make the transport drop the connection."""


def json_response(
    status: int, body: Any, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class MockApp:
    """Base of the mocks: journals each request and applies the fault plan."""

    def __init__(self, fault_plan: FaultPlan | None = None) -> None:
        self.journal = Journal()
        self.fault_plan = fault_plan or FaultPlan()
        self._rng = random.Random(0)
        self.request_check: RequestCheck | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Every request of every mock passes here, in both transports: the
        # one place to journal, inject faults or check requests.
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self.aclose)
            return
        request = Request(scope, receive)
        body = await request.body()
        entry = await self.journal.add(request, body)
        send = _status_recorder(send, entry)
        # Every request is checked (and a bad one recorded), but an injected
        # fault answers first: it stands for what sits in front of the server.
        refusal = None
        if self.request_check is not None:
            refusal = self.request_check(request, body)

        fault = self.fault_plan.next_fault(request.method, request.url.path)
        if fault is not None and fault.kind != "latency":
            await self.send_fault(fault, scope, receive, send)
            return
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        delay = self.fault_plan.base_latency_ms()
        if fault is not None and fault.latency is not None:
            delay += fault.latency.draw(self._rng)
        if delay:
            await asyncio.sleep(delay / 1000)
        response = await self.handle(request, body)
        await response(scope, receive, send)

    async def handle(self, request: Request, body: bytes) -> Response:
        raise NotImplementedError("each mock answers its own routes")

    async def aclose(self) -> None:
        """Release what the mock holds (a server on a port calls it at shutdown)."""

    async def send_fault(
        self, fault: Fault, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Answer with a fault instead of the normal response."""
        # A slow body spends its latency between the pieces instead.
        if fault.latency is not None and fault.kind != "slow_body":
            await asyncio.sleep(fault.latency.draw(self._rng) / 1000)
        if fault.kind == "timeout":
            await _hang(receive)
            return
        if fault.kind == "reset":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"1000")],
                }
            )
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise ConnectionResetFault("connection reset by the fault plan")
        if fault.kind == "slow_body":
            await _slow_body(send, fault)
            return
        await fault_response(fault)(scope, receive, send)


def fault_response(fault: Fault) -> Response:
    """The HTTP answer of a fault that has one."""
    headers: dict[str, str] = {SYNTHESIZED_HEADER: "fault"}
    if fault.retry_after is not None:
        headers["Retry-After"] = f"{fault.retry_after:g}"
    if fault.retry_after_date is not None:
        when = time.time() + fault.retry_after_date
        headers["Retry-After"] = formatdate(when, usegmt=True)
    if fault.kind == "empty":
        return Response(b"", status_code=fault.status, headers=headers)
    if fault.kind == "html":
        return Response(HTML_502, fault.status, headers=headers, media_type="text/html")
    if fault.kind == "badjson":
        return Response("{not json", fault.status, headers, "application/json")
    if fault.kind == "truncated":
        return Response('{"data": {"res', fault.status, headers, "application/json")
    if fault.kind == "wrong_content_type":
        return Response("ok", fault.status, headers, media_type="text/plain")
    if fault.kind == "redirect" or 300 <= fault.status < 400:
        headers["Location"] = fault.location or "https://elsewhere.invalid/"
        return Response(b"", status_code=fault.status, headers=headers)
    problem = {"status": fault.status, "title": "injected fault"}
    return json_response(fault.status, problem, headers)


def _status_recorder(send: Send, entry: JournalEntry) -> Send:
    """`send`, noting the answer's status in the journal entry."""

    async def recording_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            entry.status = int(message["status"])
        await send(message)

    return recording_send


async def _hang(receive: Receive) -> None:
    """Send nothing until the client gives up (disconnects) or HANG_SECONDS.

    Waiting for the disconnect, not just sleeping, lets a server on a port
    shut down promptly after a timeout test.
    """
    try:
        async with asyncio.timeout(HANG_SECONDS):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return


#: How many pieces a slow body comes in, and the pause before each by default.
SLOW_BODY_CHUNKS = 5
SLOW_BODY_PAUSE_MS = 50.0


async def _slow_body(send: Send, fault: Fault) -> None:
    """A 200 JSON answer in pieces, pausing before each (`latency` per piece)."""
    body = b'{"data": {"result": "slow"}}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    size = -(-len(body) // SLOW_BODY_CHUNKS)
    rng = random.Random(0)
    for start in range(0, len(body), size):
        pause = fault.latency.draw(rng) if fault.latency else SLOW_BODY_PAUSE_MS
        await asyncio.sleep(pause / 1000)
        more = start + size < len(body)
        chunk = body[start : start + size]
        await send({"type": "http.response.body", "body": chunk, "more_body": more})


async def _lifespan(
    receive: Receive, send: Send, shutdown: Callable[[], Awaitable[None]]
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
