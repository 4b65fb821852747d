"""`cognigy-harness gate PATH...`: one verdict on integration changes, for CI."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from harness.cli.options import positive_int
from harness.cli.paths import ensure_writable
from harness.errors import DefinitionError
from harness.gate import (
    CheckResult,
    GateOptions,
    Outcome,
    format_table,
    junit_xml,
    registered_checks,
    run_gate,
)


def register(subparsers: Any) -> None:
    checks = "\n".join(f"  {c.name:<14} {c.description}" for c in registered_checks())
    parser = subparsers.add_parser(
        "gate",
        help="run every check on integration directories (CI)",
        description="Find every integration directory under the paths and run, "
        "for each: validation, then the checks below. Print a table of "
        "integration x check with the reason of each failure, and exit 0 only "
        "when nothing failed (1 when something did, 2 on bad arguments).",
        epilog=f"checks:\n{checks}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument(
        "--junit", type=Path, metavar="FILE", help="also write JUnit XML here"
    )
    parser.add_argument(
        "--skip-load", action="store_true", help="skip the short load run"
    )
    parser.add_argument(
        "--load-duration",
        type=positive_int,
        default=GateOptions.load_duration_s,
        metavar="SECONDS",
        help="how long the locust run of each integration lasts (default: %(default)s)",
    )
    parser.add_argument(
        "--load-users",
        type=positive_int,
        default=GateOptions.load_users,
        metavar="N",
        help="locust users in that run (default: %(default)s)",
    )
    parser.add_argument(
        "--audit-log",
        type=Path,
        metavar="FILE",
        help="audit the gate's executions here (default: a temporary file)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    for path in (args.junit, args.audit_log):
        if path is not None:
            ensure_writable(path)
    options = GateOptions(
        skip_load=args.skip_load,
        audit_log_path=args.audit_log,
        load_duration_s=args.load_duration,
        load_users=args.load_users,
    )
    try:
        report = asyncio.run(run_gate(args.paths, options, progress=_progress))
    except DefinitionError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2

    print(format_table(report))
    for failure in report.failures:
        if failure.details:
            print(f"\n{failure.integration} {failure.check}:\n{failure.details}")
    if args.junit is not None:
        args.junit.parent.mkdir(parents=True, exist_ok=True)
        args.junit.write_text(junit_xml(report), encoding="utf-8")
        print(f"JUnit XML: {args.junit}")
    return 0 if report.passed else 1


def _progress(result: CheckResult) -> None:
    # Progress goes to stderr so stdout stays the table a CI log shows.
    mark = {Outcome.PASSED: "ok", Outcome.FAILED: "FAIL", Outcome.SKIPPED: "skip"}
    line = f"{mark[result.outcome]:>4}  {result.integration}  {result.check}"
    print(line, file=sys.stderr, flush=True)
