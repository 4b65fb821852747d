"""`cognigy-harness mock serve`: all mocks on a loopback port."""

from __future__ import annotations

import argparse
import ipaddress
import json
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn

from harness.cli.options import positive_int
from harness.cli.record import add_record_mode
from harness.errors import DefinitionError
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
        "under its own path prefix; prints one line per mock with its base URL.",
    )
    serve.add_argument(
        "integrations",
        nargs="*",
        type=Path,
        metavar="INTEGRATION",
        help="integration directories to serve (default: ./integrations)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    serve.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="UNSAFE: listen on a --host other than loopback; anyone who can "
        "reach it gets tokens for the documented demo credentials",
    )
    serve.add_argument(
        "--port", type=port_number, default=8080, help="0 picks a free port (printed)"
    )
    serve.add_argument(
        "--fault", metavar="SPEC", help="fault sequence for the externals"
    )
    serve.add_argument(
        "--fault-plan", type=Path, metavar="FILE", help="a fault-plan file"
    )
    serve.add_argument(
        "--rate-limit",
        metavar="N/SECONDS",
        help="platform rate limit, e.g. 100/60 (the window is required)",
    )
    serve.add_argument(
        "--token-expires-in",
        type=positive_int,
        default=3600,
        metavar="SECONDS",
        help="lifetime of the platform's tokens (default 3600)",
    )
    serve.add_argument(
        "--foreign-bot",
        action="append",
        default=[],
        metavar="BOT_ID",
        help="a bot of another workspace: registering for it gets 403 (repeatable)",
    )
    # Recording writes each integration's fixtures.yaml when the server stops.
    add_record_mode(serve, "--record-mode", "none")
    serve.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="HOST=URL",
        help="record HOST's answers from URL instead of https://HOST (repeatable)",
    )
    serve.add_argument(
        "--no-contract-guard",
        action="store_true",
        help="accept requests the contracts do not allow (by default, when "
        "not recording, they are refused as the real server would, with the "
        "contract's reason)",
    )
    serve.set_defaults(handler=run_serve)


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535."""
    number = int(text)
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (0 to 65535)")
    return number


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (what is safe to serve on)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(args: argparse.Namespace) -> int:
    from mocks.cognigy import RateLimit
    from mocks.environment import MockEnvironment
    from mocks.faults import build_fault_plan
    from mocks.transport import quiet_injected_resets

    if not is_loopback(args.host) and not args.allow_non_loopback:
        print(
            f"error: --host {args.host} is not loopback: the mocks accept the "
            "documented demo credentials, so anyone who reaches them gets "
            "tokens; add --allow-non-loopback to serve there anyway",
            file=sys.stderr,
        )
        return 2
    settings = HarnessSettings()
    try:
        paths = args.integrations or [DEFAULT_INTEGRATIONS]
        for path in args.integrations:
            if not find_integrations([path]):
                raise ValueError(f"no integration.yaml at or below {path}")
        integrations = [load_integration(p) for p in find_integrations(paths)]
        environment = MockEnvironment(
            integrations,
            settings,
            fault_plan=build_fault_plan(args.fault, args.fault_plan),
            rate_limit=RateLimit.parse(args.rate_limit) if args.rate_limit else None,
            foreign_bots=frozenset(args.foreign_bot),
            expires_in=args.token_expires_in,
            record_mode=args.record_mode,
            upstreams=_upstreams(args.upstream),
        )
    except DefinitionError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    # While recording, the real server decides what is valid: that is what
    # gets recorded, so the guards only stand in for it when replaying.
    if not args.no_contract_guard and args.record_mode == "none":
        from contracts.guard import guard_environment

        guard_environment(environment)

    # Bound here, so `--port 0` can print the port it got.
    try:
        listener = socket.create_server((args.host, args.port))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            f"error: cannot listen on {args.host}:{args.port}: {reason}",
            file=sys.stderr,
        )
        return 2
    quiet_injected_resets()
    port = listener.getsockname()[1]
    _print_mocks(environment, f"http://{args.host}:{port}", settings)
    app = _on_shutdown(environment.asgi_app(), lambda: _finish(environment))
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def _upstreams(items: list[str]) -> dict[str, str]:
    upstreams = {}
    for item in items:
        host, _, url = item.partition("=")
        if not host or not url.startswith(("http://", "https://")):
            raise ValueError(f"--upstream {item!r} is not HOST=http(s)://...")
        upstreams[host] = url
    return upstreams


async def _finish(environment: Any) -> None:
    """At shutdown: write what was recorded, then report unused fixtures."""
    await environment.aclose()
    for path in environment.save_recordings():
        print(f"wrote recorded interactions to {path}", flush=True)
    for recorder in environment.recorders:
        for message in recorder.errors:
            print(f"error: {message}", file=sys.stderr, flush=True)
    _print_unused(environment)


def _on_shutdown(app: Any, callback: Callable[[], Awaitable[None]]) -> Any:
    """`app`, calling `callback` when the server shuts down.

    At shutdown, not after `run` returns: uvicorn re-raises the SIGTERM that
    stopped it, which ends the process before any later line runs.
    """

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        async def watched_receive() -> Any:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await callback()
            return message

        await app(
            scope, watched_receive if scope["type"] == "lifespan" else receive, send
        )

    return wrapped


def _print_mocks(environment: Any, base_url: str, settings: HarnessSettings) -> None:
    """One line per mock with its base URL, then the credentials it accepts."""
    served = environment.port_settings(base_url)
    lines = [
        f"cognigy platform mock (integrations-v1): {served.cognigy_tenant_url}",
        f"cognigy.ai API mock (cognigy-ai-v2): {served.cognigy_api_url} "
        f"(project {served.cognigy_project_id}, flow {served.cognigy_flow_id})",
        *(
            f"external mock for {host}: {url}"
            for host, url in served.host_overrides.items()
        ),
        f"webhook receiver mock: {served.webhook_url}",
        "network: calls to loopback need ALLOWED_PRIVATE_NETWORKS='[\"127.0.0.0/8\"]'",
    ]
    if settings.cognigy_client_id and settings.cognigy_client_secret:
        lines.append("client credentials: COGNIGY_CLIENT_ID / COGNIGY_CLIENT_SECRET")
    else:
        # The documented demo pair: not a secret, and the user needs it.
        platform = environment.platform
        lines.append(
            f"client credentials: {platform.client_id} / {platform.client_secret} "
            "(demo; set COGNIGY_CLIENT_ID / COGNIGY_CLIENT_SECRET to change)"
        )
    if settings.cognigy_api_key is None:
        lines.append(
            f"api key (cognigy-ai-v2): {environment.cognigy_ai.api_key} "
            "(demo; set COGNIGY_API_KEY to change)"
        )
    lines.extend(_client_lines(environment, served, settings))
    for line in lines:
        print(line, flush=True)


def _client_lines(
    environment: Any, served: HarnessSettings, settings: HarnessSettings
) -> list[str]:
    """The webhook secret's source, then the environment a client needs.

    Values are printed only when they are the documented demo ones; a secret
    set where `mock serve` runs is named, never shown.
    """
    from mocks.environment import DEMO_EXTERNAL_SECRET, DEMO_WEBHOOK_SECRET

    demo = "(demo; set WEBHOOK_SIGNING_SECRET to change)"
    signing = settings.webhook_signing_secret
    exports = {
        "COGNIGY_TENANT_URL": str(served.cognigy_tenant_url),
        "COGNIGY_API_URL": str(served.cognigy_api_url),
        "COGNIGY_PROJECT_ID": served.cognigy_project_id,
        "COGNIGY_FLOW_ID": served.cognigy_flow_id,
        "WEBHOOK_URL": str(served.webhook_url),
        "HOST_OVERRIDES": json.dumps(served.host_overrides, separators=(",", ":")),
        "ALLOWED_PRIVATE_NETWORKS": '["127.0.0.0/8"]',
    }
    if not (settings.cognigy_client_id and settings.cognigy_client_secret):
        exports["COGNIGY_CLIENT_ID"] = environment.platform.client_id
        exports["COGNIGY_CLIENT_SECRET"] = environment.platform.client_secret
    if settings.cognigy_api_key is None:
        exports["COGNIGY_API_KEY"] = environment.cognigy_ai.api_key
    if signing is None:
        exports["WEBHOOK_SIGNING_SECRET"] = DEMO_WEBHOOK_SECRET
    for integration in environment.integrations:
        name = integration.definition.config.secret_env
        if settings.secret(name) is None:
            exports[name] = DEMO_EXTERNAL_SECRET
    return [
        "webhook signing secret: "
        + (
            f"{DEMO_WEBHOOK_SECRET} {demo}"
            if signing is None
            else "WEBHOOK_SIGNING_SECRET (as set)"
        ),
        "client environment (paste where `cognigy-harness run` runs; secrets "
        "set here are not shown, set them there too):",
        *(
            f"export {name}={shlex.quote(value or '')}"
            for name, value in exports.items()
        ),
        "serving; Ctrl-C stops (then unused fixtures are listed)",
    ]


def _print_unused(environment: Any) -> None:
    """Fixture hygiene, once the server stops: what no request used."""
    for host, unused in environment.unused_fixtures().items():
        names = ", ".join(i.label for i in unused)
        print(f"unused fixtures for {host}: {names}", flush=True)
