"""Webhook delivery: signed, keyed by event id, kept in an outbox until it arrives."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import jsonschema_rs
import pytest
import respx
from pydantic import SecretStr

from contracts import CONTRACTS_DIR
from harness.cli import main
from harness.loader import IntegrationDir
from harness.pipeline import SUCCESS, Pipeline, bot_context
from harness.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Outbox,
    OutboxRecord,
    WebhookReporter,
    event_body,
    sign,
    verify_signature,
)
from mocks.environment import DEMO_WEBHOOK_SECRET, DEMO_WEBHOOK_URL, MockEnvironment
from mocks.webhook import WebhookMock
from tests.conftest import no_sleep

SECRET = SecretStr("whsec-test")
URL = "https://hooks.example.com/events"
BALANCE = {"user_id": "u_998877", "query": "account_balance"}


class FrozenClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def event(number: int) -> dict[str, object]:
    return {
        "event_id": f"00000000-0000-4000-8000-{number:012d}",
        "integration_id": "int_1",
        "integration_name": "account-balance",
        "status": SUCCESS,
        "latency_ms": 12.5,
        "timestamp": "2026-12-03T10:00:00.000Z",
        "payload_size": 42,
    }


async def test_a_delivery_is_signed_over_the_exact_bytes_sent(tmp_path: Path) -> None:
    with respx.mock() as router:
        route = router.post(URL).mock(return_value=httpx.Response(204))
        async with httpx.AsyncClient() as client:
            reporter = WebhookReporter(
                client, URL, outbox=Outbox(tmp_path / "o.jsonl"), signing_secret=SECRET
            )
            assert await reporter.report(event(1))

    request = route.calls.last.request
    assert request.content == event_body(event(1))
    assert request.headers[IDEMPOTENCY_HEADER] == event(1)["event_id"]
    assert verify_signature(SECRET, request.headers, request.content) is None
    assert verify_signature(SECRET, request.headers, request.content + b" ")
    assert verify_signature(SecretStr("other"), request.headers, request.content)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "unsigned"),
        ({TIMESTAMP_HEADER: "0", SIGNATURE_HEADER: "v1=00"}, "tolerance"),
        ({TIMESTAMP_HEADER: "now", SIGNATURE_HEADER: "v1=00"}, "integer"),
        ({SIGNATURE_HEADER: "v1=00"}, "unsigned"),
    ],
)
async def test_the_mock_receiver_refuses_bad_signatures(
    headers: dict[str, str], reason: str
) -> None:
    receiver = WebhookMock(signing_secret=SECRET)
    body = event_body(event(1))
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport) as client:
        refused = await client.post(URL, content=body, headers=headers)
        stamp = int(time.time())
        good = {
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(SECRET, stamp, body),
        }
        accepted = await client.post(URL, content=body, headers=good)

    assert refused.status_code == 401
    assert reason in refused.json()["error"]
    assert accepted.status_code == 204
    assert receiver.events == [event(1)]


async def test_webhook_down_then_up_delivers_every_event_exactly_once(
    mock_env: MockEnvironment, account_balance: IntegrationDir, tmp_path: Path
) -> None:
    settings = mock_env.settings.model_copy(
        update={"audit_log_path": tmp_path / "audit.jsonl"}
    )
    clock = FrozenClock()
    mock_env.webhook.down = True

    async with Pipeline(settings, sleep=no_sleep) as down:
        down.webhook.clock = clock
        reports = [
            await down.run(account_balance.definition, bot_context(BALANCE))
            for _ in range(5)
        ]
    assert {r.status for r in reports} == {SUCCESS}, "delivery never fails a run"
    assert not any(r.webhook_delivered for r in reports)
    assert len(Outbox(settings.outbox_path)) == 5
    assert mock_env.webhook.journal.total == 1, "backing off: one attempt only"

    mock_env.webhook.down = False
    clock.now += 5  # past the first backoff
    async with Pipeline(settings, sleep=no_sleep) as later:
        later.webhook.clock = clock
        reports.append(
            await later.run(account_balance.definition, bot_context(BALANCE))
        )

    ids = [r.webhook_event["event_id"] for r in reports]
    delivered = [e["event_id"] for e in mock_env.webhook.events]
    assert sorted(delivered) == sorted(ids), "each event exactly once"
    assert len(Outbox(settings.outbox_path)) == 0
    attempts = {e.headers["idempotency-key"] for e in mock_env.webhook.journal.entries}
    assert attempts == set(ids), "every attempt carried its event's id"
    schema = json.loads((CONTRACTS_DIR / "webhook-event.schema.json").read_text())
    validator = jsonschema_rs.validator_for(schema)
    for delivered_event in mock_env.webhook.events:
        validator.validate(delivered_event)


def test_webhook_flush_redelivers_the_outbox_and_says_what_is_left(
    mock_env: MockEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WEBHOOK_URL", DEMO_WEBHOOK_URL)
    monkeypatch.setenv("WEBHOOK_SIGNING_SECRET", DEMO_WEBHOOK_SECRET)
    audit = tmp_path / "audit.jsonl"
    outbox = Outbox(audit.with_name("webhook-outbox.jsonl"))
    for number in range(3):
        outbox.add(OutboxRecord(event(number), next_attempt_at=time.time() + 600))

    mock_env.webhook.down = True
    assert main(["webhook", "flush", "--audit-log", str(audit)]) == 1
    assert "delivered 0, still waiting 3" in capsys.readouterr().out
    assert [r.attempts for r in outbox.records()] == [1, 0, 0]

    mock_env.webhook.down = False
    assert main(["webhook", "flush", "--audit-log", str(audit), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["delivered"] == 3
    assert [e["event_id"] for e in mock_env.webhook.events] == [
        event(n)["event_id"] for n in range(3)
    ]
    assert len(outbox) == 0


def test_webhook_flush_without_a_url_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["webhook", "flush"]) == 2
    assert "WEBHOOK_URL is not set" in capsys.readouterr().err


async def test_an_unreachable_webhook_keeps_the_event(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.jsonl")
    with respx.mock() as router:
        router.post(URL).mock(side_effect=httpx.ConnectError("refused"))
        async with httpx.AsyncClient() as client:
            reporter = WebhookReporter(client, URL, outbox=outbox)
            delivered = await reporter.report(event(7))

    assert not delivered
    [record] = outbox.records()
    assert record.event == event(7)
    assert record.last_error == "ConnectError"


def test_a_torn_outbox_line_is_kept_aside_not_dropped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.jsonl")
    outbox.add(OutboxRecord(event(1)))
    with outbox.path.open("ab") as handle:
        handle.write(b'{"event": {"event_id": "cut')

    assert [r.event_id for r in outbox.records()] == [event(1)["event_id"]]
    assert outbox.settle([], {}) == 1
    assert outbox.settle([], {}) == 1
    side = tmp_path / "o.jsonl.torn"
    assert side.read_bytes() == b'{"event": {"event_id": "cut\n'
