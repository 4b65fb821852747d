"""The address check on every connection, and TLS that is never off silently."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from pathlib import Path
from typing import Any

import httpcore
import pytest
from pydantic import SecretStr

from harness.executor import Executor, pooled_client
from harness.loader import IntegrationDir
from harness.models import IntegrationConfig
from harness.netguard import (
    LOOPBACK_NETWORKS,
    AddressPolicy,
    BlockedAddressError,
    GuardedBackend,
    refusal,
    ssl_context,
)
from harness.pipeline import FAILURE, SUCCESS, Pipeline, bot_context
from harness.settings import HarnessSettings
from harness.webhook import Outbox, WebhookReporter
from mocks.environment import MockEnvironment
from mocks.transport import BackgroundServer
from tests.conftest import no_sleep

BALANCE = bot_context({"user_id": "u_998877", "query": "account_balance"})


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("0.0.0.0", "private"),
        ("100.64.0.1", "not public"),
        ("224.0.0.1", "multicast"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: str | None) -> None:
    assert refusal(ipaddress.ip_address(address)) == reason


def test_an_allowed_network_is_let_through() -> None:
    loopback = ipaddress.ip_address("127.0.0.5")
    assert refusal(loopback, LOOPBACK_NETWORKS) is None
    assert refusal(ipaddress.ip_address("10.0.0.1"), LOOPBACK_NETWORKS) == "private"


def test_the_setting_parses_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALLOWED_PRIVATE_NETWORKS", '["10.20.0.0/16", "fd00::/8"]')
    allowed = HarnessSettings().allowed_private_networks
    assert [str(n) for n in allowed] == ["10.20.0.0/16", "fd00::/8"]


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Stands in for the socket layer: records where it was asked to connect."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def connect_tcp(self, host: str, port: int, *args: Any) -> Any:
        self.hosts.append(host)
        raise httpcore.ConnectError("recorded, not connected")


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    """Answer name lookups of the running loop from a table."""

    async def getaddrinfo(
        loop: object, host: str, port: int, **kwargs: object
    ) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in answers[host]
        ]

    monkeypatch.setattr(type(asyncio.get_running_loop()), "getaddrinfo", getaddrinfo)


async def test_the_socket_opens_to_the_checked_address_not_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, {"api.example.com": ["10.0.0.7", "93.184.215.14"]})
    inner = RecordingBackend()
    backend = GuardedBackend(AddressPolicy(), inner)

    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("api.example.com", 443)

    assert inner.hosts == ["93.184.215.14"], "the private answer is never used"


async def test_a_name_resolving_only_to_private_addresses_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, {"rebind.example.com": ["169.254.169.254"]})
    inner = RecordingBackend()
    backend = GuardedBackend(AddressPolicy(), inner)

    with pytest.raises(BlockedAddressError, match=r"169\.254\.169\.254 \(link-local\)"):
        await backend.connect_tcp("rebind.example.com", 443)
    assert inner.hosts == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_an_execution_to_loopback_fails_as_blocked_without_retries(
    host: str,
) -> None:
    settings = HarnessSettings(external_api_key=SecretStr("netguard-test-key"))
    config = IntegrationConfig.model_validate({"url": f"https://{host}:9/x"})
    async with pooled_client(settings) as client:
        result = await Executor(client, settings, sleep=no_sleep).execute(
            config, bot_context({})
        )

    assert result.error is not None
    assert result.error.kind == "blocked_address"
    assert "loopback" in result.error.message
    assert "ALLOWED_PRIVATE_NETWORKS" in result.error.message


async def test_a_blocked_webhook_keeps_the_event_in_the_outbox(tmp_path: Path) -> None:
    settings = HarnessSettings()
    outbox = Outbox(tmp_path / "outbox.jsonl")
    event = {"event_id": "e-1", "status": SUCCESS}
    async with pooled_client(settings) as client:
        reporter = WebhookReporter(client, "https://127.0.0.1:9/hook", outbox=outbox)
        assert not await reporter.report(event)
    [record] = outbox.records()
    assert record.last_error == "BlockedAddressError"


async def test_mocks_on_loopback_work_when_loopback_is_allowed_and_only_then(
    account_balance: IntegrationDir, tmp_path: Path
) -> None:
    environment = MockEnvironment([account_balance])
    with BackgroundServer(environment.asgi_app()) as server:
        allowed = environment.port_settings(server.base_url).model_copy(
            update={"audit_log_path": tmp_path / "audit.jsonl"}
        )
        refused = allowed.model_copy(update={"allowed_private_networks": []})
        async with Pipeline(allowed, sleep=no_sleep) as pipeline:
            ok = await pipeline.run(account_balance.definition, BALANCE)
        async with Pipeline(refused, sleep=no_sleep) as pipeline:
            blocked = await pipeline.run(account_balance.definition, BALANCE)

    assert ok.status == SUCCESS, ok.error
    assert ok.webhook_delivered
    assert blocked.status == FAILURE
    assert blocked.error is not None
    assert blocked.error.kind == "blocked_address"


def test_tls_verification_is_on_unless_turned_off_out_loud(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert ssl_context(HarnessSettings()).verify_mode == ssl.CERT_REQUIRED
    assert not caplog.records

    with caplog.at_level(logging.WARNING, logger="harness.netguard"):
        context = ssl_context(HarnessSettings(tls_verify=False))

    assert context.verify_mode == ssl.CERT_NONE
    assert "TLS certificate verification is OFF" in caplog.text
