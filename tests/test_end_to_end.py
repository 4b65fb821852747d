"""Each example integration end to end through the embedded mocks."""

from __future__ import annotations

import pytest

from harness.audit import AuditLog
from harness.loader import IntegrationDir
from harness.pipeline import FAILURE, SUCCESS, Pipeline, bot_context
from harness.transform import payload_size
from mocks.environment import MockEnvironment


@pytest.mark.parametrize("name", ["account_balance", "weather_forecast"])
async def test_every_sample_gives_its_golden_result(
    name: str,
    request: pytest.FixtureRequest,
    pipeline: Pipeline,
    mock_env: MockEnvironment,
    audit_log: AuditLog,
) -> None:
    integration: IntegrationDir = request.getfixturevalue(name)
    assert integration.samples, "every example ships at least one sample"

    for sample in integration.samples:
        report = await pipeline.run(integration.definition, bot_context(sample.payload))

        assert report.status == SUCCESS, report.error
        assert report.normalized_data == sample.expected
        assert report.integration_id is not None
        assert report.integration_id.startswith("int_")

    events = mock_env.webhook.events
    assert len(events) == len(integration.samples)
    assert {e["status"] for e in events} == {SUCCESS}
    assert events[-1]["payload_size"] == payload_size(integration.samples[-1].expected)
    entries = audit_log.entries()
    assert [e["status"] for e in entries] == [SUCCESS] * len(integration.samples)
    assert entries[-1]["integration_id"] == report.integration_id
    assert entries[-1]["error_rate_impact"] == 0


async def test_upstream_400_is_audited_and_reported_as_failure(
    pipeline: Pipeline,
    account_balance: IntegrationDir,
    mock_env: MockEnvironment,
    audit_log: AuditLog,
) -> None:
    context = bot_context({"user_id": "u_998877", "query": "unsupported"})

    report = await pipeline.run(account_balance.definition, context)

    assert report.status == FAILURE
    assert report.error is not None
    assert report.error.status == 400
    assert report.attempts == 1, "a 400 is not retried"
    [entry] = audit_log.entries()
    assert entry["status"] == FAILURE
    assert entry["error_rate_impact"] == 1
    assert entry["integration_id"] == report.integration_id
    [event] = mock_env.webhook.events
    assert event["status"] == FAILURE
    assert event["integration_id"] == report.integration_id
    assert pipeline.metrics.snapshot("account-balance")["error_rate"] == 1.0


async def test_the_request_mapping_reaches_the_wire(
    pipeline: Pipeline,
    account_balance: IntegrationDir,
    weather_forecast: IntegrationDir,
    mock_env: MockEnvironment,
) -> None:
    payload = {"user_id": "u_998877", "query": "account_balance"}
    await pipeline.run(account_balance.definition, bot_context(payload))
    await pipeline.run(
        weather_forecast.definition,
        bot_context(
            {"latitude": "40.71", "longitude": "-74.01", "timezone": "America/New_York"}
        ),
    )

    [post] = mock_env.external(account_balance).journal.entries
    assert post.body == payload
    assert post.headers["authorization"] == "***", "the journal masks secrets"
    [get] = mock_env.external(weather_forecast).journal.entries
    assert get.method == "GET"
    assert get.body is None
    assert get.query["latitude"] == "40.71"
    assert "authorization" not in get.headers, "auth_type none sends no credentials"


async def test_registration_failure_is_still_audited_and_reported(
    account_balance: IntegrationDir, audit_log: AuditLog
) -> None:
    environment = MockEnvironment(
        [account_balance], foreign_bots=frozenset({account_balance.definition.bot_id})
    )
    with environment.in_process():
        async with Pipeline(environment.settings, audit_log=audit_log) as pipeline:
            report = await pipeline.run(
                account_balance.definition, bot_context({"query": "account_balance"})
            )

    assert report.status == FAILURE
    assert report.integration_id is None
    assert report.error is not None
    assert report.error.status == 403
    [event] = environment.webhook.events
    assert event["integration_id"] is None
    assert event["integration_name"] == "account-balance"
    assert audit_log.entries()[0]["status"] == FAILURE
    assert environment.external().journal.total == 0, "nothing sent upstream"
