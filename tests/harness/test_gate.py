"""The CI gate: its checks, its verdict, its table and its JUnit XML."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import loadtests
from harness.cli import main
from harness.gate import (
    CheckResult,
    GateOptions,
    GateReport,
    Outcome,
    format_table,
    golden_diff,
    junit_xml,
    registered_checks,
    run_gate,
)
from harness.loader import find_integrations
from harness.models import Thresholds
from loadtests import LoadOptions, LoadResult, LoadSummary, check_thresholds
from tests.conftest import INTEGRATIONS

SKIP_LOAD = GateOptions(skip_load=True)


def copy_example(tmp_path: Path, name: str = "account-balance") -> Path:
    target = tmp_path / "integrations" / name
    shutil.copytree(INTEGRATIONS / name, target)
    return target


def edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def gate_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["gate", *args])
    return code, capsys.readouterr().out


def parse_junit(text: str) -> ET.Element:
    # The XML is the gate's own output, not untrusted input.
    return ET.fromstring(text)  # noqa: S314


def result_of(report: GateReport, check: str) -> CheckResult:
    [found] = [r for r in report.results if r.check == check]
    return found


async def test_the_examples_pass_every_check() -> None:
    report = await run_gate([INTEGRATIONS], SKIP_LOAD)

    assert report.passed, format_table(report)
    checks = {(r.integration.split("/")[-1], r.check) for r in report.results}
    assert ("account-balance", "sample:balance") in checks
    assert ("account-balance", "scenario:upstream-503-twice-then-success") in checks
    assert ("weather-forecast", "scenario:bad-gateway-then-success") in checks
    scenario = result_of(report, "scenario:upstream-503-twice-then-success")
    assert scenario.reason == "SUCCESS after 3 attempts"
    skipped = {r.check for r in report.results if r.outcome is Outcome.SKIPPED}
    assert skipped == {"load"}
    drift = [r for r in report.results if r.check == "fixture-drift"]
    assert all(r.reason.endswith("no drift") for r in drift)


def test_gate_cli_exits_0_and_writes_one_junit_case_per_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The one gate test that runs the load check: one second of locust per
    # integration proves the default path works end to end.
    junit = tmp_path / "out.xml"

    code, out = gate_cli(
        capsys, str(INTEGRATIONS), "--junit", str(junit), "--load-duration", "1"
    )

    assert code == 0, out
    assert "gate PASSED" in out
    root = parse_junit(junit.read_text())
    assert root.tag == "testsuites"
    assert root.get("failures") == "0"
    suites = root.findall("testsuite")
    assert len(suites) == len(find_integrations([INTEGRATIONS]))
    cases = root.findall("testsuite/testcase")
    rows = [line for line in out.splitlines() if "integrations/" in line]
    assert len(cases) == len(rows) == int(root.get("tests", "-1"))
    load = [c for c in cases if c.get("name") == "load"]
    assert len(load) == len(suites)
    assert all(c.find("skipped") is None for c in load), "the load run ran"
    # The run lasts about the requested second; a busy machine stretches it.
    assert re.search(r" executions in \d+\.\d s, p95 ", out), out


async def test_a_changed_golden_result_fails_with_a_readable_diff(
    tmp_path: Path,
) -> None:
    root = copy_example(tmp_path)
    golden = root / "samples" / "balance.expected.json"
    expected = json.loads(golden.read_text())
    golden.write_text(json.dumps({**expected, "balance": 99.0}))

    report = await run_gate([root], SKIP_LOAD)

    assert not report.passed
    failures = {r.check: r for r in report.failures}
    failure = failures.pop("sample:balance")
    assert failure.reason == "result differs from samples/balance.expected.json"
    # The scenarios that end in SUCCESS with that sample compare it too.
    assert set(failures) == {
        "scenario:upstream-503-twice-then-success",
        "scenario:rate-limited-then-success",
    }
    assert '-  "balance": 99.0,' in failure.details
    assert '+  "balance": 1523.75,' in failure.details


def test_an_invalid_definition_fails_validation_and_skips_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = copy_example(tmp_path)
    edit_yaml(
        root / "integration.yaml",
        lambda data: data["config"].update(url="http://api.external-service.com/v1"),
    )
    junit = tmp_path / "out.xml"

    code, out = gate_cli(capsys, str(root), "--skip-load", "--junit", str(junit))

    assert code == 1
    assert "validate" in out
    assert "config.url" in out
    assert "https" in out
    assert "gate FAILED" in out
    [failed] = parse_junit(junit.read_text()).findall("testsuite/testcase[failure]")
    assert failed.get("name") == "validate"


async def test_a_scenario_whose_outcome_changed_fails_naming_it(tmp_path: Path) -> None:
    root = copy_example(tmp_path)

    def fail_three_times(data: Any) -> None:
        # The upstream now fails three times: the retries run out.
        data["scenarios"][0]["faults"] = "503,503,503"

    edit_yaml(root / "scenarios.yaml", fail_three_times)

    report = await run_gate([root], SKIP_LOAD)

    [failure] = report.failures
    assert failure.check == "scenario:upstream-503-twice-then-success"
    assert failure.reason.startswith("expected SUCCESS, got FAILURE after 3 attempts")


async def test_a_scenario_expecting_other_attempts_names_what_happened(
    tmp_path: Path,
) -> None:
    root = copy_example(tmp_path)
    edit_yaml(
        root / "scenarios.yaml",
        lambda data: data["scenarios"][0]["expect"].update(attempts=2),
    )

    report = await run_gate([root], SKIP_LOAD)

    [failure] = report.failures
    assert failure.reason == "expected 2 attempts, got 3 (503, 503, 200)"


async def test_a_scenario_naming_a_missing_sample_is_a_validation_failure(
    tmp_path: Path,
) -> None:
    root = copy_example(tmp_path)
    edit_yaml(
        root / "scenarios.yaml",
        lambda data: data["scenarios"][0].update(sample="no-such-sample"),
    )

    report = await run_gate([root], SKIP_LOAD)

    [failure] = report.failures
    assert failure.check == "validate"
    assert "scenarios.0.sample" in failure.reason
    assert "no-such-sample" in failure.reason
    skipped = [r for r in report.results if r.outcome is Outcome.SKIPPED]
    assert len(skipped) == len(registered_checks())


# The gate must catch this request; the shared guard would fail it first.
@pytest.mark.contract_violations
async def test_a_request_that_breaks_the_contract_fails_the_contract_check(
    tmp_path: Path,
) -> None:
    root = copy_example(tmp_path)
    payload = root / "samples" / "balance.payload.json"
    payload.write_text(json.dumps({"user_id": 42, "query": "account_balance"}))

    report = await run_gate([root], SKIP_LOAD)

    # Only the contract check guards the mocks; the plain sample run passes.
    [contract] = report.failures
    assert contract.check == "contract"
    assert contract.reason.startswith("1 request broke a contract: account-balance")
    assert "user_id" in contract.details


async def test_a_recorded_response_off_its_contract_fails_fixture_drift(
    tmp_path: Path,
) -> None:
    root = copy_example(tmp_path)

    def drift(data: Any) -> None:
        # The recorded 400 answer no longer has the documented error shape.
        data["interactions"][2]["response"]["body"] = {"error": 123}

    edit_yaml(root / "fixtures.yaml", drift)

    report = await run_gate([root], SKIP_LOAD)

    [failure] = report.failures
    assert failure.check == "fixture-drift"
    assert "unsupported-query" in failure.reason
    assert "fixtures.yaml" in failure.details


async def test_a_breached_threshold_fails_the_load_check_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Locust itself runs in the one CLI test above; here its result is given,
    # so what the gate makes of a breach is checked in milliseconds.
    root = copy_example(tmp_path, "weather-forecast")
    seen: list[LoadOptions] = []

    def slow_run(options: LoadOptions, progress: object = None) -> LoadResult:
        seen.append(options)
        summary = LoadSummary(
            integration="weather-forecast",
            profile="steady",
            duration_s=1.0,
            executions=50,
            failures=1,
            executions_per_s=50.0,
            p50_ms=100.0,
            p95_ms=400.0,
            p99_ms=450.0,
            max_ms=480.0,
            attempts=51,
            retries=1,
        )
        thresholds = Thresholds(p95_ms=250, max_error_rate=0.01)
        return LoadResult(summary, thresholds, check_thresholds(summary, thresholds))

    monkeypatch.setattr(loadtests, "run_load", slow_run)

    report = await run_gate([root], GateOptions(load_duration_s=3, load_users=2))

    [failure] = report.failures
    assert failure.check == "load"
    assert failure.reason.startswith("p95_ms: measured 400 ms, limit 250 ms: BREACHED")
    assert "max_error_rate: measured 2.00%, limit 1.00%: BREACHED" in failure.reason
    [options] = seen
    assert (options.integration, options.duration_s, options.users) == (root, 3, 2)


async def test_without_locust_the_load_check_fails_saying_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_example(tmp_path, "weather-forecast")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "locust" else real_find_spec(name, *args),
    )

    report = await run_gate([root])

    [failure] = report.failures
    assert failure.check == "load"
    assert "cognigy-harness[load]" in failure.reason
    assert "--skip-load" in failure.reason


def test_a_path_without_integrations_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["gate", str(tmp_path), "--skip-load"]) == 2
    assert "no integration.yaml found" in capsys.readouterr().err


def test_golden_diff_is_empty_for_equal_values_and_sorted_otherwise() -> None:
    assert golden_diff({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}, "x") == ""
    diff = golden_diff({"a": 1}, {"a": 2}, "x.json")
    assert diff.splitlines()[:2] == ["--- x.json (golden)", "+++ x.json (actual)"]


def test_junit_xml_marks_failures_and_skips() -> None:
    report = GateReport(
        [
            CheckResult("i", "validate", Outcome.PASSED, duration_s=0.5),
            CheckResult("i", "sample:a", Outcome.FAILED, "differs", "--- diff"),
            CheckResult("i", "load", Outcome.SKIPPED, "--skip-load"),
        ]
    )

    root = parse_junit(junit_xml(report).split("\n", 1)[1])

    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == (
        "3",
        "1",
        "1",
    )
    failure = root.find("testsuite/testcase[@name='sample:a']/failure")
    assert failure is not None
    assert failure.get("message") == "differs"
    assert failure.text == "--- diff"
    assert root.find("testsuite/testcase[@name='load']/skipped") is not None
    assert not report.passed
