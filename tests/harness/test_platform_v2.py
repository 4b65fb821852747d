"""Registration on Cognigy.AI v2.0: Connections, HTTP Request nodes, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from harness.errors import (
    PlatformError,
    RegistrationRefusedError,
    SecretMissingError,
)
from harness.loader import IntegrationDir
from harness.models import CognigyAiTarget
from harness.pipeline import Pipeline, bot_context
from harness.platform_v2 import (
    API_KEY_X_KEY_AUTH,
    CognigyAiClient,
    cognigy_ai_client,
    node_config,
)
from harness.settings import HarnessSettings
from mocks.cognigy_v2 import CognigyAiMock, new_id
from mocks.environment import DEMO_EXTERNAL_SECRET, MockEnvironment
from mocks.faults import parse_fault_spec
from mocks.transport import asgi_side_effect
from tests.harness.test_executor import Sleeps

API_URL = "https://api-test.cognigy.invalid"


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def v2_mock() -> CognigyAiMock:
    return CognigyAiMock()


@pytest.fixture
async def v2_client(
    v2_mock: CognigyAiMock, sleeps: Sleeps
) -> AsyncIterator[CognigyAiClient]:
    """A client straight on the mock, API key auth, waits recorded."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        router.route(host="api-test.cognigy.invalid").mock(
            side_effect=asgi_side_effect(v2_mock)
        )
        async with httpx.AsyncClient() as http:
            yield CognigyAiClient(
                http,
                API_URL,
                api_key=SecretStr(v2_mock.api_key),
                project_id=v2_mock.project_id,
                flow_id=v2_mock.flow_id,
                secret=lambda name: SecretStr("shop-key"),
                sleep=sleeps,
            )


async def test_registering_creates_a_connection_and_an_http_request_node(
    cognigy_ai_pipeline: Pipeline,
    cognigy_ai_env: MockEnvironment,
    order_status: IntegrationDir,
) -> None:
    registration = await cognigy_ai_pipeline.platform.register(order_status.definition)

    mock = cognigy_ai_env.cognigy_ai
    node = mock.nodes_labelled("order-status")[0]
    connection = mock.connections[registration.connection_id or ""]
    assert registration.id == node["_id"]
    assert registration.flow_id == mock.flow_id
    assert registration.reused is False
    assert connection["type"] == API_KEY_X_KEY_AUTH.connection_type
    assert connection["fields"] == {"authApiKey": DEMO_EXTERNAL_SECRET}
    assert node["type"] == "httpRequest"
    assert node["extension"] == "@cognigy/basic-nodes"
    assert node["config"] == {
        "type": "GET",
        "url": "https://api.shop-example.com/v2/orders/{{input.data.order_id}}"
        "?locale={{input.data.locale}}",
        "headers": {"Accept": "application/json"},
        "timeout": 8000,
        "authType": "apiKeyXKey",
        "apiKeyXKeyConnection": registration.connection_id,
        "storeLocation": "context",
        "contextKey": "order-status",
        "async": False,
    }


async def test_registering_the_same_definition_twice_updates_the_node(
    cognigy_ai_pipeline: Pipeline,
    cognigy_ai_env: MockEnvironment,
    order_status: IntegrationDir,
) -> None:
    first = await cognigy_ai_pipeline.platform.register(order_status.definition)
    changed = order_status.definition.model_copy(deep=True)
    changed.config.timeout_seconds = 5
    second = await cognigy_ai_pipeline.platform.register(changed)

    mock = cognigy_ai_env.cognigy_ai
    nodes = mock.nodes_labelled("order-status")
    assert len(nodes) == 1
    assert second.id == first.id
    assert second.reused is True
    assert second.connection_id == first.connection_id
    assert len(mock.connections) == 1
    assert nodes[0]["config"]["timeout"] == 5000
    actions = [event["type"] for event in mock.audit_events]
    assert actions == [
        "createConnection",
        "createNode",
        "updateConnection",
        "updateNode",
    ]


async def test_every_call_asks_for_json_and_never_shows_the_key(
    cognigy_ai_pipeline: Pipeline,
    cognigy_ai_env: MockEnvironment,
    order_status: IntegrationDir,
) -> None:
    await cognigy_ai_pipeline.platform.register(order_status.definition)
    await cognigy_ai_pipeline.platform.register(order_status.definition)

    mock = cognigy_ai_env.cognigy_ai
    node_id = mock.nodes_labelled("order-status")[0]["_id"]
    connection_id = next(iter(mock.connections))
    chart = f"/flows/{mock.flow_id}/chart"
    entries = mock.journal.entries
    calls = [(e.method, e.path.removeprefix("/new/v2.0")) for e in entries]
    assert calls == [
        ("GET", "/connections"),
        ("POST", "/connections"),
        ("GET", chart),
        ("POST", f"{chart}/nodes"),
        ("GET", "/connections"),
        ("PATCH", f"/connections/{connection_id}"),
        ("GET", chart),
        ("PATCH", f"{chart}/nodes/{node_id}"),
    ]
    assert all(entry.headers["accept"] == "application/json" for entry in entries)
    assert all(entry.headers["x-api-key"] == "***" for entry in entries)
    assert entries[1].body["fields"] == {"authApiKey": "***"}
    assert entries[5].body["fields"] == {"authApiKey": "***"}


