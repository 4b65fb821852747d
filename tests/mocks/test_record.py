"""Recording through a loopback server: modes, replay, and no secret written."""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from harness.cli import main
from mocks.external import ExternalMock
from mocks.faults import parse_fault_spec
from mocks.fixtures import FixtureFile, load_fixture_file
from mocks.record import Recorder, RecordMode
from mocks.scrub import Scrubber
from mocks.transport import BackgroundServer
from tests.conftest import CLI, INTEGRATIONS

HOST = "api.recorded.test"
URL = f"https://{HOST}"

# Known secret values the client sends and the server answers with.
API_KEY = "key-4f1b9e7c2a"
BEARER = "bearer-8d3e0a55f1"
BASIC_PASSWORD = "basic-pw-77e1c0"
COOKIE = "cookie-c0ffee4711"
SET_COOKIE = "session-5eed1e55"
CLIENT_SECRET = "client-secret-0b5e55ed"
PASSWORD = "hunter2-passw0rd"
ACCESS = "access-tok-93ac2e"
REFRESH = "refresh-tok-61b8fa"
ID_TOKEN = "id-tok-a7c44d"
QUERY_KEY = "query-key-2c9d1e"
EMAIL = "jane.doe@example.com"
PHONE = "+49 170 5551234"
SECRETS = [
    API_KEY,
    BEARER,
    BASIC_PASSWORD,
    COOKIE,
    SET_COOKIE,
    CLIENT_SECRET,
    PASSWORD,
    ACCESS,
    REFRESH,
    ID_TOKEN,
    QUERY_KEY,
    EMAIL,
    PHONE,
]


async def token(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))
    if form.get("client_secret") != CLIENT_SECRET or form.get("password") != PASSWORD:
        return JSONResponse({"error": "invalid_client"}, status_code=401)
    return JSONResponse(
        {"access_token": ACCESS, "refresh_token": REFRESH, "id_token": ID_TOKEN}
    )


async def data(request: Request) -> Response:
    body = await request.json()
    answer = {
        "data": {
            "customer": {"email": EMAIL, "phone": PHONE},
            "query": body,
            "result": {"balance": 12.5, "currency": "EUR"},
        },
        # A careless server echoes the credential it was sent.
        "debug": f"called with key {request.headers.get('x-api-key')}",
    }
    response = JSONResponse(answer)
    response.set_cookie("session", SET_COOKIE)
    return response


async def search(request: Request) -> Response:
    return PlainTextResponse(f"results for {request.query_params.get('q')}")


class Upstream:
    """The live API stand-in, counting what reaches it."""

    def __init__(self) -> None:
        self.hits = 0
        self.app = Starlette(
            routes=[
                Route("/oauth/token", token, methods=["POST"]),
                Route("/v1/data", data, methods=["POST"]),
                Route("/v1/search", search, methods=["GET"]),
            ]
        )

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            self.hits += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[Upstream, str]]:
    app = Upstream()
    with BackgroundServer(app) as server:
        yield app, server.base_url


async def exercise(client: httpx.AsyncClient) -> list[httpx.Response]:
    basic = base64.b64encode(f"user:{BASIC_PASSWORD}".encode()).decode()
    return [
        await client.post(
            f"{URL}/oauth/token",
            data={
                "grant_type": "password",
                "client_secret": CLIENT_SECRET,
                "password": PASSWORD,
            },
            headers={"Authorization": f"Basic {basic}"},
        ),
        await client.post(
            f"{URL}/v1/data",
            json={"query": "balance", "access_token": ACCESS},
            headers={
                "X-API-Key": API_KEY,
                "Authorization": f"Bearer {BEARER}",
                "Cookie": f"session={COOKIE}",
            },
        ),
        await client.get(f"{URL}/v1/search", params={"q": "x", "api_key": QUERY_KEY}),
    ]


def customer_scrubber() -> Scrubber:
    return Scrubber().extended(
        json_paths=["data.customer.email", "data.customer.phone"]
    )


async def record(recorder: Recorder, *searches: dict[str, str]) -> list[httpx.Response]:
    """Calls through `recorder` in-process, then the file saved.

    With no `searches`, the three calls of `exercise`; else one GET
    /v1/search per query given.
    """
    with respx.mock(assert_all_called=False) as router:
        recorder.install(router, host=HOST)
        async with httpx.AsyncClient() as client:
            if searches:
                responses = [
                    await client.get(f"{URL}/v1/search", params=query)
                    for query in searches
                ]
            else:
                responses = await exercise(client)
    await recorder.aclose()
    recorder.save()
    return responses


