"""`cognigy-harness load`: a locust load test against the mocks on loopback."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness.cli.options import positive_float, positive_int, ratio
from harness.cli.paths import ensure_writable
from harness.errors import DefinitionError

PROFILES_HELP = """\
profiles (upstream behaviour of the mocks; retry waits shortened to 50-200 ms):
  steady        the recorded answers, no faults
  flaky         10 % of upstream calls answer 503
  rate-limited  5 % of upstream calls answer 429 with Retry-After: 1
  slow          log-normal upstream latency, median 120 ms
  ramp          no faults; users arrive in stages up to --users, then leave

Thresholds not given here come from the integration's `thresholds`. Exit
codes: 0 every threshold held, 1 a threshold was breached (named on stderr),
2 bad input or the load run itself failed."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "load",
        help="load-test an integration with locust against the mocks",
        description="Start the mocks on loopback, run the integration's "
        "pipeline under locust (headless) and print executions/s, latency "
        "percentiles, error rate and retries per execution.",
        epilog=PROFILES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("integration", type=Path, metavar="INTEGRATION")
    parser.add_argument("--profile", default="steady", help="load profile (below)")
    parser.add_argument("--users", type=positive_int, default=10, metavar="N")
    parser.add_argument(
        "--spawn-rate",
        type=positive_float,
        metavar="R",
        help="users started per second (default: all within a second)",
    )
    parser.add_argument(
        "--duration", default="30s", help="run time, e.g. 30s, 2m, 1m30s"
    )
    parser.add_argument("--p95-ms", type=positive_float, metavar="X")
    parser.add_argument("--p99-ms", type=positive_float, metavar="Y")
    parser.add_argument("--max-error-rate", type=ratio, metavar="Z")
    parser.add_argument(
        "--turn-budget-ms",
        type=positive_float,
        metavar="MS",
        help="no execution (all attempts and waits) may take longer",
    )
    parser.add_argument(
        "--processes",
        type=positive_int,
        metavar="N",
        help="locust worker processes on this machine (default: one process)",
    )
    parser.add_argument("--csv", metavar="PREFIX", help="locust's CSV reports")
    parser.add_argument(
        "--html", type=Path, metavar="FILE", help="locust's HTML report"
    )
    parser.add_argument(
        "--audit-log",
        type=Path,
        default=Path(".cognigy-harness/load-audit.jsonl"),
        metavar="FILE",
        help="where the load run's executions are audited",
    )
    parser.add_argument(
        "--keep-backoff",
        action="store_true",
        help="keep the definition's retry waits instead of the profile's",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON document"
    )
    parser.set_defaults(handler=run_load_command)


def run_load_command(args: argparse.Namespace) -> int:
    from loadtests import (
        LoadOptions,
        LoadRunError,
        UnknownProfileError,
        format_table,
        parse_duration,
        run_load,
    )

    # A report or audit path that cannot be written fails now, not after
    # the run (and never leaves locust waiting on an audit log it can't open).
    for path, prefix in ((args.audit_log, False), (args.html, False), (args.csv, True)):
        if path is not None:
            ensure_writable(Path(path), prefix=prefix)
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        print(f"error: --duration: {exc}", file=sys.stderr)
        return 2
    options = LoadOptions(
        integration=args.integration,
        profile=args.profile,
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration_s=duration,
        p95_ms=args.p95_ms,
        p99_ms=args.p99_ms,
        max_error_rate=args.max_error_rate,
        turn_budget_ms=args.turn_budget_ms,
        csv_prefix=args.csv,
        html=args.html,
        processes=args.processes,
        audit_log=args.audit_log,
        keep_backoff=args.keep_backoff,
    )
    print(
        f"load: {args.integration} profile {args.profile}, {args.users} users "
        f"for {duration:g} s against the mocks on 127.0.0.1",
        file=sys.stderr,
        flush=True,
    )
    try:
        result = run_load(options, progress=_progress)
    except (DefinitionError, UnknownProfileError, LoadRunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_table(result.summary))
        for check in result.checks:
            print(check.describe())
    for breach in result.breaches:
        print(f"threshold breached: {breach.describe()}", file=sys.stderr)
    return 0 if result.passed else 1


def _progress(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)