async def test_a_pipeline_run_audits_and_reports_the_node_id(
    cognigy_ai_pipeline: Pipeline,
    cognigy_ai_env: MockEnvironment,
    order_status: IntegrationDir,
) -> None:
    sample = order_status.samples[0]
    report = await cognigy_ai_pipeline.run(
        order_status.definition, bot_context(sample.payload)
    )

    node = cognigy_ai_env.cognigy_ai.nodes_labelled("order-status")[0]
    assert report.status == "SUCCESS", report.error
    assert report.normalized_data == sample.expected
    assert report.integration_id == node["_id"]
    assert report.audit_entry["integration_id"] == node["_id"]
    assert cognigy_ai_env.webhook.events[-1]["integration_id"] == node["_id"]


async def test_a_401_with_an_api_key_is_a_clear_error_not_a_retry(
    cognigy_ai_env: MockEnvironment, order_status: IntegrationDir
) -> None:
    settings = cognigy_ai_env.settings.model_copy(
        update={"cognigy_api_key": SecretStr("revoked-key")}
    )
    sleeps = Sleeps()
    async with Pipeline(settings, sleep=sleeps) as pipeline:
        with pytest.raises(PlatformError, match="COGNIGY_API_KEY") as caught:
            await pipeline.platform.register(order_status.definition)
        report = await pipeline.run(order_status.definition, bot_context({}))

    assert caught.value.status == 401
    assert "revoked-key" not in str(caught.value)
    assert sleeps == []
    # One refused call by the direct registration, one by the run.
    assert cognigy_ai_env.cognigy_ai.journal.total == 2
    assert report.status == "FAILURE"
    assert report.integration_id is None
    assert report.audit_entry["status"] == "FAILURE"


async def test_oauth2_client_credentials_are_used_without_an_api_key(
    cognigy_ai_env: MockEnvironment, order_status: IntegrationDir
) -> None:
    settings = cognigy_ai_env.settings.model_copy(update={"cognigy_api_key": None})
    mock = cognigy_ai_env.cognigy_ai
    async with Pipeline(settings) as pipeline:
        await pipeline.platform.register(order_status.definition)
        mock.tokens.clear()  # every issued token is now unknown
        await pipeline.platform.register(order_status.definition)

    assert mock.token_requests == 2
    assert len(mock.nodes_labelled("order-status")) == 1
    assert all("x-api-key" not in e.headers for e in mock.journal.entries)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"auth_type": "bearer"}, "bearer"),
        ({"auth_header_name": "X-Shop-Key"}, "X-Shop-Key"),
        ({"timeout_seconds": 20}, "exceeds the 15 s"),
        (
            {"request_mapping": {"path": {"order_id": {"$input": "bot.payload[0]"}}}},
            "JMESPath",
        ),
    ],
)
async def test_what_a_node_cannot_hold_is_refused_before_anything_is_sent(
    cognigy_ai_pipeline: Pipeline,
    cognigy_ai_env: MockEnvironment,
    order_status: IntegrationDir,
    change: dict[str, object],
    reason: str,
) -> None:
    data = order_status.definition.model_dump()
    data["config"].update(change)
    definition = type(order_status.definition).model_validate(data)

    with pytest.raises(RegistrationRefusedError, match=reason):
        await cognigy_ai_pipeline.platform.register(definition)
    assert cognigy_ai_env.cognigy_ai.journal.total == 0


def test_the_node_timeout_cap_is_a_setting(order_status: IntegrationDir) -> None:
    definition = order_status.definition.model_copy(deep=True)
    assert node_config(definition, 8)["timeout"] == 8000
    definition.config.timeout_seconds = 9
    with pytest.raises(RegistrationRefusedError, match="exceeds the 8 s"):
        node_config(definition, 8)


def test_a_body_becomes_node_json_with_cognigy_script(
    account_balance: IntegrationDir,
) -> None:
    data = account_balance.definition.model_dump()
    data["config"].update(auth_type="api_key", auth_header_name="X-API-Key")
    definition = type(account_balance.definition).model_validate(data)

    config = node_config(definition, 15)

    assert config["payloadType"] == "json"
    assert config["payloadJSON"] == {"$cs": {"script": "input.data", "type": "object"}}


