"""Consumer side: a request the contract does not allow fails with its reason."""

from __future__ import annotations

import httpx
import pytest

from contracts.documents import load_contract
from contracts.errors import ContractViolation
from contracts.guard import check_request, guard_environment
from harness.loader import IntegrationDir
from harness.models import (
    IntegrationConfig,
    RequestMapping,
    ResponseMapping,
    RetryPolicy,
)
from harness.pipeline import SUCCESS, Pipeline, bot_context
from mocks.environment import MockEnvironment
from mocks.transport import BackgroundServer

pytestmark = pytest.mark.contract


async def test_the_pipeline_sends_only_requests_the_contracts_allow(
    pipeline: Pipeline, mock_env: MockEnvironment, account_balance: IntegrationDir
) -> None:
    guards = guard_environment(mock_env)
    sample = account_balance.samples[0]
    report = await pipeline.run(account_balance.definition, bot_context(sample.payload))

    assert report.status == SUCCESS, (report, guards.violations())
    assert guards.guards["platform"].checked >= 2
    assert guards.guards["api.external-service.com"].checked >= 1
    assert guards.violations() == []
    assert guards.webhook is not None
    assert guards.webhook.checked >= 1
    assert guards.unguarded == []


@pytest.mark.contract_violations
async def test_an_invalid_definition_is_refused_with_the_contracts_reason(
    mock_env: MockEnvironment,
) -> None:
    guards = guard_environment(mock_env)
    tenant = str(mock_env.settings.cognigy_tenant_url).rstrip("/")
    async with httpx.AsyncClient(base_url=tenant) as client:
        response = await client.post(
            "/api/v1/integrations",
            json={"name": "ab", "config": {"url": "https://x.example"}},
            headers={"Authorization": "Bearer anything"},
        )

    assert response.status_code == 400
    problem = response.json()
    assert problem["status"] == 400
    fields = {error["field"] for error in problem["errors"]}
    assert fields == {"body", "body/name"}
    with pytest.raises(ContractViolation, match="bot_id"):
        guards.assert_clean()


@pytest.mark.contract_violations
async def test_a_query_outside_the_vendor_contract_is_refused_like_open_meteo(
    mock_env: MockEnvironment,
) -> None:
    guards = guard_environment(mock_env)
    async with httpx.AsyncClient() as client:
        response = await client.get(
            "https://api.open-meteo.com/v1/forecast",
            params={"latitude": "1", "longitude": "2", "forecast_days": "99"},
        )

    assert response.status_code == 400
    assert response.json()["error"] is True
    assert "query.forecast_days" in response.json()["reason"]
    [violation] = guards.violations()
    assert "maximum" in violation.schema_path


def test_missing_credentials_are_a_violation() -> None:
    contract = load_contract("account-balance")
    found = check_request(
        contract,
        "POST",
        "/v1/data",
        [],
        {"content-type": "application/json"},
        b'{"query": "account_balance"}',
    )
    assert [item.location for item in found] == ["security"]


def test_a_form_encoded_token_request_is_checked_field_by_field() -> None:
    contract = load_contract("integrations-v1")
    path = "/api/v1/auth/oauth/token"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    in_body = b"grant_type=client_credentials&client_id=a&client_secret=b"
    # RFC 6749 2.3.1: the client may authenticate with HTTP Basic instead.
    basic = b"grant_type=client_credentials&scope=cognigy%3Aplatform%3Aread"
    bad = b"grant_type=password&client_id=a&expires_in=x"

    assert check_request(contract, "POST", path, [], headers, in_body) == []
    assert check_request(contract, "POST", path, [], headers, basic) == []
    [found] = check_request(contract, "POST", path, [], headers, bad)
    assert found.location == "body/grant_type"
    assert "password" in found.reason
    assert found.schema_path.endswith("/grant_type/enum")


def test_an_undeclared_operation_is_a_violation() -> None:
    contract = load_contract("integrations-v1")
    [found] = check_request(contract, "PUT", "/api/v1/integrations", [], {}, b"")
    assert found.location == "operation"


def test_the_contract_declares_every_field_the_client_sends() -> None:
    # The guard would refuse an undeclared field at run time; this names it.
    contract = load_contract("integrations-v1")
    schemas = contract.document["components"]["schemas"]
    for model, name in (
        (IntegrationConfig, "IntegrationConfig"),
        (RetryPolicy, "RetryPolicy"),
        (RequestMapping, "RequestMapping"),
        (ResponseMapping, "ResponseMapping"),
    ):
        assert set(model.model_fields) <= set(schemas[name]["properties"]), name


@pytest.mark.contract_violations
async def test_a_webhook_event_outside_its_schema_is_refused(
    mock_env: MockEnvironment,
) -> None:
    guards = guard_environment(mock_env)
    async with httpx.AsyncClient() as client:
        response = await client.post(
            str(mock_env.settings.webhook_url), json={"status": "MAYBE"}
        )

    assert response.status_code == 400
    reasons = [str(item) for item in guards.violations()]
    assert any("event_id" in reason for reason in reasons)
    assert any("MAYBE" in reason for reason in reasons)
    assert mock_env.webhook.events == []


@pytest.mark.contract_violations
def test_the_guards_refuse_invalid_data_on_a_port_too(
    account_balance: IntegrationDir, weather_forecast: IntegrationDir
) -> None:
    environment = MockEnvironment([account_balance, weather_forecast])
    guards = guard_environment(environment)
    with BackgroundServer(environment.asgi_app()) as server:
        served = environment.port_settings(server.base_url)
        forecast = served.host_overrides["api.open-meteo.com"] + "/v1/forecast"
        refused = httpx.get(forecast, params={"latitude": "1"})
        tenant = str(served.cognigy_tenant_url).rstrip("/")
        token = httpx.post(tenant + "/api/v1/auth/oauth/token", data={"x": "y"})

    assert refused.status_code == 400
    assert "query.longitude" in refused.json()["reason"]
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_request"
    assert len(guards.violations()) >= 2
