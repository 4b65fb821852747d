"""Loading contract documents, applying overlays, finding operations.

A contract is an OpenAPI 3.1 document shipped in this package. Schemas are
validated with `jsonschema_rs` (draft 2020-12, the dialect of OpenAPI 3.1),
the same validator schemathesis uses, chosen explicitly in pyproject.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jsonschema_rs
import yaml

from contracts.errors import ContractError

CONTRACTS_DIR = Path(__file__).resolve().parent

#: The contracts this package ships, by name.
CONTRACT_FILES = {
    "integrations-v1": CONTRACTS_DIR / "integrations-v1.openapi.yaml",
    "cognigy-ai-v2": CONTRACTS_DIR / "cognigy-ai-v2.openapi.yaml",
    "account-balance": CONTRACTS_DIR / "external" / "account-balance.openapi.yaml",
    "open-meteo-forecast": CONTRACTS_DIR
    / "external"
    / "open-meteo-forecast.openapi.yml",
    "order-status": CONTRACTS_DIR / "external" / "order-status.openapi.yaml",
}
#: Overlays on vendor documents, by name; each file says why it exists.
OVERLAY_FILES = {
    "open-meteo-forecast": CONTRACTS_DIR
    / "external"
    / "open-meteo-forecast.overlay.yaml",
}
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass(frozen=True)
class Overlay:
    """A documented change to a vendor's schema: which schemas accept null, why."""

    name: str
    contract: str
    reason: str
    nullable: tuple[str, ...]
    path: Path | None = None


@dataclass(frozen=True)
class Operation:
    """One operation of a contract: where it lives and how its path matches."""

    method: str
    path: str
    pointer: str
    spec: dict[str, Any]
    path_item: dict[str, Any]
    pattern: re.Pattern[str]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"


@dataclass
class Contract:
    """An OpenAPI document with its name and the overlays applied to it."""

    name: str
    document: dict[str, Any]
    path: Path | None = None
    overlays: tuple[Overlay, ...] = ()
    _validators: dict[str, Any] = field(default_factory=dict, repr=False)
    _operations: list[Operation] | None = field(default=None, repr=False)

    @property
    def title(self) -> str:
        return str(self.document.get("info", {}).get("title", self.name))

    def operations(self) -> list[Operation]:
        """Every operation of the document (computed once: guards call it a lot)."""
        if self._operations is None:
            self._operations = [
                Operation(
                    method=method,
                    path=path,
                    pointer=f"/paths/{escape(path)}/{method}",
                    spec=item[method],
                    path_item=item,
                    pattern=_path_pattern(path),
                )
                for path, item in self.document.get("paths", {}).items()
                for method in HTTP_METHODS
                if method in item
            ]
        return self._operations

    def find_operation(self, method: str, path: str) -> Operation | None:
        """The operation serving `method path`, or None."""
        for operation in self.operations():
            if operation.method == method.lower() and operation.pattern.match(path):
                return operation
        return None

    def parameters(self, operation: Operation) -> list[tuple[str, dict[str, Any]]]:
        """(pointer, parameter) of an operation's parameters, `$ref`s followed.

        Path-level parameters come first; an operation-level one of the same
        name and location replaces it, as OpenAPI says.
        """
        merged: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        owners = (
            (operation.pointer.rsplit("/", 1)[0], operation.path_item),
            (operation.pointer, operation.spec),
        )
        for base, owner in owners:
            for index, item in enumerate(owner.get("parameters", [])):
                pointer = f"{base}/parameters/{index}"
                if isinstance(item, dict) and "$ref" in item:
                    pointer = item["$ref"][1:]
                parameter = self.deref(item)
                merged[(parameter["name"], parameter["in"])] = (pointer, parameter)
        return list(merged.values())

    def hosts(self) -> set[str]:
        """Hosts named by the document's servers (top level and per path)."""
        servers = list(self.document.get("servers", []))
        for item in self.document.get("paths", {}).values():
            servers += item.get("servers", [])
        return {urlsplit(server["url"]).hostname or "" for server in servers}

    def resolve(self, pointer: str) -> Any:
        """The value at a JSON pointer; `$ref`s on the way are followed."""
        node: Any = self.document
        for token in _tokens(pointer):
            node = self.deref(node)
            node = node[int(token)] if isinstance(node, list) else node[token]
        return self.deref(node)

    def validation_errors(self, pointer: str, instance: Any) -> list[SchemaError]:
        """Every way `instance` breaks the schema at `pointer`."""
        validator = self._validators.get(pointer)
        if validator is None:
            # The whole document is the root, so `#/components/...` refs resolve.
            fragment = quote(pointer, safe="/~")
            root = dict(self.document, **{"$ref": "#" + fragment})
            validator = jsonschema_rs.Draft202012Validator(root)
            self._validators[pointer] = validator
        return [
            SchemaError(
                message=error.message + _closest_alternative(error),
                schema_path="/" + "/".join(escape(str(p)) for p in error.schema_path),
                instance_path="/" + "/".join(str(p) for p in error.instance_path),
            )
            for error in validator.iter_errors(instance)
        ]

    def deref(self, node: Any) -> Any:
        """`node`, or what its `$ref` (local to this document) points at."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 32:
            ref = node["$ref"]
            if not ref.startswith("#"):
                raise ContractError(f"{self.name}: external $ref {ref!r} unsupported")
            node = self.resolve(ref[1:])
            seen += 1
        return node


@dataclass(frozen=True)
class SchemaError:
    """One schema violation: the message and where, in schema and instance."""

    message: str
    schema_path: str
    instance_path: str


def _closest_alternative(error: Any) -> str:
    """For a failed oneOf/anyOf, what the nearest alternative still lacks.

    "not valid under any of the schemas" alone does not tell the reader
    that, say, `currency` is missing; the branch with the fewest errors
    (a branch of the wrong type counting as farthest) usually does.
    """
    branches = getattr(error.kind, "context", None)
    if not branches:
        return ""

    def distance(branch: list[Any]) -> tuple[bool, int]:
        wrong_type = any(
            len(item.schema_path) <= 3 and item.schema_path[-1] == "type"
            for item in branch
        )
        return wrong_type, len(branch)

    closest = min(branches, key=distance)
    return "; closest alternative: " + "; ".join(item.message for item in closest)


def escape(token: str) -> str:
    """A JSON pointer token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def _tokens(pointer: str) -> list[str]:
    if not pointer or pointer == "/":
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    regex = "".join(
        "[^/]+" if part.startswith("{") else re.escape(part) for part in parts
    )
    return re.compile(f"^{regex}/?$")