async def test_a_per_definition_flow_wins_over_the_settings(
    cognigy_ai_pipeline: Pipeline,
    cognigy_ai_env: MockEnvironment,
    order_status: IntegrationDir,
) -> None:
    mock = cognigy_ai_env.cognigy_ai
    other_flow = mock.add_flow(mock.project_id, "Orders")
    definition = order_status.definition.model_copy(
        update={"cognigy_ai": CognigyAiTarget(flow_id=other_flow)}
    )

    registration = await cognigy_ai_pipeline.platform.register(definition)

    assert registration.flow_id == other_flow
    assert mock.nodes_labelled("order-status", other_flow)[0]["_id"] == registration.id
    assert mock.nodes_labelled("order-status") == []


async def test_an_unknown_flow_names_the_platform_code(
    v2_client: CognigyAiClient, order_status: IntegrationDir
) -> None:
    v2_client.flow_id = new_id()
    with pytest.raises(PlatformError, match=r"404 Not Found \(code 1002\)"):
        await v2_client.register(order_status.definition)


async def test_a_list_follows_next_cursor_to_the_end(
    v2_client: CognigyAiClient, v2_mock: CognigyAiMock
) -> None:
    for index in range(150):
        connection_id = new_id()
        v2_mock.connections[connection_id] = {
            "_id": connection_id,
            "name": f"connection {index}",
            "type": "http_basic",
            "extension": "@cognigy/basic-nodes",
            "projectId": v2_mock.project_id,
            "fields": {},
        }

    items = await v2_client.list_all("/connections", {"projectId": v2_mock.project_id})

    assert [item["name"] for item in items] == [
        f"connection {index}" for index in range(150)
    ]
    assert [entry.query.get("next") is None for entry in v2_mock.journal.entries] == [
        True,
        False,
    ]


async def test_a_get_is_retried_on_503_honouring_retry_after(
    v2_client: CognigyAiClient, v2_mock: CognigyAiMock, sleeps: Sleeps
) -> None:
    v2_mock.fault_plan = parse_fault_spec("503:retry-after=3,502")
    chart = await v2_client.call("GET", f"/flows/{v2_mock.flow_id}/chart", "read")
    assert chart["nodes"][0]["type"] == "start"
    assert sleeps == [3.0, 2.0]


@pytest.mark.parametrize(("spec", "method"), [("503", "POST"), ("511", "GET")])
async def test_what_must_not_be_retried_is_not(
    v2_client: CognigyAiClient,
    v2_mock: CognigyAiMock,
    sleeps: Sleeps,
    spec: str,
    method: str,
) -> None:
    v2_mock.fault_plan = parse_fault_spec(spec)
    response = await v2_client.request(method, "/connections", json={})
    assert response.status_code == int(spec)
    assert sleeps == []
    assert v2_mock.journal.total == 1


async def test_a_rate_limit_is_waited_out(
    v2_client: CognigyAiClient, v2_mock: CognigyAiMock, sleeps: Sleeps
) -> None:
    v2_mock.fault_plan = parse_fault_spec("429:retry-after=2")
    page = await v2_client.call("GET", "/projects", "list", params={"limit": 1})
    assert page["total"] == 1
    assert sleeps == [2.0]


async def test_settings_without_credentials_stop_before_sending() -> None:
    settings = HarnessSettings(
        cognigy_platform="cognigy-ai-v2", cognigy_api_url=API_URL
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(SecretMissingError, match="COGNIGY_API_KEY"):
            cognigy_ai_client(http, settings)
        with pytest.raises(PlatformError, match="COGNIGY_API_URL"):
            cognigy_ai_client(http, HarnessSettings())


def test_a_merge_into_template_keys_is_refused(
    account_balance: IntegrationDir,
) -> None:
    data = account_balance.definition.model_dump()
    data["config"].update(auth_type="none")
    data["config"]["request_mapping"]["body"]["source"] = "bot"
    definition = type(account_balance.definition).model_validate(data)

    with pytest.raises(RegistrationRefusedError, match="cannot merge"):
        node_config(definition, 15)


async def test_a_missing_secret_or_target_stops_before_sending(
    v2_client: CognigyAiClient, v2_mock: CognigyAiMock, order_status: IntegrationDir
) -> None:
    v2_client.secret = lambda name: None
    with pytest.raises(SecretMissingError, match="SHOP_API_KEY"):
        await v2_client.register(order_status.definition)

    v2_client.flow_id = None
    with pytest.raises(PlatformError, match="COGNIGY_FLOW_ID"):
        await v2_client.register(order_status.definition)
    assert v2_mock.journal.total == 0


async def test_a_hal_answer_is_named_as_such(
    v2_client: CognigyAiClient, v2_mock: CognigyAiMock
) -> None:
    class IgnoresAccept(httpx.AsyncClient):
        async def request(self, *args: Any, **kwargs: Any) -> httpx.Response:
            kwargs["headers"] = {
                k: v for k, v in kwargs["headers"].items() if k != "Accept"
            }
            return await super().request(*args, **kwargs)

    async with IgnoresAccept() as http:
        v2_client.client = http
        with pytest.raises(PlatformError, match="a HAL answer"):
            await v2_client.list_all("/projects", {})
