"""`audit verify`: check an audit log's chain, schema and head file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness.audit import AuditError, verify_log
from harness.settings import HarnessSettings


def register(subparsers: Any) -> None:
    audit = subparsers.add_parser(
        "audit",
        help="check the audit log",
        description="Work with the tamper-evident audit log.",
    )
    commands = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    commands.required = True
    verify = commands.add_parser(
        "verify",
        help="check that no entry was edited, deleted, inserted or reordered",
        description="Check every entry's schema, sequence number, link and hash, "
        "then the head file (FILE.head) for a dropped tail. Exit 0 when intact, "
        "1 naming the first bad line, 2 when the log cannot be checked. A keyed "
        "log needs AUDIT_HMAC_KEY in the environment.",
    )
    verify.add_argument(
        "file",
        type=Path,
        nargs="?",
        metavar="FILE",
        help="the audit log (default: AUDIT_LOG_PATH)",
    )
    verify.add_argument(
        "--no-head",
        action="store_true",
        help="check the chain alone (a copy without its head file)",
    )
    verify.add_argument("--json", action="store_true", help="print one JSON document")
    verify.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    settings = HarnessSettings()
    path: Path = args.file or settings.audit_log_path
    try:
        result = verify_log(
            path, hmac_key=settings.audit_hmac_key, check_head=not args.no_head
        )
    except AuditError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2

    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    elif result.ok:
        print(f"{path}: ok, {result.entries} entries, chain {result.chain or '-'}")
        for note in result.notes:
            print(f"{path}: note: {note}")
    else:
        print(f"{path}:{result.bad_line}: {result.reason}")
    return 0 if result.ok else 1
