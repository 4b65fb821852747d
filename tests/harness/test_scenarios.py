"""`scenarios.yaml`: the format is validated, with the file and field named."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.loader import InvalidIntegration, Scenario, load_integration
from tests.conftest import INTEGRATIONS


def with_scenarios(tmp_path: Path, scenarios: list[dict[str, Any]]) -> Path:
    root = tmp_path / "account-balance"
    shutil.copytree(INTEGRATIONS / "account-balance", root)
    text = yaml.safe_dump({"version": 1, "scenarios": scenarios})
    (root / "scenarios.yaml").write_text(text)
    return root


def test_the_examples_load_their_scenarios() -> None:
    integration = load_integration(INTEGRATIONS / "account-balance")

    names = [s.name for s in integration.scenarios]
    assert "upstream-503-twice-then-success" in names
    first = integration.scenarios[0]
    assert first.expect.status == "SUCCESS"
    assert first.expect.attempts == 3


@pytest.mark.parametrize(
    ("scenario", "field", "reason"),
    [
        (
            {"name": "x", "sample": "balance", "faults": "503,bogus", "expect": {}},
            "scenarios.0.expect.status",
            "Field required",
        ),
        (
            {
                "name": "x",
                "sample": "balance",
                "faults": "503,bogus",
                "expect": {"status": "SUCCESS"},
            },
            "scenarios.0",
            "unknown fault 'bogus'",
        ),
        (
            {
                "name": "x",
                "sample": "balance",
                "payload": {},
                "expect": {"status": "SUCCESS"},
            },
            "scenarios.0",
            "exactly one of `sample`",
        ),
        (
            {
                "name": "x",
                "sample": "balance",
                "expect": {"status": "SUCCESS", "error": "timeout"},
            },
            "scenarios.0",
            "need status FAILURE",
        ),
        (
            {
                "name": "x",
                "sample": "balance",
                "faults": {"rules": [{"sequence": [{"kind": "nonsense"}]}]},
                "expect": {"status": "SUCCESS"},
            },
            "scenarios.0.faults.rules.0.sequence.0.kind",
            "Input should be 'status'",
        ),
        (
            {"name": "x", "sample": "nope", "expect": {"status": "SUCCESS"}},
            "scenarios.0.sample",
            "no sample 'nope'",
        ),
    ],
)
def test_an_invalid_scenario_is_refused_naming_file_and_field(
    tmp_path: Path, scenario: dict[str, Any], field: str, reason: str
) -> None:
    root = with_scenarios(tmp_path, [scenario])

    with pytest.raises(InvalidIntegration) as caught:
        load_integration(root)

    [problem] = caught.value.problems
    assert problem.file == root / "scenarios.yaml"
    assert problem.field == field
    assert reason in problem.reason


def test_scenario_names_are_unique(tmp_path: Path) -> None:
    twice = {"name": "same", "sample": "balance", "expect": {"status": "SUCCESS"}}
    root = with_scenarios(tmp_path, [twice, twice])

    with pytest.raises(InvalidIntegration, match="unique: \\['same'\\]"):
        load_integration(root)


def test_each_call_gives_a_fresh_fault_plan() -> None:
    scenario = Scenario.model_validate(
        {"name": "x", "payload": {}, "faults": "503", "expect": {"status": "SUCCESS"}}
    )

    first, second = scenario.fault_plan(), scenario.fault_plan()

    assert first is not None
    assert second is not None
    assert first.next_fault("POST", "/") is not None
    assert second.next_fault("POST", "/") is not None, "not used up by the first"
