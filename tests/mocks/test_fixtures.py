"""The fixture format, its match rules and the near-miss message."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from harness.loader import IntegrationDir
from harness.settings import HarnessSettings
from mocks.environment import DEMO_EXTERNAL_SECRET, MockEnvironment
from mocks.external import ExternalMock
from mocks.fixtures import (
    FixtureError,
    FixtureFile,
    Interaction,
    RecordedResponse,
    RequestInfo,
    RequestMatch,
    dump_fixture_file,
    load_fixture_file,
    register_matcher,
)

URL = "https://api.external-service.com/v1/data"
DEMO = {"Authorization": f"Bearer {DEMO_EXTERNAL_SECRET}"}
QUERY = {"query": "account_balance"}
FORECAST = "https://api.open-meteo.com/v1/forecast"
FORECAST_QUERY = {
    "latitude": "40.71",
    "longitude": "-74.01",
    "hourly": "rain_probability,snowfall_probability,freezing_rain_probability,"
    "ice_pellets_probability,thunderstorm_probability",
    "timezone": "America/New_York",
    "forecast_days": "1",
}


def interaction(name: str, **match: object) -> Interaction:
    return Interaction(
        name=name,
        request=RequestMatch.model_validate(match),
        response=RecordedResponse(status=200, body={"from": name}),
    )


async def send(
    mock: ExternalMock, method: str, url: str, **kw: object
) -> httpx.Response:
    transport = httpx.ASGITransport(app=mock)
    async with httpx.AsyncClient(transport=transport) as client:
        return await client.request(method, url, **kw)  # type: ignore[arg-type]


# Drives the mock's mechanics with raw requests, not the harness's client.
@pytest.mark.contract_violations
async def test_an_unmatched_request_names_the_closest_fixture_and_what_differs(
    account_balance: IntegrationDir,
) -> None:
    environment = MockEnvironment([account_balance])
    with environment.in_process():
        async with httpx.AsyncClient() as client:
            response = await client.post(
                URL, json={"user_id": "u_1", "query": "account_balanse"}, headers=DEMO
            )

    assert response.status_code == 599
    message = response.json()["message"]
    assert message.startswith("no fixture matches POST /v1/data body=")
    assert "account_balanse" in message, "the request is shown"
    assert "closest is 'account-balance'" in message
    assert 'body.query is "account_balanse", not "account_balance"' in message
    assert environment.external().misses == [message]


async def test_the_near_miss_names_method_path_and_query_differences() -> None:
    fixtures = FixtureFile(
        interactions=[
            interaction("search", method="GET", path="/v1/s", query={"q": "a"})
        ]
    )
    mock = ExternalMock(fixtures)

    response = await send(mock, "POST", "http://x/v1/t?q=b")

    differences = response.json()["closest"]["differences"]
    assert differences == [
        "method POST != GET",
        "path /v1/t != /v1/s",
        "query q='b', not 'a'",
    ]


async def test_a_secret_in_an_unmatched_request_is_not_shown() -> None:
    mock = ExternalMock(FixtureFile(interactions=[interaction("a", path="/a")]))

    response = await send(
        mock, "POST", "http://x/b", json={"access_token": "tok-9f8e7d6c", "q": 1}
    )

    assert "tok-9f8e7d6c" not in response.text
    assert "tok-9f8e7d6c" not in mock.misses[0]


async def test_headers_form_and_masked_values_match() -> None:
    fixtures = FixtureFile(
        interactions=[
            interaction(
                "token",
                method="POST",
                path="/token",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                form={"grant_type": "password", "password": "***"},
            )
        ]
    )
    mock = ExternalMock(fixtures)

    good = await send(
        mock, "POST", "http://x/token", data={"grant_type": "password", "password": "s"}
    )
    bad = await send(mock, "POST", "http://x/token", data={"grant_type": "code"})

    assert good.json() == {"from": "token"}
    assert bad.status_code == 599
    assert "form password=None, not '***'" in bad.json()["message"]


async def test_custom_matchers_by_name_and_by_object() -> None:
    @register_matcher("has-tenant")
    def has_tenant(request: RequestInfo, match: RequestMatch) -> str | None:
        return None if "x-tenant" in request.headers else "header x-tenant missing"

    def even_path(request: RequestInfo, match: RequestMatch) -> str | None:
        return None if len(request.path) % 2 == 0 else "odd path"

    fixtures = FixtureFile(
        interactions=[
            interaction("t", method="GET", path="/ab", matchers=["has-tenant"])
        ]
    )
    mock = ExternalMock(fixtures, matchers=[even_path])

    matched = await send(mock, "GET", "http://x/ab/", headers={"X-Tenant": "t1"})
    missed = await send(mock, "GET", "http://x/ab/")

    assert matched.status_code == 200
    assert "header x-tenant missing" in missed.json()["message"]


async def test_an_unknown_matcher_is_a_clear_error() -> None:
    fixtures = FixtureFile(interactions=[interaction("t", matchers=["nope"])])
    with pytest.raises(FixtureError, match="unknown matcher"):
        await send(ExternalMock(fixtures), "GET", "http://x/")


# Drives the mock's mechanics with raw requests, not the harness's client.
@pytest.mark.contract_violations
async def test_unused_fixtures_are_reported(account_balance: IntegrationDir) -> None:
    environment = MockEnvironment([account_balance])
    with environment.in_process():
        async with httpx.AsyncClient() as client:
            await client.post(URL, json={"query": "account_balance"}, headers=DEMO)

    unused = environment.unused_fixtures()["api.external-service.com"]
    assert [i.name for i in unused] == ["recent-transactions", "unsupported-query"]


# Missing and wrong credentials on purpose: the guard would stop the first.
@pytest.mark.contract_violations
@pytest.mark.parametrize(
    ("headers", "which"),
    [({}, "no"), ({"Authorization": "Bearer wrong"}, "a wrong")],
)
async def test_the_external_mock_refuses_a_missing_or_wrong_credential(
    account_balance: IntegrationDir, headers: dict[str, str], which: str
) -> None:
    environment = MockEnvironment([account_balance])
    with environment.in_process():
        async with httpx.AsyncClient() as client:
            refused = await client.post(URL, json=QUERY, headers=headers)
            accepted = await client.post(URL, json=QUERY, headers=DEMO)

    assert refused.status_code == 401
    assert refused.json() == {
        "error": "unauthorized",
        "message": f"{which} credential in Authorization: auth_type bearer "
        "expects the value of EXTERNAL_API_KEY",
    }
    assert "data" not in refused.json()
    assert accepted.status_code == 200


async def test_the_external_mock_expects_the_secret_the_settings_hold(
    account_balance: IntegrationDir, weather_forecast: IntegrationDir
) -> None:
    secrets = {"EXTERNAL_API_KEY": SecretStr("k-from-env")}
    settings = HarnessSettings(extra_secrets=secrets)
    environment = MockEnvironment([account_balance, weather_forecast], settings)
    with environment.in_process():
        async with httpx.AsyncClient() as client:
            demo = await client.post(URL, json=QUERY, headers=DEMO)
            own = await client.post(
                URL, json=QUERY, headers={"Authorization": "Bearer k-from-env"}
            )
            # auth_type none: the host is open.
            open_host = await client.get(FORECAST, params=FORECAST_QUERY)

    assert (demo.status_code, own.status_code) == (401, 200)
    assert open_host.status_code == 200


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_fixture_file_round_trips(tmp_path: Path, suffix: str) -> None:
    fixtures = FixtureFile(
        base_url="https://x.test",
        interactions=[interaction("a", method="POST", path="/a", body={"k": [1, 2]})],
    )
    path = dump_fixture_file(fixtures, tmp_path / f"f{suffix}")
    assert load_fixture_file(path) == fixtures


def test_a_bad_fixture_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("version: 1\ninteractions:\n  - request: {method: GET}\n")
    with pytest.raises(
        FixtureError, match=r"interactions\.0\.response: Field required"
    ):
        load_fixture_file(path)
