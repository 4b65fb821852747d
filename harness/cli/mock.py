"""`cognigy-harness mock serve`: all mocks on a loopback port."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import uvicorn

from harness.loader import find_integrations, load_integration
from harness.settings import HarnessSettings

DEFAULT_INTEGRATIONS = Path("integrations")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("mock", help="serve the mocks on a port")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve",
        help="serve the platform, external and webhook mocks on loopback",
        description="Serve the mock Cognigy platform, the external services of "
        "the given integrations and the webhook receiver on one port, each "
        "under its own path prefix.",
    )
    serve.add_argument(
        "integrations",
        nargs="*",
        type=Path,
        metavar="INTEGRATION",
        help="integration directories to serve (default: ./integrations)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--fault", metavar="SPEC", help="fault sequence for the externals"
    )
    serve.add_argument(
        "--rate-limit", metavar="N/SECONDS", help="platform rate limit, e.g. 100/60"
    )
    serve.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from mocks.cognigy import RateLimit
    from mocks.environment import MockEnvironment
    from mocks.faults import parse_fault_spec

    paths = args.integrations or [DEFAULT_INTEGRATIONS]
    integrations = [load_integration(p) for p in find_integrations(paths)]
    environment = MockEnvironment(
        integrations,
        HarnessSettings(),
        fault_plan=parse_fault_spec(args.fault) if args.fault else None,
        rate_limit=RateLimit.parse(args.rate_limit) if args.rate_limit else None,
    )
    base = f"http://{args.host}:{args.port}"
    settings = environment.port_settings(base)
    print(f"cognigy platform mock: {settings.cognigy_tenant_url}", flush=True)
    print(
        f"cognigy.ai v2 mock:    {settings.cognigy_api_url} (project "
        f"{settings.cognigy_project_id}, flow {settings.cognigy_flow_id})",
        flush=True,
    )
    for host, url in settings.host_overrides.items():
        print(f"external mock for {host}: {url}", flush=True)
    print(f"webhook receiver mock: {settings.webhook_url}", flush=True)
    uvicorn.run(
        environment.asgi_app(), host=args.host, port=args.port, log_level="warning"
    )
    return 0
