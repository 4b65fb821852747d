"""The mock Cognigy.AI v2.0 API answers with the real API's shapes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from harness.loader import IntegrationDir
from harness.pipeline import Pipeline, bot_context
from harness.settings import HarnessSettings
from mocks.cognigy import RateLimit
from mocks.cognigy_v2 import DEMO_API_KEY, CognigyAiMock
from mocks.environment import COGNIGY_AI_PREFIX, MockEnvironment
from mocks.transport import BackgroundServer

JSON = {"Accept": "application/json", "X-API-Key": DEMO_API_KEY}
HEX24 = re.compile(r"^[0-9a-f]{24}$")


@pytest.fixture
def mock() -> CognigyAiMock:
    return CognigyAiMock()


@pytest.fixture
async def api(mock: CognigyAiMock) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=mock)
    base = "https://api-test.cognigy.invalid/new/v2.0"
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        yield client


def basic_connection(mock: CognigyAiMock, name: str = "crm") -> dict[str, Any]:
    return {
        "projectId": mock.project_id,
        "name": name,
        "type": "http_basic",
        "extension": "@cognigy/basic-nodes",
        "fields": {"username": "bot", "password": "s3cret-value"},
    }


async def test_a_client_that_forgets_accept_json_gets_hal(
    api: httpx.AsyncClient, mock: CognigyAiMock
) -> None:
    hal = await api.get("/flows", headers={"X-API-Key": DEMO_API_KEY})
    plain = await api.get("/flows", headers=JSON)

    assert hal.headers["content-type"] == "application/hal+json"
    assert hal.json()["_embedded"]["flows"][0]["_id"] == mock.flow_id
    assert "self" in hal.json()["_links"]
    assert plain.json() == {
        "items": hal.json()["_embedded"]["flows"],
        "total": 1,
        "nextCursor": None,
        "previousCursor": None,
    }


async def test_lists_page_with_cursors_both_ways(
    api: httpx.AsyncClient, mock: CognigyAiMock
) -> None:
    for name in ("b", "c", "a"):
        mock.add_project(name)

    first = (await api.get("/projects?limit=2&sort=name:asc", headers=JSON)).json()
    after = f"/projects?limit=2&sort=name:asc&next={first['nextCursor']}"
    second = (await api.get(after, headers=JSON)).json()
    back = f"/projects?limit=2&sort=name:asc&previous={second['previousCursor']}"
    again = (await api.get(back, headers=JSON)).json()

    names = [p["name"] for p in first["items"] + second["items"]]
    assert names == ["Demo project", "a", "b", "c"]
    assert second["nextCursor"] is None
    assert again["items"] == first["items"]
    assert first["total"] == second["total"] == 4


async def test_hal_links_page_on_with_the_same_query(
    api: httpx.AsyncClient, mock: CognigyAiMock
) -> None:
    for name in ("b", "c", "a"):
        mock.add_project(name)
    key = {"X-API-Key": DEMO_API_KEY}

    first = (await api.get("/projects?limit=3&sort=name:desc", headers=key)).json()
    second = (await api.get(first["_links"]["next"]["href"], headers=key)).json()

    names = [p["name"] for p in first["_embedded"]["projects"]]
    assert names == ["c", "b", "a"]
    assert [p["name"] for p in second["_embedded"]["projects"]] == ["Demo project"]
    assert "previous" in second["_links"]
    assert "next" not in second["_links"]


@pytest.mark.parametrize("query", ["limit=101", "limit=0", "sort=name:up", "next=%%"])
async def test_a_bad_list_query_is_an_rfc7807_invalid_argument(
    api: httpx.AsyncClient, query: str
) -> None:
    response = await api.get(f"/projects?{query}", headers=JSON)

    problem = response.json()
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["code"] == 1005
    assert set(problem) == {
        "type",
        "title",
        "detail",
        "instance",
        "status",
        "traceId",
        "code",
        "details",
    }


async def test_connections_are_created_once_and_never_show_their_secret(
    api: httpx.AsyncClient, mock: CognigyAiMock
) -> None:
    created = await api.post("/connections", json=basic_connection(mock), headers=JSON)
    again = await api.post("/connections", json=basic_connection(mock), headers=JSON)
    listed = await api.get("/connections", headers=JSON)

    body = created.json()
    assert created.status_code == 201
    assert HEX24.match(body["_id"])
    assert isinstance(body["createdAt"], int)
    assert body["fieldNames"] == ["password", "username"]
    assert again.status_code == 409
    assert again.json()["code"] == 1004
    assert "s3cret-value" not in created.text + listed.text


async def test_patch_and_delete_answer_204_with_no_body(
    api: httpx.AsyncClient, mock: CognigyAiMock
) -> None:
    created = (
        await api.post("/connections", json=basic_connection(mock), headers=JSON)
    ).json()
    path = f"/connections/{created['_id']}"

    patched = await api.patch(path, json={"fields": {"password": "new"}}, headers=JSON)
    deleted = await api.delete(path, headers=JSON)
    gone = await api.get(path, headers=JSON)

    assert (patched.status_code, patched.content) == (204, b"")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert gone.status_code == 404
    assert gone.json()["code"] == 1002
    assert [e["type"] for e in mock.audit_events] == [
        "createConnection",
        "updateConnection",
        "deleteConnection",
    ]


async def test_a_node_is_appended_after_its_target(
    api: httpx.AsyncClient, mock: CognigyAiMock
) -> None:
    chart = f"/flows/{mock.flow_id}/chart"
    start = mock.charts[mock.flow_id][0]["_id"]
    node = {
        "type": "say",
        "extension": "@cognigy/basic-nodes",
        "label": "Hello",
        "target": start,
        "mode": "append",
        "config": {"say": {"text": ["hi"]}},
    }

    created = await api.post(f"{chart}/nodes", json=node, headers=JSON)
    read = await api.get(chart, headers=JSON)

    assert created.status_code == 201
    assert [n["label"] for n in read.json()["nodes"]] == ["Start", "Hello"]
    assert read.json()["relations"][0] == {"node": start, "next": created.json()["_id"]}


@pytest.mark.parametrize(
    ("config", "detail"),
    [
        ({"type": "GET", "url": "https://x.example", "timeout": 20000}, "timeout"),
        ({"type": "FETCH", "url": "https://x.example"}, "config.type"),
        ({"type": "GET", "url": "https://x", "authType": "basic"}, "basicConnection"),
    ],
)
async def test_an_http_request_node_is_checked_like_the_platform_does(
    api: httpx.AsyncClient, mock: CognigyAiMock, config: dict[str, Any], detail: str
) -> None:
    node = {
        "type": "httpRequest",
        "extension": "@cognigy/basic-nodes",
        "label": "Call",
        "target": mock.charts[mock.flow_id][0]["_id"],
        "mode": "append",
        "config": config,
    }
    response = await api.post(f"/flows/{mock.flow_id}/chart/nodes", json=node)
    assert response.status_code == 401  # no credentials yet
    response = await api.post(
        f"/flows/{mock.flow_id}/chart/nodes", json=node, headers=JSON
    )
    assert response.status_code == 400
    assert detail in response.json()["detail"]


async def test_a_get_with_a_body_is_refused_by_the_cdn(api: httpx.AsyncClient) -> None:
    response = await api.request("GET", "/projects", content=b"{}", headers=JSON)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")


async def test_the_rate_limit_answers_429_with_retry_after() -> None:
    mock = CognigyAiMock(rate_limit=RateLimit(2, 300))
    transport = httpx.ASGITransport(app=mock)
    async with httpx.AsyncClient(transport=transport) as client:
        statuses = [
            (await client.get("https://a/new/v2.0/projects", headers=JSON))
            for _ in range(3)
        ]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert int(statuses[2].headers["retry-after"]) >= 299


async def test_an_api_key_in_the_query_and_a_bearer_token_both_work(
    api: httpx.AsyncClient, mock: CognigyAiMock
) -> None:
    by_query = await api.get(f"/projects?api_key={DEMO_API_KEY}")
    token = await api.post(
        "https://api-test.cognigy.invalid/auth/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "demo-client",
            "client_secret": "demo-secret",
        },
    )
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    by_token = await api.get("/projects", headers=bearer)
    bad = await api.post(
        "https://api-test.cognigy.invalid/auth/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "x"},
    )

    assert by_query.status_code == by_token.status_code == 200
    assert token.json()["token_type"] == "Bearer"
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"


async def test_the_mock_answers_the_same_on_a_port() -> None:
    environment = MockEnvironment([])
    with BackgroundServer(environment.asgi_app()) as server:
        base = f"{server.base_url}{COGNIGY_AI_PREFIX}/new/v2.0"
        async with httpx.AsyncClient() as client:
            flows = await client.get(f"{base}/flows", headers=JSON)
    assert flows.status_code == 200
    assert flows.json()["items"][0]["_id"] == environment.cognigy_ai.flow_id


async def test_a_v2_registration_runs_against_the_mocks_on_a_port(
    order_status: IntegrationDir,
) -> None:
    settings = HarnessSettings(cognigy_platform="cognigy-ai-v2")
    environment = MockEnvironment([order_status], settings)
    sample = order_status.samples[0]
    with BackgroundServer(environment.asgi_app()) as server:
        async with Pipeline(environment.port_settings(server.base_url)) as pipeline:
            report = await pipeline.run(
                order_status.definition, bot_context(sample.payload)
            )

    mock = environment.cognigy_ai
    assert report.status == "SUCCESS", report.error
    assert report.normalized_data == sample.expected
    assert report.registration is not None
    assert report.registration.connection_id in mock.connections
    assert mock.nodes_labelled("order-status")[0]["_id"] == report.integration_id
