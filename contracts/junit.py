"""JUnit XML of a contract run (and of fixture drift), for CI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree as ET

from contracts.drift import DriftReport
from contracts.provider import ContractRun, TargetResult


def junit_xml(run: ContractRun, drift: Sequence[DriftReport] = ()) -> str:
    """One testsuite per target (a testcase per scenario), one for drift."""
    suites = ET.Element("testsuites", name="cognigy-harness contract")
    for target in run.targets:
        suites.append(_target_suite(target))
    if drift:
        suites.append(_drift_suite(drift))
    _count(suites)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(
    path: Path | str, run: ContractRun, drift: Sequence[DriftReport] = ()
) -> None:
    Path(path).write_text(junit_xml(run, drift), encoding="utf-8")


def _target_suite(target: TargetResult) -> ET.Element:
    suite = ET.Element("testsuite", name=f"{target.target} ({target.contract})")
    suite.set("time", f"{target.elapsed:.3f}")
    if target.outcome == "skipped" and not target.scenarios:
        case = ET.SubElement(
            suite, "testcase", name="contract", classname=target.target
        )
        ET.SubElement(case, "skipped", message=target.message)
    if target.outcome == "errored" and not target.scenarios:
        case = ET.SubElement(
            suite, "testcase", name="contract", classname=target.target
        )
        ET.SubElement(case, "error", message=target.message)
    for index, scenario in enumerate(target.scenarios):
        name = f"{scenario.phase}: {scenario.label}"
        if scenario.phase == "stateful":
            name += f" #{index}"
        case = ET.SubElement(suite, "testcase", name=name, classname=target.target)
        case.set("time", f"{scenario.elapsed:.3f}")
        if scenario.failures:
            failure = ET.SubElement(case, "failure", message=scenario.failures[0].title)
            failure.text = "\n\n".join(str(item) for item in scenario.failures)
        elif scenario.outcome == "errored":
            ET.SubElement(case, "error", message=scenario.message)
        elif scenario.outcome == "skipped":
            ET.SubElement(case, "skipped", message=scenario.message)
    return suite


def _drift_suite(reports: Sequence[DriftReport]) -> ET.Element:
    suite = ET.Element("testsuite", name="fixture drift")
    for report in reports:
        case = ET.SubElement(
            suite, "testcase", name=str(report.fixture), classname=report.contract
        )
        if report.findings:
            failure = ET.SubElement(
                case, "failure", message=f"{len(report.findings)} drift finding(s)"
            )
            failure.text = "\n".join(str(item) for item in report.findings)
        if report.tolerated:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(str(item) for item in report.tolerated)
    return suite


def _count(suites: ET.Element) -> None:
    for suite in suites:
        cases = list(suite.iter("testcase"))
        suite.set("tests", str(len(cases)))
        for kind in ("failure", "error", "skipped"):
            total = sum(1 for case in cases if case.find(kind) is not None)
            suite.set(kind + "s" if kind != "skipped" else "skipped", str(total))
