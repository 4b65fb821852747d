"""The fixture format, its match rules and the near-miss message."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harness.loader import IntegrationDir
from mocks.environment import MockEnvironment
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
                URL, json={"user_id": "u_1", "query": "account_balanse"}
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
            await client.post(URL, json={"query": "account_balance"})

    unused = environment.unused_fixtures()["api.external-service.com"]
    assert [i.name for i in unused] == ["recent-transactions", "unsupported-query"]


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
