"""`cognigy-harness record`: run integrations against the real API, keep fixtures.

Each payload runs through the whole pipeline on the embedded platform and
webhook mocks, while the external service is a `mocks.record.Recorder`: what
the record mode lets through goes to the real service (or `--upstream`), and
the answers are written, scrubbed, to the integration's `fixtures.yaml`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import DefinitionError
from harness.loader import IntegrationDir, load_integration
from harness.pipeline import ExecutionReport, Pipeline, bot_context
from harness.settings import HarnessSettings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "record",
        help="record an integration's fixtures from the real external API",
        description="Run an integration's sample payloads (or --payload files) "
        "with the external service passed through to the real API, and write "
        "what it answered, every secret scrubbed, to the integration's "
        "fixtures.yaml. The platform and webhook stay mocked.",
    )
    parser.add_argument("integration", type=Path, metavar="INTEGRATION")
    add_record_mode(parser, "--mode", "new_episodes")
    parser.add_argument(
        "--payload",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a bot payload (JSON) to run; repeatable (default: every sample)",
    )
    parser.add_argument(
        "--upstream",
        metavar="URL",
        help="record from this base URL instead of the definition's host",
    )
    parser.add_argument("--scrub-header", action="append", default=[], metavar="NAME")
    parser.add_argument("--scrub-query", action="append", default=[], metavar="NAME")
    parser.add_argument(
        "--scrub-json-path",
        action="append",
        default=[],
        metavar="PATH",
        help="e.g. data.customer.email or items[*].phone (repeatable; "
        "credential headers, tokens and secret form fields are always scrubbed)",
    )
    parser.add_argument(
        "--audit-log", type=Path, metavar="FILE", help="the audit log to append to"
    )
    parser.set_defaults(handler=run_record)


#: The record modes (`mocks.record.RecordMode`), without importing the mocks.
RECORD_MODES = ("none", "once", "new_episodes", "all")


def add_record_mode(parser: argparse.ArgumentParser, flag: str, default: str) -> None:
    """The record-mode option, as `record` and `mock serve` both take it."""
    parser.add_argument(
        flag,
        choices=RECORD_MODES,
        default=default,
        help=f"none: replay only (near misses shown); once: record only if "
        f"there is no fixture file; new_episodes: record what the file lacks; "
        f"all: re-record everything (default: {default})",
    )


def run_record(args: argparse.Namespace) -> int:
    from mocks.scrub import Scrubber, ScrubPathError

    try:
        _check_upstream(args.upstream)
        integration = load_integration(args.integration)
        payloads = _payloads(args, integration)
        scrubber = Scrubber().extended(
            headers=args.scrub_header,
            query_params=args.scrub_query,
            json_paths=args.scrub_json_path,
        )
    except DefinitionError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except (OSError, ValueError, ScrubPathError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not payloads:
        print(
            f"error: {args.integration} has no samples; give --payload", file=sys.stderr
        )
        return 2
    return asyncio.run(_record(args, integration, payloads, scrubber))


def _check_upstream(upstream: str | None) -> None:
    """An --upstream is a base URL: refused up front, not once per request."""
    if upstream is None:
        return
    parts = urlsplit(upstream)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"--upstream {upstream!r} is not a base URL like https://api.example.com"
        )


def _payloads(
    args: argparse.Namespace, integration: IntegrationDir
) -> list[tuple[str, Any]]:
    if args.payload:
        return [(str(path), _read_payload(path)) for path in args.payload]
    return [(sample.name, sample.payload) for sample in integration.samples]


def _read_payload(path: Path) -> Any:
    """A --payload file's JSON; its errors name the file (ValueError)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"--payload {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"--payload {path}: not valid JSON ({exc})") from None


async def _record(
    args: argparse.Namespace,
    integration: IntegrationDir,
    payloads: list[tuple[str, Any]],
    scrubber: Any,
) -> int:
    from mocks.environment import MockEnvironment
    from mocks.record import RecordingError

    settings = HarnessSettings()
    if args.audit_log is not None:
        settings = settings.model_copy(update={"audit_log_path": args.audit_log})
    host = urlsplit(integration.definition.config.url).hostname or ""
    upstreams = {host: args.upstream} if args.upstream else None
    environment = MockEnvironment(
        [integration],
        settings,
        record_mode=args.mode,
        upstreams=upstreams,
        scrubber=scrubber,
    )
    recorder = environment.recorders[0] if environment.recorders else None
    print(
        f"recording {host} from {recorder.upstream if recorder else 'nowhere'} "
        f"(mode {args.mode})",
        flush=True,
    )

    with environment.in_process():
        async with Pipeline(environment.settings) as pipeline:
            for name, payload in payloads:
                context = bot_context(payload)
                try:
                    report = await pipeline.run(integration.definition, context)
                except RecordingError:
                    # Listed with the other errors in the summary.
                    print(f"  {name}: not recorded", flush=True)
                    continue
                print(f"  {name}: {_outcome(report)}", flush=True)
    await environment.aclose()
    return _summary(environment)


def _outcome(report: ExecutionReport) -> str:
    if report.error is None:
        return f"{report.status}"
    return f"{report.status} ({report.error.kind}: {report.error.message})"


def _summary(environment: Any) -> int:
    """What was written, what went wrong, and what no request used."""
    for recorder in environment.recorders:
        path = recorder.save()
        if path is None:
            continue
        count = len(recorder.recorded)
        print(f"wrote {count} new interaction(s) to {path}", flush=True)
        if recorder.dropped:
            names = ", ".join(i.label for i in recorder.dropped)
            print(
                f"replaced {len(recorder.dropped)} existing interaction(s) "
                f"(mode all re-records everything): {names}",
                flush=True,
            )
    # One line per distinct error: each payload may hit the same one.
    errors = list(dict.fromkeys(e for r in environment.recorders for e in r.errors))
    misses = [m for mock in environment.externals.values() for m in mock.misses]
    for message in errors + misses:
        print(f"error: {message}", file=sys.stderr)
    for host, unused in environment.unused_fixtures().items():
        names = ", ".join(i.label for i in unused)
        print(f"unused fixtures for {host}: {names}", flush=True)
    return 1 if errors or misses else 0
