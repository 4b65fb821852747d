"""`cognigy-harness contract`: schemathesis on every contract, plus fixture drift."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from contracts.drift import check_all_fixtures
from contracts.junit import write_junit
from contracts.provider import RunOptions, run_contract_checks
from contracts.targets import live_targets, mock_targets
from harness.loader import find_integrations

DEFAULT_INTEGRATIONS = Path("integrations")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "contract",
        help="check the contracts against the mocks (or live servers) and fixtures",
        description="Run schemathesis on each contract against its mock through "
        "ASGI (or, with --live, against the configured, reachable real servers), "
        "and check every recorded fixture against its contract. Exit 0 when "
        "everything passed or was skipped, 1 otherwise.",
    )
    parser.add_argument(
        "--integrations",
        type=Path,
        help="folder of integration directories (default: ./integrations; "
        "given, it must hold at least one)",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="check the real servers (COGNIGY_TENANT_URL, the external services)",
    )
    parser.add_argument(
        "--allow-writes",
        action="store_true",
        help="with --live: also create and delete integrations on the tenant",
    )
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    parser.add_argument(
        "--max-examples",
        type=int,
        default=RunOptions.max_examples,
        help=f"examples per operation (default {RunOptions.max_examples})",
    )
    parser.add_argument("--seed", type=int, default=RunOptions.seed)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.allow_writes and not args.live:
        print("--allow-writes only applies with --live")
        return 2
    if args.junit is not None and not args.junit.parent.is_dir():
        # Said before the run, not after it as a failed write.
        print(
            f"error: {args.junit}: the folder {args.junit.parent} does not exist",
            file=sys.stderr,
        )
        return 2
    folder: Path = args.integrations or DEFAULT_INTEGRATIONS
    found = find_integrations([folder]) if folder.exists() else []
    if not found and args.integrations is not None:
        print(f"error: no integration.yaml at or below {folder}", file=sys.stderr)
        return 2
    if found:
        names = ", ".join(path.name for path in found)
        print(f"integrations under {folder}: {names}")
    else:
        # Not an error: the platform contracts are still worth checking.
        print(
            f"warning: no integration found under ./{folder}: only the platform "
            "mocks are checked (give --integrations FOLDER)",
            file=sys.stderr,
        )
    args.integrations = folder
    if args.live:
        targets = live_targets(folder, allow_writes=args.allow_writes)
    else:
        targets = mock_targets(folder)

    options = RunOptions(max_examples=args.max_examples, seed=args.seed)
    mocks_logger = logging.getLogger("mocks")
    level = mocks_logger.level
    if not args.verbose:
        # Fuzzing a fixture mock makes it warn about every unrecorded request;
        # the run's own summary counts them instead.
        mocks_logger.setLevel(logging.ERROR)
    try:
        result = run_contract_checks(targets, options, progress=print)
    finally:
        mocks_logger.setLevel(level)
    for target in result.targets:
        if target.outcome != "skipped" and target.message:
            print(f"  {target.target}: {target.message}")
        for failure in target.failures:
            print(f"  {target.target}: {failure}")

    drift = check_all_fixtures(args.integrations)
    for report in drift:
        state = "ok" if report.ok else f"{len(report.findings)} finding(s)"
        print(f"DRIFT {report.fixture} ({report.contract}): {state}")
        for finding in [*report.findings, *report.tolerated]:
            print(f"  {finding}")

    if args.junit is not None:
        write_junit(args.junit, result, drift)
        print(f"JUnit XML written to {args.junit}")
    return 0 if result.ok and all(report.ok for report in drift) else 1
