"""The CI gate: every check of every integration directory, as typed results.

`run_gate` finds the integrations under some paths and runs, for each one,
validation and then every registered check: each sample against its golden
result, each fault scenario against its expected outcome, the contract and
fixture-drift checks, and a short load run against the thresholds. Each check
yields `CheckResult`s; `format_table` and `junit_xml` are the reporters.

Checks are a registry (`register_check`), so a check another package brings
plugs in without touching the gate's loop.
"""

from __future__ import annotations

import asyncio
import difflib
import importlib.util
import json
import logging
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from harness.audit import AuditLog
from harness.errors import DefinitionError
from harness.loader import (
    IntegrationDir,
    InvalidIntegration,
    Scenario,
    find_integrations,
    load_integration,
)
from harness.pipeline import SUCCESS, ExecutionReport, Pipeline, bot_context
from harness.settings import HarnessSettings

if TYPE_CHECKING:
    from mocks.environment import MockEnvironment
    from mocks.faults import FaultPlan

logger = logging.getLogger(__name__)

VALIDATE = "validate"


class Outcome(StrEnum):
    PASSED = "pass"
    FAILED = "fail"
    SKIPPED = "skip"


@dataclass(frozen=True)
class CheckResult:
    """One check of one integration: its outcome, why, and details (a diff)."""

    integration: str
    check: str
    outcome: Outcome
    reason: str = ""
    details: str = ""
    duration_s: float = 0.0

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED


