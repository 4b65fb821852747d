"""No secret reaches any output or file: runs with sentinel secret values.

Every secret the harness handles gets a unique sentinel value; the demo, a
failing run, a run with the webhook down plus `webhook flush`, a recording
against a careless server that echoes its credential, and a CI gate with
JUnit XML then run at DEBUG logging, and every byte they printed, logged or
wrote is searched for the sentinels.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness.cli import main
from harness.loader import load_integration
from harness.pipeline import Pipeline, bot_context
from harness.settings import HarnessSettings
from mocks.environment import MockEnvironment
from mocks.transport import BackgroundServer
from tests.conftest import INTEGRATIONS, no_sleep

SENTINELS = {
    "COGNIGY_CLIENT_SECRET": "sentinel-client-secret-5b1e",
    "EXTERNAL_API_KEY": "sentinel-external-key-9c3d",
    "AUDIT_HMAC_KEY": "sentinel-audit-key-71aa",
    "WEBHOOK_SIGNING_SECRET": "sentinel-webhook-secret-4f0e",
}
#: What the mock platform issues as access token during these runs.
ACCESS_TOKEN = "sentinel-access-token-e2e7"
ALL = [*SENTINELS.values(), ACCESS_TOKEN]
RUN_CLI = "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def sentinel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name, value in SENTINELS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COGNIGY_CLIENT_ID", "sentinel-client")
    monkeypatch.setenv("AUDIT_LOG_PATH", str(tmp_path / "audit.jsonl"))
    monkeypatch.setattr("mocks.cognigy.secrets.token_urlsafe", lambda n: ACCESS_TOKEN)
    monkeypatch.setattr("harness.executor.backoff_sleep", no_sleep)
    return tmp_path


def leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [s for s in ALL if s.encode() in data]


def leaking_files(root: Path) -> dict[str, list[str]]:
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and leaks(path.read_bytes()):
            found[str(path.relative_to(root))] = leaks(path.read_bytes())
    return found


def careless_upstream() -> Starlette:
    """A service that echoes the credential it was sent into its answer."""

    async def data(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse(
            {
                "data": {"result": {"balance": 1.5, "currency": "EUR", "q": body}},
                "debug": f"called with {request.headers.get('authorization')}",
            }
        )

    return Starlette(routes=[Route("/v1/data", data, methods=["POST"])])


def test_no_sentinel_secret_in_any_output_log_or_file(
    sentinel_env: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    integration = sentinel_env / "account-balance"
    shutil.copytree(INTEGRATIONS / "account-balance", integration)
    failing = sentinel_env / "failing.json"
    failing.write_text('{"query": "unsupported"}')

    def cli(*args: str) -> int:
        code = main(["-vv", *args])
        captured = capsys.readouterr()
        outputs.extend([captured.out, captured.err])
        return code

    assert cli("demo") == 0
    assert cli("demo", "--json") == 0
    run = ["run", str(integration), "--mock", "--json"]
    assert cli(*run, "--payload", str(failing)) == 1
    balance = str(integration / "samples" / "balance.payload.json")
    assert cli(*run, "--payload", balance, "--fault", "503,503,503") == 1
    assert cli("audit", "verify") == 0

    with BackgroundServer(careless_upstream()) as server:
        (integration / "fixtures.yaml").unlink()
        record = ["record", str(integration), "--upstream", server.base_url]
        assert cli(*record, "--mode", "all") == 0
    junit = sentinel_env / "gate.xml"
    cli(
        "gate",
        str(INTEGRATIONS / "account-balance"),
        "--skip-load",
        "--junit",
        str(junit),
    )
    assert junit.exists()

    assert [leaks(text) for text in outputs if leaks(text)] == []
    assert leaks(caplog.text) == []
    assert logging.getLogger("harness").isEnabledFor(logging.DEBUG), "DEBUG was on"
    assert leaking_files(sentinel_env) == {}
    assert (integration / "fixtures.yaml").exists(), "the recording was written"


async def test_no_sentinel_in_the_outbox_webhook_events_or_reprs(
    sentinel_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    integration = load_integration(INTEGRATIONS / "account-balance")
    environment = MockEnvironment([integration], HarnessSettings())
    environment.webhook.down = True
    context = bot_context({"user_id": "u_998877", "query": "account_balance"})

    with environment.in_process():
        async with Pipeline(environment.settings, sleep=no_sleep) as pipeline:
            report = await pipeline.run(integration.definition, context)
            failed = await pipeline.run(
                integration.definition, bot_context({"query": "unsupported"})
            )

    outbox = environment.settings.outbox_path.read_text()
    assert len(outbox.splitlines()) == 2, "both events wait in the outbox"
    assert leaks(outbox) == []
    assert leaks(json.dumps([report.to_dict(), failed.to_dict()])) == []
    assert leaks(repr(environment.settings)) == []
    assert leaks(repr(failed.error)) == []
    assert leaks(caplog.text) == []
    assert leaking_files(sentinel_env) == {}


def test_a_load_run_and_its_reports_hold_no_sentinel(
    sentinel_env: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    reports = sentinel_env / "load"
    command = ["-vv", "load", str(INTEGRATIONS / "account-balance"), "--json"]
    command += ["--users", "2", "--duration", "2s", "--csv", str(reports)]
    command += ["--html", str(sentinel_env / "load.html")]

    code = main(command)
    captured = capsys.readouterr()

    assert code == 0, captured.err
    assert (sentinel_env / "load.html").exists()
    assert json.loads(captured.out)["summary"]["executions"] > 0
    assert leaks(captured.out) == []
    assert leaks(captured.err) == []
    assert leaks(caplog.text) == []
    assert leaking_files(sentinel_env) == {}


def test_the_demo_process_prints_and_logs_no_sentinel(sentinel_env: Path) -> None:
    # A real process: whatever reaches its stdout and stderr, at DEBUG.
    environment = {**os.environ, **SENTINELS, "COGNIGY_CLIENT_ID": "sentinel-client"}
    finished = subprocess.run(  # noqa: S603 - our own interpreter and CLI
        [sys.executable, "-c", RUN_CLI, "-vv", "demo", "--json"],
        capture_output=True,
        env=environment,
        cwd=sentinel_env,
        timeout=120,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr.decode()
    assert b"DEBUG" in finished.stderr, "debug logging was on"
    assert leaks(finished.stdout) == []
    assert leaks(finished.stderr) == []
    assert leaking_files(sentinel_env) == {}
