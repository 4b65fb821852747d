"""`main`: bad input ends in one `error:` line and exit 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from harness.cli import execute, main
from harness.cli.execute import _webhook_state
from harness.loader import load_integration
from harness.pipeline import ExecutionReport
from harness.settings import HarnessSettings
from mocks.environment import MockEnvironment
from mocks.transport import BackgroundServer
from tests.conftest import INTEGRATIONS

BALANCE = INTEGRATIONS / "account-balance"
PAYLOAD = BALANCE / "samples" / "balance.payload.json"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUDIT_DURABILITY", "bogus"),
        ("TOKEN_LEEWAY_SECONDS", "-5"),
        ("HOST_OVERRIDES", "bad"),
        ("MAX_CONNECTIONS", "abc"),
        ("MAX_CONNECTIONS", "0"),
        ("COGNIGY_PLATFORM", "bogus"),
    ],
)
def test_an_invalid_setting_is_one_line_naming_it(
    name: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["demo"]) == 2
    assert one_error_line(capsys).startswith(f"error: setting {name}: ")


def test_an_invalid_secret_setting_does_not_show_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EXTRA_SECRETS", '{"KEY": 918273645}')
    assert main(["demo"]) == 2
    line = one_error_line(capsys)
    assert "EXTRA_SECRETS" in line
    assert "918273645" not in line


def test_an_audit_log_that_is_a_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = ["run", str(BALANCE), "--mock", "--payload", str(PAYLOAD)]
    assert main([*run, "--audit-log", str(tmp_path)]) == 2
    assert str(tmp_path) in one_error_line(capsys)


def test_an_unwritable_path_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "/proc/foo-api"]) == 2
    assert "/proc/foo-api" in one_error_line(capsys)
    assert main(["contract", "--junit", "/nonexistent/dir/r.xml"]) == 2
    assert "/nonexistent/dir/r.xml" in one_error_line(capsys)


def test_mock_serve_on_a_port_in_use_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        assert main(["mock", "serve", str(BALANCE), "--port", port]) == 2
    assert f"127.0.0.1:{port}" in one_error_line(capsys)


@pytest.mark.parametrize(
    "options",
    [
        ["--port", "99999"],
        ["--port", "-1"],
        ["--token-expires-in", "-5"],
        ["--token-expires-in", "0"],
        ["--token-expires-in", "soon"],
    ],
)
def test_mock_serve_refuses_nonsense_numbers(
    options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["mock", "serve", *options])
    assert exited.value.code == 2
    assert options[0] in capsys.readouterr().err


def test_mock_serve_refuses_a_rate_limit_without_its_window(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["mock", "serve", str(BALANCE), "--rate-limit", "2"]) == 2
    assert "N/SECONDS" in one_error_line(capsys)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com"])
def test_mock_serve_refuses_a_non_loopback_host(
    host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["mock", "serve", str(BALANCE), "--host", host]) == 2
    assert "--allow-non-loopback" in one_error_line(capsys)


def test_mock_serve_may_be_told_to_serve_beyond_loopback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Allowed, so it gets as far as binding: TEST-NET-1 is never local.
    allowed = ["--host", "192.0.2.1", "--allow-non-loopback", "--port", "0"]
    assert main(["mock", "serve", str(BALANCE), *allowed]) == 2
    assert "cannot listen on 192.0.2.1" in one_error_line(capsys)


def test_ctrl_c_exits_130_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(execute, "run_demo", interrupted)
    assert main(["demo"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "interrupted"


def test_without_webhook_url_the_webhook_is_not_configured() -> None:
    report = ExecutionReport(None, "x", "SUCCESS", 1.0)
    assert _webhook_state(report, HarnessSettings()).startswith("not configured")
    configured = HarnessSettings(webhook_url="https://hooks.example.com/e")
    assert _webhook_state(report, configured).startswith("pending")


@pytest.mark.parametrize("verbose", [[], ["-v"], ["-vv"], ["-vvv"]])
def test_header_loggers_stay_at_warning(verbose: list[str]) -> None:
    main([*verbose, "validate", str(BALANCE)])
    for name in ("httpcore", "hpack", "h11"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
    if len("".join(verbose)) > 2:
        assert logging.getLogger("harness").getEffectiveLevel() == logging.DEBUG


@pytest.mark.parametrize(
    "environment",
    [
        {"COGNIGY_TENANT_URL": "https://tenant.example.com/some/path"},
        {
            "COGNIGY_TENANT_URL": "https://shared.example.com",
            "WEBHOOK_URL": "https://shared.example.com/hooks",
        },
        {"HOST_OVERRIDES": '{"api.external-service.com": "http://127.0.0.1:9"}'},
    ],
    ids=["tenant-path", "shared-host", "host-overrides"],
)
@pytest.mark.parametrize("command", [["demo"], ["run", str(BALANCE), "--mock"]])
def test_the_embedded_mocks_ignore_the_environments_addresses(
    environment: dict[str, str],
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    payload = ["--payload", str(PAYLOAD)] if "run" in command else []
    assert main([*command, *payload, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "SUCCESS"
    assert document["webhook_delivered"] is True


SENTINEL_KEY = "sentinel-external-key-d41c"
SENTINEL_TOKEN = "sentinel-access-token-8b0f"


def echoing(app: Any) -> Any:
    """An ASGI app that sends each request's `Authorization` back as a header."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        credential = dict(scope["headers"]).get(b"authorization", b"")

        async def echo(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-echo", credential)]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, echo)

    return wrapped


def test_no_credential_reaches_the_debug_log(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("EXTERNAL_API_KEY", SENTINEL_KEY)
    monkeypatch.setattr("mocks.cognigy.secrets.token_urlsafe", lambda n: SENTINEL_TOKEN)
    environment = MockEnvironment([load_integration(BALANCE)], HarnessSettings())
    caplog.set_level(logging.DEBUG)
    with BackgroundServer(echoing(environment.asgi_app())) as server:
        served = environment.port_settings(server.base_url)
        monkeypatch.setenv("COGNIGY_TENANT_URL", str(served.cognigy_tenant_url))
        monkeypatch.setenv("WEBHOOK_URL", str(served.webhook_url))
        monkeypatch.setenv("HOST_OVERRIDES", json.dumps(served.host_overrides))
        monkeypatch.setenv("ALLOWED_PRIVATE_NETWORKS", '["127.0.0.0/8"]')
        monkeypatch.setenv("COGNIGY_CLIENT_ID", environment.platform.client_id)
        monkeypatch.setenv("COGNIGY_CLIENT_SECRET", environment.platform.client_secret)
        code = main(["-vv", "run", str(BALANCE), "--payload", str(PAYLOAD)])
    captured = capsys.readouterr()

    assert code == 0, captured.err
    assert "HTTP Request" in caplog.text, "httpx's request line is kept"
    for text in (caplog.text, captured.out, captured.err):
        assert SENTINEL_KEY not in text
        assert SENTINEL_TOKEN not in text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"a": NaN}', "NaN is not JSON"),
        ('{"a": -Infinity}', "-Infinity is not JSON"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ],
)
def test_a_payload_that_is_not_strict_json_is_refused_before_running(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, reason: str
) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text(content)
    audit = tmp_path / "audit.jsonl"

    args = ["run", str(BALANCE), "--payload", str(payload), "--mock"]
    code = main([*args, "--audit-log", str(audit)])

    assert code == 2
    assert reason in one_error_line(capsys)
    assert not audit.exists(), "bad input is refused, not executed"


@pytest.mark.parametrize("spec", ["", "503,", ",503", "503,,200"])
def test_a_fault_spec_with_an_empty_item_is_refused(
    capsys: pytest.CaptureFixture[str], spec: str
) -> None:
    code = main(
        ["run", str(BALANCE), "--payload", str(PAYLOAD), "--mock", "--fault", spec]
    )
    assert code == 2
    assert "empty item" in one_error_line(capsys)


def test_gate_refuses_an_unwritable_junit_path_before_running(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    code = main(
        ["gate", str(BALANCE), "--skip-load", "--junit", str(blocker / "out.xml")]
    )

    out = capsys.readouterr()
    assert code == 2
    assert "gate PASSED" not in out.out, "nothing ran before the refusal"
    assert out.err.strip().startswith("error: ")


@pytest.mark.parametrize("option", ["--audit-log", "--html", "--csv"])
def test_load_refuses_an_unwritable_output_before_starting_locust(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    code = main(["load", str(BALANCE), "--duration", "1s", option, str(blocker / "x")])

    assert code == 2
    assert one_error_line(capsys).startswith("error: ")
