"""The two transports of every mock: in-process through respx, or on a port.

In-process, a respx route hands the request to the mock's ASGI app. httpx's
ASGI transport ignores client timeouts, so the route applies the request's
read timeout itself: a slow mock times out the same way in both transports.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from mocks.base import ConnectionResetFault

SideEffect = Callable[[httpx.Request], Awaitable[httpx.Response]]

#: A request extension that makes the respx routes of the mocks let a request
#: through to the network: how a recorder reaches the host it intercepts.
#: Extensions never go on the wire.
PASS_THROUGH = "cognigy_harness.pass_through"  # noqa: S105 - a name


def pass_marked_through(request: httpx.Request) -> httpx.Request | None:
    """A respx side effect: pass marked requests through, skip the others."""
    return request if request.extensions.get(PASS_THROUGH) else None


def asgi_side_effect(app: ASGIApp) -> SideEffect:
    """A respx side effect that answers from an ASGI app, honouring timeouts."""
    transport = httpx.ASGITransport(app=app)

    async def forward(request: httpx.Request) -> httpx.Response:
        timeout = (request.extensions.get("timeout") or {}).get("read")
        try:
            async with asyncio.timeout(timeout):
                response = await transport.handle_async_request(request)
                content = await response.aread()
        except TimeoutError:
            raise httpx.ReadTimeout(
                f"mock did not answer within {timeout} s", request=request
            ) from None
        except ConnectionResetFault:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body",
                request=request,
            ) from None
        return httpx.Response(
            response.status_code, headers=response.headers, content=content
        )

    return forward


class PrefixRouter:
    """Serves several ASGI apps on one port, each under its own path prefix."""

    def __init__(self, apps: Mapping[str, ASGIApp]) -> None:
        # Longest prefix first, so `/external/a.b` wins over `/external`.
        self.apps = sorted(apps.items(), key=lambda item: -len(item[0]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        path: str = scope["path"]
        for prefix, app in self.apps:
            if path == prefix or path.startswith(prefix + "/"):
                inner = dict(scope)
                inner["path"] = path[len(prefix) :] or "/"
                inner["raw_path"] = inner["path"].encode()
                inner["root_path"] = scope.get("root_path", "") + prefix
                await app(inner, receive, send)
                return
        body = b'{"error": "no mock under this path"}'
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _InjectedResetFilter(logging.Filter):
    """Drops uvicorn's traceback for a reset the fault plan asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, ConnectionResetFault)


def quiet_injected_resets() -> None:
    """Keep uvicorn from logging an injected reset as an application error."""
    error_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _InjectedResetFilter) for f in error_logger.filters):
        error_logger.addFilter(_InjectedResetFilter())


class BackgroundServer:
    """A uvicorn server on loopback in a daemon thread (tests, load runs)."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        # A hanging fault answer must not hold the shutdown for minutes.
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        quiet_injected_resets()
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.host = host

    @property
    def port(self) -> int:
        sockets: list[Any] = [s for srv in self.server.servers for s in srv.sockets]
        return int(sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self.thread.start()
        deadline = threading.Event()
        waited = 0.0
        while not self.server.started:
            if waited > timeout or not self.thread.is_alive():
                raise RuntimeError("mock server did not start")
            deadline.wait(0.02)
            waited += 0.02
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