@dataclass
class GateReport:
    """All results of a gate run, in the order they ran."""

    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when something ran and nothing failed."""
        return bool(self.results) and not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.failed]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    def by_integration(self) -> dict[str, list[CheckResult]]:
        grouped: dict[str, list[CheckResult]] = {}
        for result in self.results:
            grouped.setdefault(result.integration, []).append(result)
        return grouped


@dataclass(frozen=True)
class GateOptions:
    """How the gate runs.

    Args:
        skip_load: skip the load run (its rows show as skipped).
        audit_log_path: where the gate's executions are audited; by default
            a file in a temporary folder removed after the run.
        load_duration_s: how long the locust run of each integration lasts.
        load_users: locust users in that run.
    """

    skip_load: bool = False
    audit_log_path: Path | None = None
    load_duration_s: float = 5.0
    load_users: int = 5


@dataclass
class GateContext:
    """What a check receives besides the integration."""

    options: GateOptions
    settings: HarnessSettings
    audit: AuditLog
    label: str

    def result(
        self,
        check: str,
        outcome: Outcome,
        reason: str = "",
        details: str = "",
        duration_s: float = 0.0,
    ) -> CheckResult:
        return CheckResult(self.label, check, outcome, reason, details, duration_s)


CheckFunc = Callable[[IntegrationDir, GateContext], Awaitable[list[CheckResult]]]


@dataclass(frozen=True)
class RegisteredCheck:
    name: str
    run: CheckFunc
    description: str


_CHECKS: list[RegisteredCheck] = []


def register_check(name: str, description: str) -> Callable[[CheckFunc], CheckFunc]:
    """Add a check the gate runs on every valid integration, in registration order.

    A check returns one result per case it covers (one per sample, say); its
    rows are named `name` or `name:case`.
    """

    def decorate(func: CheckFunc) -> CheckFunc:
        if any(check.name == name for check in _CHECKS):
            raise ValueError(f"a gate check named {name!r} is already registered")
        _CHECKS.append(RegisteredCheck(name, func, description))
        return func

    return decorate


def registered_checks() -> list[RegisteredCheck]:
    return list(_CHECKS)


# ---------------------------------------------------------------- the run


Progress = Callable[[CheckResult], None]


async def run_gate(
    paths: Iterable[Path],
    options: GateOptions | None = None,
    progress: Progress | None = None,
) -> GateReport:
    """Run every check on every integration found under `paths`.

    Raises:
        DefinitionError: a path does not exist or holds no integration.
    """
    options = options or GateOptions()
    paths = list(paths)
    for path in paths:
        if not path.exists():
            raise DefinitionError(f"{path}: no such file or directory")
    roots = find_integrations(paths)
    if not roots:
        shown = ", ".join(str(p) for p in paths)
        raise DefinitionError(f"no integration.yaml found under {shown}")

    report = GateReport()
    with tempfile.TemporaryDirectory(prefix="cognigy-gate-") as scratch:
        audit = _audit_log(options, Path(scratch))
        settings = HarnessSettings(audit_log_path=audit.path)
        try:
            for root in roots:
                context = GateContext(options, settings, audit, _label(root))
                for result in await _gate_one(root, context):
                    report.results.append(result)
                    if progress is not None:
                        progress(result)
        finally:
            audit.close()
    return report


def _audit_log(options: GateOptions, scratch: Path) -> AuditLog:
    """The log the user named, as configured; else a scratch log, fsynced in groups.

    A scratch log is deleted after the run, so waiting for the disk on every
    entry would only slow the load run down.
    """
    if options.audit_log_path is not None:
        return AuditLog.from_settings(HarnessSettings(), options.audit_log_path)
    return AuditLog(scratch / "audit.jsonl", durability="group")


async def _gate_one(root: Path, context: GateContext) -> list[CheckResult]:
    started = time.monotonic()
    try:
        integration = load_integration(root)
    except InvalidIntegration as exc:
        reason = "; ".join(f"{p.field}: {p.reason}" for p in exc.problems)
        details = "\n".join(str(p) for p in exc.problems)
        failed = context.result(VALIDATE, Outcome.FAILED, reason, details)
        return [failed, *_not_run(context, "validation failed")]
    except DefinitionError as exc:
        failed = context.result(VALIDATE, Outcome.FAILED, exc.message)
        return [failed, *_not_run(context, "validation failed")]

    results = [
        context.result(
            VALIDATE,
            Outcome.PASSED,
            f"{_plural(len(integration.samples), 'sample')}, "
            f"{_plural(len(integration.scenarios), 'scenario')}",
            duration_s=time.monotonic() - started,
        )
    ]
    for check in _CHECKS:
        results.extend(await _run_check(check, integration, context))
    return results


async def _run_check(
    check: RegisteredCheck, integration: IntegrationDir, context: GateContext
) -> list[CheckResult]:
    # A check that crashes fails its own row; the gate goes on with the rest.
    try:
        return await check.run(integration, context)
    except Exception as exc:
        logger.exception("gate check %s crashed on %s", check.name, context.label)
        return [
            context.result(
                check.name,
                Outcome.FAILED,
                f"check crashed: {type(exc).__name__}: {exc}",
            )
        ]


def _not_run(context: GateContext, why: str) -> list[CheckResult]:
    return [context.result(c.name, Outcome.SKIPPED, f"not run: {why}") for c in _CHECKS]


def _label(root: Path) -> str:
    """The integration's directory, relative to the working directory if inside."""
    try:
        return str(root.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(root)


# ------------------------------------------------------- running on the mocks


async def _record_sleep(seconds: float) -> None:
    """Backoff waits in the gate: the schedule is the executor's, the time is not."""


async def execute_on_mocks(
    integration: IntegrationDir,
    payload: Any,
    context: GateContext,
    fault_plan: FaultPlan | None = None,
    prepare: Callable[[MockEnvironment], object] | None = None,
) -> ExecutionReport:
    """One execution through the pipeline against fresh in-process mocks.

    `prepare` sees the mocks before the run (to guard them with contracts).
    """
    # Imported here: running a real integration needs nothing from the mocks.
    from mocks.environment import MockEnvironment

    environment = MockEnvironment(
        [integration], context.settings, fault_plan=fault_plan
    )
    if prepare is not None:
        prepare(environment)
    with environment.in_process():
        async with Pipeline(
            environment.settings, audit_log=context.audit, sleep=_record_sleep
        ) as pipeline:
            return await pipeline.run(integration.definition, bot_context(payload))


def golden_diff(expected: Any, actual: Any, name: str) -> str:
    """A unified diff of two JSON values, keys sorted, empty when equal."""

    def lines(value: Any) -> list[str]:
        text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
        return text.splitlines()

    diff = difflib.unified_diff(
        lines(expected),
        lines(actual),
        fromfile=f"{name} (golden)",
        tofile=f"{name} (actual)",
        lineterm="",
    )
    return "\n".join(diff)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def _describe(report: ExecutionReport) -> str:
    attempts = f"after {_plural(report.attempts, 'attempt')}"
    if report.error is None:
        return f"{report.status} {attempts}"
    return f"{report.status} {attempts}: {report.error.kind}: {report.error.message}"


@register_check("sample", "each sample through the pipeline, compared with its golden")
async def check_samples(
    integration: IntegrationDir, context: GateContext
) -> list[CheckResult]:
    if not integration.samples:
        return [
            context.result(
                "sample",
                Outcome.FAILED,
                "no samples/NAME.payload.json with its NAME.expected.json",
            )
        ]
    results = []
    for sample in integration.samples:
        started = time.monotonic()
        report = await execute_on_mocks(integration, sample.payload, context)
        elapsed = time.monotonic() - started
        check = f"sample:{sample.name}"
        golden = f"samples/{sample.expected_path.name}"

        if report.status != SUCCESS:
            outcome, reason, details = Outcome.FAILED, _describe(report), ""
        elif report.normalized_data != sample.expected:
            details = golden_diff(sample.expected, report.normalized_data, golden)
            outcome, reason = Outcome.FAILED, f"result differs from {golden}"
        else:
            outcome, reason, details = Outcome.PASSED, f"matches {golden}", ""
        results.append(context.result(check, outcome, reason, details, elapsed))
    return results


@register_check("scenario", "each fault scenario against its expected outcome")
async def check_scenarios(
    integration: IntegrationDir, context: GateContext
) -> list[CheckResult]:
    results = []
    samples = {sample.name: sample for sample in integration.samples}
    for scenario in integration.scenarios:
        started = time.monotonic()
        sample = samples[scenario.sample] if scenario.sample else None
        payload = sample.payload if sample else scenario.payload
        report = await execute_on_mocks(
            integration, payload, context, scenario.fault_plan()
        )
        problems = scenario_mismatches(scenario, report)

        details = ""
        golden = sample.expected if sample else None
        compare = not problems and report.status == SUCCESS and scenario.expect.golden
        if compare and sample is not None and report.normalized_data != golden:
            name = f"samples/{sample.expected_path.name}"
            problems.append(f"result differs from {name}")
            details = golden_diff(golden, report.normalized_data, name)
        outcome = Outcome.FAILED if problems else Outcome.PASSED
        reason = "; ".join(problems) if problems else _describe(report)
        elapsed = time.monotonic() - started
        check = f"scenario:{scenario.name}"
        results.append(context.result(check, outcome, reason, details, elapsed))
    return results


def scenario_mismatches(scenario: Scenario, report: ExecutionReport) -> list[str]:
    """How an execution differs from what its scenario expects (empty: none)."""
    expect = scenario.expect
    error = report.error
    if report.status != expect.status:
        return [f"expected {expect.status}, got {_describe(report)}"]
    problems = []
    if expect.attempts is not None and report.attempts != expect.attempts:
        problems.append(
            f"expected {expect.attempts} attempts, got {report.attempts} "
            f"({', '.join(str(a.outcome) for a in report.attempt_outcomes)})"
        )
    kind = error.kind if error else "no error"
    if expect.error is not None and kind != expect.error:
        problems.append(f"expected error {expect.error}, got {kind}")
    if expect.http_status is not None:
        status = error.status if error else None
        if status != expect.http_status:
            problems.append(f"expected HTTP status {expect.http_status}, got {status}")
    return problems


# ----------------------------------------------------- contracts and drift


@register_check("contract", "each sample's requests held to the APIs' contracts")
async def check_contract(
    integration: IntegrationDir, context: GateContext
) -> list[CheckResult]:
    """Consumer side: run the samples with every mock guarding its contract."""
    from contracts.guard import EnvironmentGuards, guard_environment

    if not integration.samples:
        return [context.result("contract", Outcome.SKIPPED, "no sample to send")]
    started = time.monotonic()
    runs: list[EnvironmentGuards] = []
    for sample in integration.samples:
        await execute_on_mocks(
            integration,
            sample.payload,
            context,
            prepare=lambda env: runs.append(guard_environment(env)),
        )
    elapsed = time.monotonic() - started

    violations = [str(v) for run in runs for v in run.violations()]
    if violations:
        reason = f"{_plural(len(violations), 'request')} broke a contract: "
        details = "\n".join(violations)
        return [
            context.result(
                "contract", Outcome.FAILED, reason + violations[0], details, elapsed
            )
        ]
    held = sorted(
        {g.contract.name for run in runs for g in run.guards.values() if g.checked}
    )
    checked = sum(g.checked for run in runs for g in run.guards.values())
    summary = f"{_plural(checked, 'request')} held to {', '.join(held) or 'none'}"
    host = urlsplit(integration.definition.config.url).hostname or ""
    if host in runs[0].unguarded:
        # Without the service's contract half the traffic went unchecked.
        reason = f"no contract names {host}; {summary}"
        return [context.result("contract", Outcome.SKIPPED, reason, "", elapsed)]
    return [context.result("contract", Outcome.PASSED, summary, "", elapsed)]


@register_check("fixture-drift", "recorded responses held to the service's contract")
async def check_fixture_drift(
    integration: IntegrationDir, context: GateContext
) -> list[CheckResult]:
    from contracts.drift import check_integration_drift
    from contracts.errors import ContractError

    if not integration.fixtures_path.exists():
        reason = f"no {integration.fixtures_path.name}"
        return [context.result("fixture-drift", Outcome.SKIPPED, reason)]
    try:
        report = check_integration_drift(integration.root)
    except ContractError as exc:
        return [context.result("fixture-drift", Outcome.SKIPPED, str(exc))]

    if not report.ok:
        findings = [str(finding) for finding in report.findings]
        reason = f"{_plural(len(findings), 'finding')}: {findings[0]}"
        details = "\n".join(findings)
        return [context.result("fixture-drift", Outcome.FAILED, reason, details)]
    checked = _plural(report.interactions, "recorded response")
    reason = f"{checked} checked against {report.contract}: no drift"
    if report.tolerated:
        reason += f" ({len(report.tolerated)} tolerated by a documented overlay)"
    details = "\n".join(str(finding) for finding in report.tolerated)
    return [context.result("fixture-drift", Outcome.PASSED, reason, details)]


# ------------------------------------------------------------------- load


@register_check("load", "a short locust run against the integration's thresholds")
async def check_load(
    integration: IntegrationDir, context: GateContext
) -> list[CheckResult]:
    """`loadtests.run_load` on the mocks on loopback, briefly, thresholds checked."""
    options = context.options
    if options.skip_load:
        return [context.result("load", Outcome.SKIPPED, "--skip-load")]
    if importlib.util.find_spec("locust") is None:
        reason = "locust is not installed: pip install 'cognigy-harness[load]'"
        return [context.result("load", Outcome.FAILED, reason + ", or --skip-load")]
    from loadtests import LoadOptions, LoadRunError, run_load

    load_options = LoadOptions(
        integration=integration.root,
        users=options.load_users,
        duration_s=options.load_duration_s,
        # The gate's log: the locust process appends under the same file lock.
        audit_log=context.audit.path,
    )
    started = time.monotonic()
    try:
        result = await asyncio.to_thread(run_load, load_options, _log_progress)
    except LoadRunError as exc:
        elapsed = time.monotonic() - started
        return [context.result("load", Outcome.FAILED, exc.message, "", elapsed)]
    elapsed = time.monotonic() - started

    summary = result.summary
    figures = (
        f"{summary.executions} executions in {summary.duration_s:.1f} s, "
        f"p95 {summary.p95_ms:g} ms, p99 {summary.p99_ms:g} ms, "
        f"error rate {summary.error_rate:.2%}"
    )
    details = "\n".join(check.describe() for check in result.checks)
    if not result.passed:
        reason = "; ".join(check.describe() for check in result.breaches)
        return [context.result("load", Outcome.FAILED, reason, details, elapsed)]
    return [context.result("load", Outcome.PASSED, figures, details, elapsed)]


def _log_progress(line: str) -> None:
    logger.info("load: %s", line)


# -------------------------------------------------------------- reporters


def format_table(report: GateReport) -> str:
    """Integration x check with pass / fail / skip and the reason, then totals."""
    header = ("integration", "check", "result", "reason")
    rows = [(r.integration, r.check, r.outcome.value, r.reason) for r in report.results]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    lines = []
    for row in [header, *rows]:
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        lines.append("  ".join([*cells, row[3]]).rstrip())
    lines.insert(1, "  ".join("-" * w for w in [*widths, len(header[3])]))
    lines.append("")
    lines.append(summary_line(report))
    return "\n".join(lines)


def summary_line(report: GateReport) -> str:
    verdict = "PASSED" if report.passed else "FAILED"
    return (
        f"gate {verdict}: {len(report.results)} checks, "
        f"{report.count(Outcome.PASSED)} passed, "
        f"{report.count(Outcome.FAILED)} failed, "
        f"{report.count(Outcome.SKIPPED)} skipped"
    )


def junit_xml(report: GateReport) -> str:
    """JUnit XML: a suite per integration, a test case per check."""
    root = ET.Element("testsuites", name="cognigy-harness gate")
    _counts(root, report.results)
    for integration, results in report.by_integration().items():
        suite = ET.SubElement(root, "testsuite", name=integration)
        _counts(suite, results)
        for result in results:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=integration.strip("/").replace("/", "."),
                name=result.check,
                time=f"{result.duration_s:.3f}",
            )
            if result.outcome is Outcome.FAILED:
                failure = ET.SubElement(case, "failure", message=result.reason)
                failure.text = result.details or result.reason
            elif result.outcome is Outcome.SKIPPED:
                ET.SubElement(case, "skipped", message=result.reason)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _counts(element: ET.Element, results: list[CheckResult]) -> None:
    element.set("tests", str(len(results)))
    element.set("failures", str(sum(r.outcome is Outcome.FAILED for r in results)))
    element.set("errors", "0")
    element.set("skipped", str(sum(r.outcome is Outcome.SKIPPED for r in results)))
    element.set("time", f"{sum(r.duration_s for r in results):.3f}")
