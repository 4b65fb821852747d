"""`cognigy-harness new NAME`: scaffold an integration that passes the gate."""

from __future__ import annotations

import argparse
import re
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from harness.audit import utc_now

#: Names the platform accepts (3..100 characters) that also make a path segment.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{2,99}$")
TEMPLATE_SUFFIX = ".tmpl"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "new",
        help="scaffold an integration directory",
        description="Create an integration directory (definition, fixtures, a "
        "sample with its golden result, fault scenarios) that passes "
        "`cognigy-harness gate` as it is; then adapt it to the real service.",
    )
    parser.add_argument(
        "target",
        type=Path,
        metavar="[DIR/]NAME",
        help="the new directory; its last part is the integration's name "
        "(lower case letters, digits, - and _, 3 to 100 characters)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    target: Path = args.target
    name = target.name
    if not NAME_PATTERN.match(name):
        print(
            f"error: {name!r} is not a valid integration name: use 3 to 100 lower "
            "case letters, digits, - or _, starting with a letter",
            file=sys.stderr,
        )
        return 2
    if target.exists():
        print(f"error: {target} already exists; nothing was written", file=sys.stderr)
        return 2

    values = {"name": name, "created_at": utc_now()}
    written = scaffold(template_root(), target, values)
    for path in written:
        print(f"created {path}")
    print(f"next: cognigy-harness gate {target}")
    return 0


def template_root() -> Traversable:
    """The template shipped inside the package, so an installed copy finds it."""
    return resources.files("harness") / "templates" / "integration"


def scaffold(template: Traversable, target: Path, values: dict[str, str]) -> list[Path]:
    """Copy the template's `.tmpl` files to `target`, filling `{{name}}` fields."""
    written = []
    for source, relative in _walk(template, Path()):
        destination = target / relative.with_name(
            relative.name.removesuffix(TEMPLATE_SUFFIX)
        )
        text = source.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(text, encoding="utf-8")
        written.append(destination)
    return written


def _walk(folder: Traversable, relative: Path) -> list[tuple[Traversable, Path]]:
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found.extend(_walk(entry, relative / entry.name))
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            found.append((entry, relative / entry.name))
    return found