@cache
def _read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_overlay(name_or_path: str | Path) -> Overlay:
    """An overlay by its name (see `OVERLAY_FILES`) or from a file."""
    path = OVERLAY_FILES.get(str(name_or_path)) or Path(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(OVERLAY_FILES))
        raise ContractError(f"no overlay {str(name_or_path)!r} (known: {known})")
    data = _read_yaml(path)
    try:
        return Overlay(
            name=str(name_or_path),
            contract=data["contract"],
            reason=" ".join(str(data["reason"]).split()),
            nullable=tuple(data.get("nullable", [])),
            path=path,
        )
    except (KeyError, TypeError):
        raise ContractError(
            f"overlay {path} needs `contract`, `reason` and `nullable`"
        ) from None


def load_contract(
    name_or_path: str | Path, overlays: tuple[Overlay, ...] = ()
) -> Contract:
    """A shipped contract by name, or any OpenAPI document by path."""
    path = CONTRACT_FILES.get(str(name_or_path)) or Path(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(CONTRACT_FILES))
        raise ContractError(f"no contract {str(name_or_path)!r} (known: {known})")
    document = copy.deepcopy(_read_yaml(path))
    name = str(name_or_path) if str(name_or_path) in CONTRACT_FILES else path.stem
    for overlay in overlays:
        if overlay.contract != name:
            raise ContractError(
                f"overlay {overlay.name!r} is for {overlay.contract!r}, not {name!r}"
            )
        _apply_nullable(document, overlay)
    return Contract(name=name, document=document, path=path, overlays=overlays)


def contract_for_host(host: str) -> Contract | None:
    """The shipped external contract whose servers name `host`."""
    for name in CONTRACT_FILES:
        contract = load_contract(name)
        if host in contract.hosts():
            return contract
    return None


def _apply_nullable(document: dict[str, Any], overlay: Overlay) -> None:
    for pointer in overlay.nullable:
        matched = list(_walk(document, _tokens(pointer)))
        if not matched:
            raise ContractError(
                f"overlay {overlay.name!r}: {pointer} matches nothing in the document"
            )
        for parent, key in matched:
            parent[key] = {"anyOf": [parent[key], {"type": "null"}]}


def _walk(node: Any, tokens: list[str]) -> Iterator[tuple[Any, str]]:
    """(parent, key) of every node a pointer with `*` wildcards reaches."""
    if not tokens or not isinstance(node, dict):
        return
    head, rest = tokens[0], tokens[1:]
    keys = list(node) if head == "*" else [head] if head in node else []
    for key in keys:
        if rest:
            yield from _walk(node[key], rest)
        else:
            yield node, key