async def test_no_secret_reaches_the_recorded_file(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    _, base_url = upstream
    path = tmp_path / "fixtures.yaml"
    recorder = Recorder(path, base_url, "once", scrubber=customer_scrubber())

    responses = await record(recorder)

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert responses[1].json()["data"]["customer"]["email"] == EMAIL, "live answer"
    written = path.read_text(encoding="utf-8")
    leaked = [secret for secret in SECRETS if secret in written]
    assert leaked == []
    assert "***" in written
    assert len(load_fixture_file(path).interactions) == 3


async def test_a_recording_replays_and_records_when_and_where(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    app, base_url = upstream
    path = tmp_path / "fixtures.json"
    await record(Recorder(path, base_url, "once", scrubber=customer_scrubber()))
    assert Recorder(path, base_url, "once").save() is None, "nothing new"
    hits = app.hits

    replayed = await record(Recorder(path, base_url, "none"))

    assert app.hits == hits, "replay never reaches the upstream"
    assert [r.status_code for r in replayed] == [200, 200, 200]
    assert replayed[1].json()["data"]["customer"]["email"] == "***"
    assert replayed[2].text == "results for x"
    interaction = load_fixture_file(path).interactions[0]
    assert interaction.recorded is not None
    assert interaction.recorded["from"] == base_url
    assert interaction.recorded["at"].endswith("Z")


async def test_once_with_a_file_does_not_record_new_requests(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    app, base_url = upstream
    path = tmp_path / "fixtures.yaml"
    await record(Recorder(path, base_url, RecordMode.ONCE))
    recorder = Recorder(path, base_url, RecordMode.ONCE)
    hits = app.hits

    with respx.mock(assert_all_called=False) as router:
        recorder.install(router, host=HOST)
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{URL}/v1/search", params={"q": "new"})

    assert response.status_code == 599
    assert "closest is 'GET /v1/search #3'" in response.json()["message"]
    assert app.hits == hits
    assert recorder.save() is None


async def test_new_episodes_records_only_what_is_missing(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    app, base_url = upstream
    path = tmp_path / "fixtures.yaml"
    await record(Recorder(path, base_url, "once"))
    hits = app.hits

    _, fresh = await record(
        Recorder(path, base_url, "new_episodes"),
        {"q": "x", "api_key": "other"},
        {"q": "fresh"},
    )

    assert app.hits == hits + 1, "the scrubbed api_key matches any value"
    assert fresh.text == "results for fresh"
    assert len(load_fixture_file(path).interactions) == 4


async def test_all_rerecords_and_rewrites_the_file(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    app, base_url = upstream
    path = tmp_path / "fixtures.yaml"
    await record(Recorder(path, base_url, "once"))
    hits = app.hits

    await record(Recorder(path, base_url, "all"), {"q": "x"})

    assert app.hits == hits + 1
    assert len(load_fixture_file(path).interactions) == 1


def test_all_names_the_interactions_it_drops(tmp_path: Path) -> None:
    path = tmp_path / "fixtures.yaml"
    path.write_text(
        "interactions:\n"
        "- name: hand-written\n"
        "  request: {method: GET, path: /v1/search}\n"
        "  response: {status: 200, text: by hand}\n"
    )

    recorder = Recorder(path, "https://x.test", "all")

    assert [i.label for i in recorder.dropped] == ["hand-written"]
    assert recorder.fixtures.interactions == []


@pytest.mark.parametrize("fault", [None, "503"])
async def test_an_answer_a_mock_made_up_is_never_recorded(
    tmp_path: Path, fault: str | None
) -> None:
    # The upstream is itself a mock: no fixture matches (its 599), or a fault.
    plan = parse_fault_spec(fault) if fault else None
    path = tmp_path / "fixtures.yaml"
    with BackgroundServer(ExternalMock(FixtureFile(), plan)) as server:
        recorder = Recorder(path, server.base_url, "new_episodes")
        (answer,) = await record(recorder, {"q": "x"})

    assert answer.status_code == (503 if fault else 599), "passed on to the client"
    assert recorder.recorded == []
    assert not path.exists()
    (error,) = recorder.errors
    assert "made up by a mock: not recorded" in error
    assert ("fault" if fault else "unmatched_request") in error


async def test_a_recorder_serves_on_a_port_too(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    _, base_url = upstream
    path = tmp_path / "fixtures.yaml"
    recorder = Recorder(path, base_url, "new_episodes")
    with BackgroundServer(recorder) as server:
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{server.base_url}/v1/search", params={"q": "port"}
            )
    recorder.save()  # the server closed the recorder's client at shutdown

    assert response.text == "results for port"
    assert load_fixture_file(path).interactions[0].request.query == {"q": "port"}


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the account-balance example, its fixtures free to rewrite."""
    integration = tmp_path / "account-balance"
    shutil.copytree(INTEGRATIONS / "account-balance", integration)
    return integration


def test_an_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rewrite"):
        Recorder(tmp_path / "f.yaml", "https://x.test", "rewrite")


def test_the_record_command_writes_a_scrubbed_fixture_file(
    upstream: tuple[Upstream, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app, base_url = upstream
    integration = tmp_path / "account-balance"
    shutil.copytree(INTEGRATIONS / "account-balance", integration)
    (integration / "fixtures.yaml").unlink()
    monkeypatch.setenv("EXTERNAL_API_KEY", API_KEY)
    command = ["record", str(integration), "--upstream", base_url]
    scrub = ["--scrub-json-path", "data.customer.email"]
    scrub += ["--scrub-json-path", "data.customer.phone"]

    recorded = main([*command, "--mode", "once", *scrub])
    out = capsys.readouterr().out
    hits = app.hits
    replayed = main([*command, "--mode", "none"])

    assert recorded == 0, out
    assert "balance: SUCCESS" in out
    assert "wrote 2 new interaction(s)" in out
    written = (integration / "fixtures.yaml").read_text(encoding="utf-8")
    assert [secret for secret in SECRETS if secret in written] == []
    assert replayed == 0
    assert app.hits == hits, "mode none replays from the file"


def test_the_record_command_refuses_an_upstream_that_is_no_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    integration = str(INTEGRATIONS / "account-balance")

    code = main(["record", integration, "--upstream", "notaurl"])

    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        "error: --upstream 'notaurl' is not a base URL like https://api.example.com\n"
    )


def test_an_unreachable_upstream_is_one_error_line_and_rewrites_nothing(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    integration = example
    before = load_fixture_file(integration / "fixtures.yaml").interactions
    command = ["record", str(integration), "--mode", "all"]

    code = main([*command, "--upstream", "http://127.0.0.1:1"])
    unreachable = capsys.readouterr().err

    assert code == 1
    assert unreachable.count("\n") == 1, "both samples hit the same error"
    assert "cannot reach http://127.0.0.1:1 (" in unreachable
    assert len(load_fixture_file(integration / "fixtures.yaml").interactions) == len(
        before
    ), "nothing recorded, nothing rewritten"


def test_record_all_prints_the_interactions_it_replaced(
    upstream: tuple[Upstream, str],
    example: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, base_url = upstream
    integration = example
    before = load_fixture_file(integration / "fixtures.yaml").interactions
    monkeypatch.setenv("EXTERNAL_API_KEY", API_KEY)
    command = ["record", str(integration), "--mode", "all", "--upstream", base_url]

    code = main(command)

    out = capsys.readouterr().out
    assert code == 0, out
    assert f"replaced {len(before)} existing interaction(s)" in out
    assert before[0].label in out


def test_mock_serve_records_when_asked(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    _, base_url = upstream
    integration = tmp_path / "account-balance"
    shutil.copytree(INTEGRATIONS / "account-balance", integration)
    host = "api.external-service.com"
    command = [*CLI, "mock", "serve", str(integration), "--port", "0"]
    command += ["--record-mode", "all", "--upstream", f"{host}={base_url}"]

    # Our own CLI with fixed arguments.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert process.stdout is not None
    with process.stdout:
        external = next(
            line.rpartition(": ")[2].strip()
            for line in process.stdout
            if line.startswith(f"external mock for {host}")
        )
        answer = httpx.post(
            f"{external}/v1/data", json={"q": 1}, headers={"X-API-Key": API_KEY}
        )
        process.terminate()
        rest = process.stdout.read()
    process.wait(timeout=10)

    assert answer.json()["data"]["result"] == {"balance": 12.5, "currency": "EUR"}
    assert f"wrote recorded interactions to {integration / 'fixtures.yaml'}" in rest
    written = (integration / "fixtures.yaml").read_text(encoding="utf-8")
    assert "/v1/data" in written
    assert API_KEY not in written
