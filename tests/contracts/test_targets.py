"""Targets: one per integration, chosen by contract.yaml or by host."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from contracts.errors import ContractError
from contracts.provider import RunOptions, run_contract_checks
from contracts.targets import integration_target
from harness.cli import main
from tests.conftest import INTEGRATIONS

pytestmark = pytest.mark.contract


def test_an_integration_is_checked_against_the_contract_of_its_host() -> None:
    target = integration_target(INTEGRATIONS / "account-balance")

    assert target.contract.name == "account-balance"
    assert run_contract_checks([target], RunOptions(max_examples=3)).ok


def test_a_host_without_contract_is_skipped_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "fixtures.yaml").write_text(
        "version: 1\nbase_url: https://unknown.example\ninteractions: []\n"
    )
    target = integration_target(tmp_path)

    run = run_contract_checks([target])
    assert run.targets[0].outcome == "skipped"
    assert "unknown.example" in run.targets[0].message


def test_contract_yaml_accepts_only_its_keys(tmp_path: Path) -> None:
    shutil.copy(INTEGRATIONS / "weather-forecast" / "fixtures.yaml", tmp_path)
    (tmp_path / "contract.yaml").write_text(
        "contract: open-meteo-forecast\nskip: yes\n"
    )

    with pytest.raises(ContractError, match=r"contract\.yaml"):
        integration_target(tmp_path)


def test_the_command_fails_when_a_fixture_drifted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copied = tmp_path / "account-balance"
    shutil.copytree(INTEGRATIONS / "account-balance", copied)
    data = yaml.safe_load((copied / "fixtures.yaml").read_text())
    del data["interactions"][0]["response"]["body"]["data"]["result"]["currency"]
    (copied / "fixtures.yaml").write_text(yaml.safe_dump(data))

    code = main(["contract", "--integrations", str(tmp_path), "--max-examples", "2"])

    out = capsys.readouterr().out
    assert code == 1
    assert "interaction 'account-balance'" in out
    assert "currency" in out
