"""A QA suite written only with the pytest plugin's fixtures.

Copy this file into a project that installs `cognigy-harness`: nothing here
imports the mocks; the markers choose the integration and the faults, the
fixtures hand out the pipeline, the mocks' journals and the audit log.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.cognigy_integration("integrations/account-balance")

BALANCE = {"user_id": "u_998877", "query": "account_balance"}


async def test_balance_runs_the_five_steps(
    cognigy_run, cognigy_platform, cognigy_external, cognigy_webhook, cognigy_audit_log
):
    report = await cognigy_run(BALANCE)

    assert report.status == "SUCCESS"
    assert report.normalized_data["balance"] == 1523.75
    # The platform saw a token request, then the registration.
    calls = [(e.method, e.path) for e in cognigy_platform.journal.entries]
    assert calls == [
        ("POST", "/api/v1/auth/oauth/token"),
        ("POST", "/api/v1/integrations"),
    ]
    [call] = cognigy_external.journal.entries
    assert call.body == BALANCE
    assert call.headers["authorization"] == "***", "journals never hold a secret"
    [event] = cognigy_webhook.events
    assert event["status"] == "SUCCESS"
    assert event["integration_id"] == report.integration_id
    [entry] = cognigy_audit_log.entries()
    assert entry["event"] == "INTEGRATION_EXECUTION"
    assert entry["integration_id"] == report.integration_id


async def test_second_execution_reuses_token_and_registration(
    cognigy_run, cognigy_platform
):
    first = await cognigy_run(BALANCE)
    second = await cognigy_run({"user_id": "u_998877", "query": "recent_transactions"})

    assert second.integration_id == first.integration_id
    assert second.normalized_data["count"] == 3
    assert len(cognigy_platform.journal.entries) == 2, "no second token, no re-register"


@pytest.mark.cognigy_faults("503,503")
async def test_two_503s_then_success_takes_three_attempts(
    cognigy_run, cognigy_external, cognigy_audit_log
):
    report = await cognigy_run(BALANCE)

    assert report.status == "SUCCESS"
    assert report.attempts == 3
    assert [a.outcome for a in report.attempt_outcomes] == [503, 503, 200]
    assert len(cognigy_external.journal.entries) == 3
    [entry] = cognigy_audit_log.entries()
    assert entry["status"] == "SUCCESS"


@pytest.mark.cognigy_faults(scenario="post-not-retried-after-500")
async def test_a_post_is_not_resent_after_a_500(
    cognigy_run, cognigy_external, cognigy_webhook, cognigy_audit_log
):
    report = await cognigy_run(BALANCE)

    assert report.status == "FAILURE"
    assert report.error.status == 500
    assert len(cognigy_external.journal.entries) == 1, "sent once, never replayed"
    [event] = cognigy_webhook.events
    assert event["status"] == "FAILURE", "a failure is reported too"
    [entry] = cognigy_audit_log.entries()
    assert entry["error_rate_impact"] == 1


@pytest.mark.cognigy_integration("integrations/weather-forecast")
async def test_weather_query_is_mapped_from_the_payload(cognigy_run, cognigy_external):
    report = await cognigy_run(
        {"latitude": "40.71", "longitude": "-74.01", "timezone": "America/New_York"}
    )

    assert report.status == "SUCCESS"
    assert report.normalized_data["time_zone"] == "America/New_York"
    [call] = cognigy_external.journal.entries
    assert call.method == "GET"
    assert call.query["latitude"] == "40.71"
