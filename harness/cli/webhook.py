"""`webhook flush`: deliver the events waiting in the outbox now."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from harness.executor import pooled_client
from harness.settings import HarnessSettings
from harness.webhook import FlushResult, Outbox, WebhookReporter, redacted


def register(subparsers: Any) -> None:
    webhook = subparsers.add_parser(
        "webhook",
        help="deliver waiting webhook events",
        description="Work with the webhook outbox, where events the webhook did "
        "not take wait for redelivery.",
    )
    commands = webhook.add_subparsers(dest="webhook_command", metavar="ACTION")
    commands.required = True
    flush = commands.add_parser(
        "flush",
        help="redeliver every waiting event now, ignoring the backoff",
        description="Redeliver the events in the outbox to WEBHOOK_URL, oldest "
        "first, each with its original event id as Idempotency-Key, until one "
        "fails. Exit 0 when the outbox is empty, 1 when events still wait, "
        "2 when WEBHOOK_URL is not set or the outbox is busy.",
    )
    where = flush.add_mutually_exclusive_group()
    where.add_argument(
        "--outbox",
        type=Path,
        metavar="FILE",
        help="the outbox (default: WEBHOOK_OUTBOX_PATH, or next to the audit log)",
    )
    where.add_argument(
        "--audit-log",
        type=Path,
        metavar="FILE",
        help="use the outbox next to this audit log",
    )
    flush.add_argument("--json", action="store_true", help="print one JSON document")
    flush.set_defaults(handler=run_flush)


def run_flush(args: argparse.Namespace) -> int:
    settings = HarnessSettings()
    if args.audit_log is not None:
        settings = settings.model_copy(update={"audit_log_path": args.audit_log})
    path: Path = args.outbox or settings.outbox_path
    if settings.webhook_url is None:
        print("error: WEBHOOK_URL is not set: nowhere to deliver", file=sys.stderr)
        return 2

    outbox = Outbox(path)
    waiting = len(outbox)
    url = str(settings.webhook_url)
    print(f"{path}: {waiting} events waiting for {redacted(url)}", file=sys.stderr)
    result = asyncio.run(_flush(settings, url, outbox))

    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"delivered {result.delivered}, still waiting {result.pending}")
        for error in result.errors:
            print(f"stopped at: {error}")
    if result.busy:
        print("error: another process is flushing this outbox", file=sys.stderr)
        return 2
    return 0 if result.pending == 0 else 1


async def _flush(settings: HarnessSettings, url: str, outbox: Outbox) -> FlushResult:
    async with pooled_client(settings) as client:
        reporter = WebhookReporter(
            client, url, outbox=outbox, signing_secret=settings.webhook_signing_secret
        )
        return await reporter.flush(force=True)
