"""The `cognigy-harness` command line.

Each sub-command lives in its own module with a `register(subparsers)`
function; `COMMANDS` lists them in the order `--help` shows.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from harness.cli import (
    audit,
    contract,
    execute,
    gate,
    load,
    mock,
    new,
    record,
    validate,
    webhook,
)

COMMANDS = (execute, validate, mock, record, audit, webhook, gate, new, contract, load)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cognigy-harness",
        description="Build, validate, register, execute and test external REST "
        "integrations of NICE Cognigy bots.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output (-vv: debug)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the command, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
