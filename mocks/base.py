"""What every mock shares: raw ASGI plumbing, the journal, fault rendering."""

from __future__ import annotations

import asyncio
import json
import random
import time
from email.utils import formatdate
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mocks.faults import Fault, FaultPlan
from mocks.journal import Journal

#: How long a `timeout` fault keeps the client waiting: longer than any
#: attempt timeout a definition may set (120 s).
HANG_SECONDS = 600.0

HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center></body></html>"
)


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        request = Request(scope, receive)
        body = await request.body()
        await self.journal.add(request, body)

        fault = self.fault_plan.next_fault(request.method, request.url.path)
        if fault is not None:
            await self.send_fault(fault, scope, receive, send)
            return
        delay = self.fault_plan.base_latency_ms()
        if delay:
            await asyncio.sleep(delay / 1000)
        response = await self.handle(request, body)
        await response(scope, receive, send)

    async def handle(self, request: Request, body: bytes) -> Response:
        raise NotImplementedError("each mock answers its own routes")

    async def send_fault(
        self, fault: Fault, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Answer with a fault instead of the normal response."""
        if fault.latency is not None:
            await asyncio.sleep(fault.latency.draw(self._rng) / 1000)
        if fault.kind == "timeout":
            await asyncio.sleep(HANG_SECONDS)
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
            await _slow_body(send)
            return
        await fault_response(fault)(scope, receive, send)


def fault_response(fault: Fault) -> Response:
    """The HTTP answer of a fault that has one."""
    headers: dict[str, str] = {}
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


async def _slow_body(send: Send) -> None:
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
    for index in range(len(body)):
        await asyncio.sleep(0.05)
        chunk = body[index : index + 1]
        more = index < len(body) - 1
        await send({"type": "http.response.body", "body": chunk, "more_body": more})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
