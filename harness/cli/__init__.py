"""The `cognigy-harness` command line.

Each sub-command lives in its own module with a `register(subparsers)`
function; `COMMANDS` lists them in the order `--help` shows.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_settings import SettingsError

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


#: The project's own loggers: what `-vv` turns to DEBUG.
OWN_LOGGERS = ("harness", "mocks", "contracts", "loadtests")
#: Loggers that print raw request and response headers (credentials) at
#: DEBUG: held at WARNING whatever the verbosity.
HEADER_LOGGERS = ("httpcore", "hpack", "h11")


def configure_logging(verbose: int) -> None:
    """`-v`: INFO everywhere; `-vv`: DEBUG for our loggers only.

    httpx's INFO request line stays; httpcore's DEBUG trace would print an
    upstream's echoed `Authorization` header, so it never gets below WARNING.
    """
    root = logging.WARNING if verbose == 0 else logging.INFO
    logging.basicConfig(level=root, format="%(levelname)s %(name)s: %(message)s")
    own = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(own)
    logging.getLogger("httpx").setLevel(root)
    for name in HEADER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the command, return its exit code.

    Bad input from the environment or a path the user gave ends in one line
    `error: ...` and exit 2; Ctrl-C in one line and exit 130.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        code: int = args.handler(args)
    except (ValidationError, SettingsError) as exc:
        for line in describe_invalid(exc):
            print(f"error: {line}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


def describe_invalid(exc: ValidationError | SettingsError) -> list[str]:
    """One line per invalid setting, without the value given (maybe a secret)."""
    if isinstance(exc, SettingsError):
        # pydantic-settings names the field in quotes; its cause holds the
        # parse error, which may quote the value, so it is not shown.
        field_name = re.search(r'field "(\w+)"', str(exc))
        name = field_name.group(1).upper() if field_name else "?"
        return [f"setting {name}: not valid JSON"]
    from harness.settings import HarnessSettings

    fields = HarnessSettings.model_fields
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        name = str(error["loc"][0]) if error["loc"] else exc.title
        field = fields.get(name)
        secret = field is not None and "SecretStr" in str(field.annotation)
        reason = "invalid value (not shown: a secret)" if secret else error["msg"]
        label = "setting " if field is not None else ""
        lines.append(f"{label}{name.upper()}: {reason}")
    return lines


def describe_os_error(exc: OSError) -> str:
    """`reason: path`, or the reason alone when no path is involved."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        return f"{exc.filename}: {reason}"
    return reason


if __name__ == "__main__":
    sys.exit(main())
