"""Every fault kind, in-process and through a port, and the plan format."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
import respx

from mocks.external import ExternalMock
from mocks.faults import (
    Fault,
    FaultPlan,
    FaultPlanError,
    FaultRule,
    FaultSpecError,
    Latency,
    load_fault_plan,
    parse_fault_spec,
)
from mocks.fixtures import FixtureFile, Interaction, RecordedResponse, RequestMatch
from mocks.transport import BackgroundServer, asgi_side_effect

HOST = "api.faulty.test"
NORMAL = {"data": {"result": "normal"}}

Send = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture(scope="module")
def external() -> ExternalMock:
    recorded = Interaction(
        request=RequestMatch(method="GET", path="/v1/data"),
        response=RecordedResponse(body=NORMAL),
    )
    return ExternalMock(FixtureFile(interactions=[recorded]))


@pytest.fixture(scope="module")
def server(external: ExternalMock) -> Iterator[BackgroundServer]:
    # One server for the whole module: each test swaps the mock's plan.
    with BackgroundServer(external) as running:
        yield running


@pytest.fixture(params=["in-process", "port"])
def send(
    request: pytest.FixtureRequest, external: ExternalMock, server: BackgroundServer
) -> Iterator[Send]:
    """GET /v1/data through one transport, with a fault plan installed first."""
    in_process = request.param == "in-process"
    base = f"https://{HOST}" if in_process else server.base_url

    async def call(plan: FaultPlan | str, **kwargs: object) -> httpx.Response:
        external.fault_plan = parse_fault_spec(plan) if isinstance(plan, str) else plan
        async with httpx.AsyncClient() as client:
            return await client.get(f"{base}/v1/data", **kwargs)  # type: ignore[arg-type]

    if not in_process:
        yield call
        return
    with respx.mock() as router:
        router.route(host=HOST).mock(side_effect=asgi_side_effect(external))
        yield call


async def test_any_status(send: Send) -> None:
    response = await send("418")
    assert response.status_code == 418
    assert response.json()["title"] == "injected fault"


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_in_seconds(send: Send, status: int) -> None:
    response = await send(f"{status}:retry-after=2")
    assert response.status_code == status
    assert response.headers["retry-after"] == "2"


async def test_retry_after_as_an_http_date(send: Send) -> None:
    response = await send("429:retry-after-date=+30")
    when = parsedate_to_datetime(response.headers["retry-after"]).timestamp()
    assert 20 < when - time.time() <= 31


async def test_a_sequence_then_the_normal_answer(send: Send) -> None:
    plan = parse_fault_spec("503,500")
    statuses = [(await send(plan)).status_code for _ in range(3)]
    assert statuses == [503, 500, 200]


async def test_fixed_latency_then_the_normal_answer(send: Send) -> None:
    started = time.monotonic()
    response = await send("delay:150")
    assert response.json() == NORMAL
    assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize(
    "latency",
    [
        Latency(uniform_ms=(40, 60)),
        Latency(lognormal_median_ms=50, lognormal_sigma=0.1),
    ],
)
async def test_random_latency(send: Send, latency: Latency) -> None:
    fault = Fault(kind="latency", latency=latency)
    plan = FaultPlan(rules=[FaultRule(sequence=[fault])])
    started = time.monotonic()
    response = await send(plan)
    assert response.json() == NORMAL
    assert time.monotonic() - started >= 0.03


async def test_timeout_means_no_answer(send: Send) -> None:
    with pytest.raises(httpx.ReadTimeout):
        await send("timeout", timeout=0.2)


async def test_reset_closes_the_connection_mid_response(send: Send) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await send("reset")


async def test_empty_body(send: Send) -> None:
    response = await send("empty")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("kind", ["truncated", "badjson"])
async def test_invalid_json(send: Send, kind: str) -> None:
    response = await send(kind)
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_wrong_content_type(send: Send) -> None:
    response = await send("wrong-content-type")
    assert response.headers["content-type"].startswith("text/plain")


async def test_html_error_page(send: Send) -> None:
    response = await send("html")
    assert response.status_code == 502
    assert "<html>" in response.text


async def test_redirect(send: Send) -> None:
    response = await send("302:location=https://elsewhere.test/x")
    assert response.status_code == 302
    assert response.headers["location"] == "https://elsewhere.test/x"


async def test_slow_body_arrives_whole_but_late(send: Send) -> None:
    slow = Fault(kind="slow_body", status=200, latency=Latency(fixed_ms=40))
    started = time.monotonic()
    response = await send(FaultPlan(rules=[FaultRule(sequence=[slow])]))
    assert response.json() == {"data": {"result": "slow"}}
    assert time.monotonic() - started >= 0.2


def test_rules_select_their_route_and_mock() -> None:
    plan = FaultPlan(
        rules=[
            FaultRule(method="POST", path="/v1/*", sequence=[Fault(status=500)]),
            FaultRule(mock="platform", sequence=[Fault(status=429)]),
        ]
    )
    external = plan.for_mock("external", "api.x.test")
    assert external.next_fault("GET", "/v1/data") is None
    assert external.next_fault("POST", "/v2/data") is None
    fault = external.next_fault("POST", "/v1/data")
    assert fault is not None
    assert fault.status == 500
    assert external.next_fault("POST", "/v1/data") is None, "the sequence is spent"
    platform = plan.for_mock("platform")
    assert [r.mock for r in platform.rules] == ["platform"]


def test_a_rate_is_seeded_and_close_to_its_share() -> None:
    def draws(seed: int) -> list[bool]:
        rule = FaultRule(rate=0.05, fault=Fault(status=503), seed=seed)
        return [rule.next_fault() is not None for _ in range(2000)]

    assert draws(7) == draws(7), "the same seed gives the same calls"
    assert 60 < sum(draws(7)) < 140


def test_latency_draws() -> None:
    rng = random.Random(1)
    uniform = [Latency(uniform_ms=(10, 20)).draw(rng) for _ in range(200)]
    assert all(10 <= x <= 20 for x in uniform)
    lognormal = sorted(Latency(lognormal_median_ms=100).draw(rng) for _ in range(401))
    assert 80 < lognormal[200] < 125, "the median is the median"


def test_a_fault_plan_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        """
version: 1
latency: {fixed_ms: 5}
rules:
  - mock: api.external-service.com
    method: POST
    path: /v1/data
    sequence:
      - {status: 503, retry_after: 1}
      - {kind: timeout}
  - path: /v1/*
    rate: 0.05
    seed: 42
    fault: {status: 429, retry_after_date: 2}
""",
        encoding="utf-8",
    )
    plan = load_fault_plan(path)
    assert plan.rules[0].sequence[1].kind == "timeout"
    assert plan.for_mock("external", "api.external-service.com").rules == plan.rules


def test_a_bad_fault_plan_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("rules:\n  - sequence: [{kind: explode}]\n", encoding="utf-8")
    with pytest.raises(FaultPlanError, match=r"rules\.0\.sequence\.0\.kind"):
        load_fault_plan(path)


@pytest.mark.parametrize(
    "spec", ["507x", "429:retry-after=soon", "delay:x", "302:to=y"]
)
def test_a_bad_fault_spec_is_refused(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse_fault_spec(spec)


def test_a_misspelt_mock_name_is_refused() -> None:
    with pytest.raises(ValueError, match="mock must be one of"):
        FaultRule(mock="platfrom")


async def _instant(seconds: float) -> None:
    return None


def test_run_takes_a_fault_plan_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from harness.cli import main
    from tests.conftest import INTEGRATIONS

    # Backoff waits are not what this test is about.
    monkeypatch.setattr("harness.executor.backoff_sleep", _instant)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "rules:\n"
        "  - {mock: api.external-service.com, method: POST, path: /v1/data,\n"
        "     sequence: [{status: 503}, {status: 429, retry_after: 0}]}\n",
        encoding="utf-8",
    )
    integration = INTEGRATIONS / "account-balance"
    payload = integration / "samples" / "balance.payload.json"

    run = ["run", str(integration), "--payload", str(payload), "--mock", "--json"]

    code = main([*run, "--fault-plan", str(plan), "--fault", "503"])

    document = json.loads(capsys.readouterr().out)
    outcomes = [a["outcome"] for a in document["attempt_outcomes"]]
    assert outcomes == [503, 429, 503], "the file's rule, then the shorthand"
    assert code == 1, "three attempts, all refused"
