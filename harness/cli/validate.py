"""`cognigy-harness validate INTEGRATION...`: check definitions, no secret needed."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.errors import DefinitionError
from harness.loader import InvalidIntegration, definition_path, load_integration


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check integration definitions (no secret needed)",
        description="Validate integration directories or integration.yaml files "
        'against the rules in the README ("Validation rules"). Each refusal '
        "prints FILE: FIELD: REASON. Exit 0 when every one is valid, 1 otherwise.",
    )
    parser.add_argument("integrations", nargs="+", type=Path, metavar="INTEGRATION")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.integrations:
        file = definition_path(path)
        try:
            integration = load_integration(path)
        except InvalidIntegration as exc:
            failed += 1
            for problem in exc.problems:
                print(f"{problem.file}: {problem.field}: {problem.reason}")
            continue
        except DefinitionError as exc:
            failed += 1
            print(exc.message if str(file) in exc.message else f"{file}: {exc.message}")
            continue
        samples = len(integration.samples)
        noun = "sample" if samples == 1 else "samples"
        print(f"{file}: ok ({integration.definition.name}, {samples} {noun})")

    total = len(args.integrations)
    if total > 1 or failed:
        print(f"{total - failed} of {total} valid")
    return 1 if failed else 0
