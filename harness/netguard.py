"""Network safety: no connection to a non-public address unless allowed.

A definition's URL, the tenant URL or the webhook URL could name, or resolve
to, an address inside the network the harness runs in (a cloud metadata
service at 169.254.169.254, an admin port on 127.0.0.1, a 10.x database).
The pooled client refuses those unless `ALLOWED_PRIVATE_NETWORKS` names the
network. The check runs where the connection is made, on the address
actually connected to: the name is resolved once, each address checked, and
the socket opened to a checked address, so a name that resolves to a private
address (or changes its answer between a check and the connect) is caught.
Requests answered in-process (respx, the embedded mocks) never connect, so
nothing is resolved and nothing is refused.

Known limits: proxies from the environment (`HTTPS_PROXY`) are not used by
the pooled client, because through a proxy the harness never sees the
address the proxy connects to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore
import httpx

from harness.errors import HarnessError
from harness.settings import HarnessSettings

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: What the mocks on a port and the tests allow: loopback only.
LOOPBACK_NETWORKS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


class BlockedAddressError(HarnessError):
    """A connection would reach an address the settings do not allow."""

    kind = "blocked_address"


def refusal(address: IPAddress, allowed: Iterable[IPNetwork] = ()) -> str | None:
    """Why an address may not be connected to, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return None
    for kind in ("loopback", "link_local", "private", "multicast", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "not public"


class AddressPolicy:
    """Which addresses connections may reach."""

    def __init__(self, allowed: Sequence[IPNetwork] = ()) -> None:
        self.allowed = tuple(allowed)

    def check(self, host: str, addresses: Sequence[str]) -> list[str]:
        """The addresses of `host` that may be used; raise when none may."""
        usable = [a for a in addresses if self.reason(a) is None]
        if usable:
            return usable
        first = addresses[0] if addresses else host
        where = host if first == host else f"{host} resolves to {first}"
        raise BlockedAddressError(
            f"{where} ({self.reason(first)}): refused; allow its network in "
            "ALLOWED_PRIVATE_NETWORKS if that is intended"
        )

    def reason(self, address: str) -> str | None:
        return refusal(ipaddress.ip_address(address.split("%")[0]), self.allowed)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves, checks, then connects.

    TLS still verifies the certificate against the URL's host name: httpcore
    takes the server name from the request, not from the address given here.
    """

    def __init__(
        self, policy: AddressPolicy, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = self.policy.check(host, await _resolve(host, port, timeout))
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError(f"unix socket {path}: the harness connects over TCP")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


async def _resolve(host: str, port: int, within: float | None) -> list[str]:
    """Every address of a host, in resolver order, without repeats."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(within):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def ssl_context(settings: HarnessSettings) -> ssl.SSLContext:
    """The TLS context of every client; unverified only when the settings say so."""
    if not settings.tls_verify:
        logger.warning(
            "TLS certificate verification is OFF (TLS_VERIFY=false): any server "
            "can pose as the platform, the external API or the webhook"
        )
    return httpx.create_ssl_context(verify=settings.tls_verify)


def guarded_transport(
    settings: HarnessSettings, limits: httpx.Limits
) -> httpx.AsyncBaseTransport:
    """The pooled transport of the settings, with the address check built in."""
    policy = AddressPolicy(settings.allowed_private_networks)
    context = ssl_context(settings)
    if settings.http_transport == "aiohttp":
        return _aiohttp_transport(policy, context, limits)
    transport = httpx.AsyncHTTPTransport(limits=limits, verify=context)
    # httpx takes no network backend, so its pool is rebuilt with one; the
    # arguments are those httpx passes for the same limits.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(policy),
    )
    return transport


def _aiohttp_transport(
    policy: AddressPolicy, context: ssl.SSLContext, limits: httpx.Limits
) -> httpx.AsyncBaseTransport:
    try:
        import aiohttp
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        raise HarnessError(
            "http_transport 'aiohttp' needs httpx-aiohttp: "
            "pip install 'cognigy-harness[load]'"
        ) from None

    class GuardedResolver(aiohttp.abc.AbstractResolver):
        """aiohttp's resolver, with every answer checked."""

        def __init__(self) -> None:
            self.inner = aiohttp.ThreadedResolver()

        async def resolve(
            self, host: str, port: int = 0, family: int = socket.AF_INET
        ) -> list[Any]:
            answers = await self.inner.resolve(host, port, family)  # type: ignore[arg-type]
            usable = policy.check(host, [str(a["host"]) for a in answers])
            return [a for a in answers if a["host"] in usable]

        async def close(self) -> None:
            await self.inner.close()

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry or 15.0,
            ssl=context,
            resolver=GuardedResolver(),
        )
        return aiohttp.ClientSession(connector=connector)

    # aiohttp does not resolve an address literal, so those are checked here.
    return _LiteralCheck(AiohttpTransport(client=session), policy)


class _LiteralCheck(httpx.AsyncBaseTransport):
    """Refuses URLs whose host is a non-public address literal."""

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: AddressPolicy) -> None:
        self.inner = inner
        self.policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            self.policy.check(host, [host])
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
