"""`cognigy-harness contract`: mocks, live skips, loopback live, JUnit XML."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from contracts.provider import RunOptions, run_contract_checks
from contracts.targets import live_targets
from harness.cli import main
from harness.settings import HarnessSettings
from mocks.cognigy import CognigyMock
from mocks.transport import BackgroundServer
from tests.conftest import CLI, INTEGRATIONS, ROOT

pytestmark = pytest.mark.contract


def test_contract_command_checks_mocks_and_fixtures_and_writes_junit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "contract.xml"
    code = main(
        [
            "contract",
            "--integrations",
            str(INTEGRATIONS),
            "--max-examples",
            "3",
            "--junit",
            str(report),
        ]
    )

    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASSED platform mock (integrations-v1)" in out
    assert f"integrations under {INTEGRATIONS}: account-balance, " in out
    assert "DRIFT" in out
    suites = ET.parse(report).getroot()  # noqa: S314 - our own report
    names = [suite.get("name") for suite in suites]
    assert "fixture drift" in names
    assert all(suite.get("failures") == "0" for suite in suites)


def test_contract_refuses_a_folder_without_integrations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["contract", "--integrations", str(tmp_path)])

    assert code == 2
    assert capsys.readouterr().err == (
        f"error: no integration.yaml at or below {tmp_path}\n"
    )


def test_contract_elsewhere_warns_and_leaves_the_folder_alone(tmp_path: Path) -> None:
    # A subprocess: hypothesis fixes its folder once per process.
    environment = {k: v for k, v in os.environ.items() if "HYPOTHESIS" not in k}
    environment["PYTHONPATH"] = str(ROOT)
    command = [*CLI, "contract", "--max-examples", "1"]

    done = subprocess.run(  # noqa: S603 - our own CLI
        command, cwd=tmp_path, env=environment, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    assert "warning: no integration found under ./integrations" in done.stderr
    assert "PASSED platform mock" in done.stdout
    assert list(tmp_path.iterdir()) == [], "no .hypothesis/ in the user's folder"


def test_live_without_configuration_skips_every_target_with_a_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["contract", "--live", "--integrations", str(INTEGRATIONS)])

    out = capsys.readouterr().out
    assert code == 0
    assert "SKIP platform (live): COGNIGY_TENANT_URL is not set" in out
    # No internet here: the real external services are unreachable.
    assert "SKIP api.open-meteo.com (live)" in out
    assert "not reachable" in out
    # Writes never go to a real external service.
    assert (
        "SKIP api.external-service.com (live): account-balance has no read-only" in out
    )


def test_live_runs_read_only_against_a_reachable_loopback_tenant() -> None:
    mock = CognigyMock()
    with BackgroundServer(mock) as server:
        settings = HarnessSettings(
            cognigy_tenant_url=server.base_url,
            cognigy_client_id=mock.client_id,
            cognigy_client_secret=mock.client_secret,
        )
        [platform, *_] = live_targets(INTEGRATIONS, settings)

        run = run_contract_checks([platform], RunOptions(max_examples=3))

    assert not platform.skip_reason
    assert run.ok, [str(f) for f in run.targets[0].failures]
    methods = {entry.method for entry in mock.journal.entries}
    assert methods <= {"GET", "POST", "HEAD"}
    assert not mock.integrations  # read-only: nothing was created


def test_allow_writes_needs_live(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "--allow-writes"]) == 2
    assert "--live" in capsys.readouterr().out
