"""`demo` and `run`: execute an integration end to end and print the result."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness.errors import DefinitionError
from harness.loader import IntegrationDir, load_integration
from harness.pipeline import ExecutionReport, Pipeline, bot_context
from harness.settings import HarnessSettings
from mocks.faults import FAULT_SPEC_HELP, build_fault_plan

#: The integration `demo` runs, shipped in the repository.
DEMO_INTEGRATION = (
    Path(__file__).resolve().parents[2] / "integrations" / "account-balance"
)
DEMO_SAMPLE = "balance"
#: Profile `cognigy-ai-v2` refuses account-balance's bearer token (a node would
#: hold it in clear), so its demo runs the API-key example.
DEMO_V2_INTEGRATION = DEMO_INTEGRATION.parent / "order-status"
DEMO_V2_SAMPLE = "in-transit"
PLATFORMS = ("integrations-v1", "cognigy-ai-v2")


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run the account-balance example on the embedded mocks",
        description="Run the five steps of the account-balance example against "
        "the embedded mocks and print what each produced.",
    )
    _common_options(demo)
    demo.set_defaults(handler=run_demo)

    run = subparsers.add_parser(
        "run",
        help="run one integration with a bot payload",
        description="Run one integration with a bot payload: against the "
        "embedded mocks with --mock, against the configured tenant and external "
        "API without it. Exit 0 on SUCCESS, 1 on FAILURE.",
        epilog=FAULT_SPEC_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("integration", type=Path, metavar="INTEGRATION")
    run.add_argument(
        "--payload", type=Path, required=True, help="the bot payload, a JSON file"
    )
    run.add_argument("--mock", action="store_true", help="use the embedded mocks")
    _common_options(run)
    run.set_defaults(handler=run_integration)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--fault",
        metavar="SPEC",
        help="upstream answers to inject before the fixtures (mocks only; "
        "see the grammar below or in the README)",
    )
    parser.add_argument(
        "--fault-plan",
        type=Path,
        metavar="FILE",
        help="a fault-plan file (mocks only; format in the README)",
    )
    parser.add_argument(
        "--audit-log", type=Path, metavar="FILE", help="the audit log to append to"
    )
    parser.add_argument(
        "--platform",
        choices=PLATFORMS,
        help="the platform profile to register through (default: "
        "COGNIGY_PLATFORM, else integrations-v1)",
    )


def run_demo(args: argparse.Namespace) -> int:
    if args.platform == "cognigy-ai-v2":
        integration = load_integration(DEMO_V2_INTEGRATION)
        sample = next(s for s in integration.samples if s.name == DEMO_V2_SAMPLE)
        return _execute(args, integration, sample.payload, mock=True)
    integration = load_integration(DEMO_INTEGRATION)
    sample = next(s for s in integration.samples if s.name == DEMO_SAMPLE)
    return _execute(args, integration, sample.payload, mock=True)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no {name})")


def read_payload(path: Path) -> Any:
    """A bot payload file: strict JSON only (no NaN or Infinity).

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not JSON, or nested too deeply to parse.
    """
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None


def run_integration(args: argparse.Namespace) -> int:
    try:
        integration = load_integration(args.integration)
        payload = read_payload(args.payload)
    except DefinitionError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: payload {args.payload}: {exc}", file=sys.stderr)
        return 2
    if (args.fault or args.fault_plan) and not args.mock:
        print("error: --fault and --fault-plan need --mock", file=sys.stderr)
        return 2
    return _execute(args, integration, payload, mock=args.mock)


def _execute(
    args: argparse.Namespace, integration: IntegrationDir, payload: Any, *, mock: bool
) -> int:
    settings = HarnessSettings()
    if args.audit_log is not None:
        settings = settings.model_copy(update={"audit_log_path": args.audit_log})
    if args.platform is not None:
        settings = settings.model_copy(update={"cognigy_platform": args.platform})
    try:
        fault_plan = build_fault_plan(args.fault, args.fault_plan)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    with ExitStack() as stack:
        if mock:
            # Imported here: a real run needs nothing from the mocks.
            from mocks.environment import MockEnvironment

            environment = MockEnvironment(
                [integration], settings, fault_plan=fault_plan
            )
            stack.enter_context(environment.in_process())
            # The embedded mocks intercept httpx's own transport (respx's
            # default mocker), whatever HTTP_TRANSPORT says.
            settings = environment.settings.model_copy(
                update={"http_transport": "httpx"}
            )
        report, metrics = asyncio.run(_run_once(settings, integration, payload))

    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_human(report, settings, metrics)
    return 0 if report.status == "SUCCESS" else 1


async def _run_once(
    settings: HarnessSettings, integration: IntegrationDir, payload: Any
) -> tuple[ExecutionReport, dict[str, Any]]:
    async with Pipeline(settings) as pipeline:
        report = await pipeline.run(integration.definition, bot_context(payload))
        return report, pipeline.metrics.snapshot(integration.definition.name)


def _webhook_state(report: ExecutionReport, settings: HarnessSettings) -> str:
    if settings.webhook_url is None:
        return "not configured (set WEBHOOK_URL)"
    return "delivered" if report.webhook_delivered else "pending (in the outbox)"


def _print_human(
    report: ExecutionReport, settings: HarnessSettings, metrics: dict[str, Any]
) -> None:
    print(f"integration:     {report.integration_name}")
    print(f"integration id:  {report.integration_id}")
    registration = report.registration
    if registration is not None and registration.flow_id is not None:
        print(f"flow id:         {registration.flow_id}")
        print(f"node id:         {registration.id}")
        print(f"connection id:   {registration.connection_id}")
    print(f"status:          {report.status}")
    # Each attempt: what it gave, when it began (after the execution started)
    # and how long it took, so backoff and Retry-After waits are visible.
    outcomes = ", ".join(
        f"{a.outcome} (at +{a.started_ms:.0f} ms, {a.latency_ms:.1f} ms)"
        for a in report.attempt_outcomes
    )
    print(f"attempts:        {report.attempts}: {outcomes or '-'}")
    print(f"latency:         {report.latency_ms:.1f} ms")
    if report.error is not None:
        print(f"error:           {report.error.kind}: {report.error.message}")
    else:
        print("normalized data:")
        print(json.dumps(report.normalized_data, indent=2, ensure_ascii=False))
    print(f"webhook:         {_webhook_state(report, settings)}")
    print(f"audit entry ({settings.audit_log_path}):")
    print(json.dumps(report.audit_entry, ensure_ascii=False))
    print(
        "metrics:         executions={executions} error_rate={error_rate} "
        "p95={latency_p95_ms} ms".format(**metrics)
    )
