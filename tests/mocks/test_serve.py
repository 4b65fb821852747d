"""`cognigy-harness mock serve` on a port answers like the platform."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.cli import main
from tests.conftest import CLI, INTEGRATIONS

DEMO_FORM = {
    "grant_type": "client_credentials",
    "client_id": "demo-client",
    "client_secret": "demo-secret",
}
DEFINITION = {
    "name": "served-once",
    "bot_id": "bot_banking_assistant",
    "config": {"url": "https://api.external-service.com/v1/data"},
}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, str], subprocess.Popen[str]]]:
    """`mock serve --port 0 --rate-limit 6/60`; the printed lines by mock."""
    plan = tmp_path_factory.mktemp("plan") / "plan.yaml"
    plan.write_text("rules:\n  - {mock: webhook, sequence: [{status: 507}]}\n")
    command = [
        *CLI,
        "mock",
        "serve",
        str(INTEGRATIONS / "account-balance"),
        "--port",
        "0",
        "--rate-limit",
        "6/60",
        "--fault-plan",
        str(plan),
    ]
    # Our own CLI with fixed arguments.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert process.stdout is not None
    lines: dict[str, str] = {}
    for line in process.stdout:
        label, _, value = line.strip().rpartition(": ")
        lines[label] = value
        if label.startswith("client credentials"):
            break
    try:
        yield lines, process
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


@pytest.fixture
def served(server: tuple[dict[str, str], subprocess.Popen[str]]) -> dict[str, str]:
    return server[0]


def test_serve_prints_one_line_per_mock(served: dict[str, str]) -> None:
    platform = next(label for label in served if "cognigy" in label)
    assert served[platform].startswith("http://127.0.0.1:")
    assert "external mock for api.external-service.com" in served
    assert "webhook receiver mock" in served


def test_the_served_platform_behaves(served: dict[str, str], tmp_path: Path) -> None:
    tenant = served["cognigy platform mock (integrations-v1)"]
    webhook = served["webhook receiver mock"]
    with httpx.Client(base_url=tenant) as client:
        good = client.post("/api/v1/auth/oauth/token", data=DEMO_FORM)
        bad = client.post(
            "/api/v1/auth/oauth/token", data={**DEMO_FORM, "client_secret": "no"}
        )
        auth = {"Authorization": f"Bearer {good.json()['access_token']}"}
        first = client.post("/api/v1/integrations", json=DEFINITION, headers=auth)
        second = client.post("/api/v1/integrations", json=DEFINITION, headers=auth)
        statuses = [client.get("/api/v1/integrations").status_code for _ in range(3)]
        limited = client.get("/api/v1/integrations")
    faulty = httpx.post(webhook, json={"status": "SUCCESS"})

    assert good.status_code == 200
    assert bad.status_code == 401
    assert first.status_code == 201
    assert first.json()["id"].startswith("int_")
    assert second.status_code == 409
    assert 429 in statuses, "six requests a minute, then 429"
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert faulty.status_code == 507, "the plan's webhook rule"


def test_a_bad_fault_plan_stops_serve(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("rules: [{sequence: [{kind: explode}]}]\n")
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [*CLI, "mock", "serve", "--fault-plan", str(plan)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "rules.0.sequence.0.kind" in done.stderr


def test_serve_refuses_a_path_without_an_integration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"

    code = main(["mock", "serve", str(INTEGRATIONS), str(missing), "--port", "0"])

    assert code == 2
    assert capsys.readouterr().err == (
        f"error: no integration.yaml at or below {missing}\n"
    )


def test_serve_reports_unused_fixtures_when_it_stops(
    server: tuple[dict[str, str], subprocess.Popen[str]],
) -> None:
    _, process = server
    process.terminate()
    assert process.stdout is not None
    rest = process.stdout.read()
    assert "unused fixtures for api.external-service.com: account-balance" in rest
