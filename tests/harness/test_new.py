"""`cognigy-harness new`: the scaffold passes the gate as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.cli.new import template_root
from harness.gate import GateOptions, Outcome, run_gate
from harness.loader import load_integration


async def test_a_new_integration_passes_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "integrations" / "order-status"

    assert main(["new", str(target)]) == 0

    out = capsys.readouterr().out
    assert f"created {target / 'integration.yaml'}" in out
    integration = load_integration(target)
    assert integration.definition.name == "order-status"
    assert "{{" not in (target / "fixtures.yaml").read_text()
    report = await run_gate([target], GateOptions(skip_load=True))
    assert report.passed
    # No contract describes the placeholder service: said, not passed.
    contract = next(r for r in report.results if r.check == "contract")
    assert contract.outcome is Outcome.SKIPPED
    assert contract.reason.startswith("no contract names api.example.com")
    assert {r.check for r in report.results} >= {
        "validate",
        "sample:example",
        "scenario:upstream-503-twice-then-success",
    }


def test_new_refuses_an_existing_directory_and_a_bad_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "taken"
    existing.mkdir()

    assert main(["new", str(existing)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["new", str(tmp_path / "Bad Name")]) == 2
    assert "not a valid integration name" in capsys.readouterr().err
    assert list(existing.iterdir()) == []


def test_the_template_ships_inside_the_package() -> None:
    names = {entry.name for entry in template_root().iterdir()}

    assert {"integration.yaml.tmpl", "fixtures.yaml.tmpl", "samples"} <= names
