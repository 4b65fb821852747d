"""Fixture drift: every recorded response must still match its contract.

Each interaction of a fixture file is looked up in the contract (operation
by method and path, response by status, schema by content type) and its
recorded body validated. A violation names the fixture file, the
interaction, the schema path and the place in the body.

Real APIs drift from their own descriptions. An integration may keep a
documented overlay on the vendor's schema (`contract.yaml` in its directory
names it); what the overlay tolerates is still reported, as `tolerated`,
with the overlay's reason: never a silent exemption.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from contracts.documents import (
    CONTRACT_FILES,
    Contract,
    Operation,
    Overlay,
    contract_for_host,
    escape,
    load_contract,
    load_overlay,
)
from contracts.errors import ContractError
from mocks.fixtures import Interaction, load_fixture_file

#: The optional file of an integration directory naming its contract/overlays.
CONTRACT_CHOICE = "contract.yaml"


@dataclass(frozen=True)
class DriftFinding:
    """One way a recorded response differs from its contract."""

    fixture: Path
    interaction: str
    status: int
    message: str
    schema_path: str = ""
    instance_path: str = ""
    tolerated_by: str = ""

    def __str__(self) -> str:
        where = f" at body{self.instance_path}" if self.instance_path else ""
        schema = f" [schema {self.schema_path}]" if self.schema_path else ""
        text = (
            f"{self.fixture}: interaction {self.interaction!r} "
            f"(status {self.status}){where}: {self.message}{schema}"
        )
        return text + (
            f" (tolerated: {self.tolerated_by})" if self.tolerated_by else ""
        )


@dataclass(frozen=True)
class DriftReport:
    """The drift check of one fixture file against one contract."""

    fixture: Path
    contract: str
    interactions: int
    findings: tuple[DriftFinding, ...]
    tolerated: tuple[DriftFinding, ...] = ()
    overlays: tuple[Overlay, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings


def check_fixture_drift(
    fixture: Path | str,
    contract: Contract | str | None = None,
    overlays: tuple[Overlay, ...] = (),
) -> DriftReport:
    """Validate every recorded response of a fixture file against its contract.

    Args:
        fixture: the fixture file (`fixtures.yaml`).
        contract: the contract or its name; by default the shipped contract
            whose servers name the fixture's `base_url` host.
        overlays: documented overlays on the vendor's schema; what they
            tolerate is reported in `DriftReport.tolerated`.
    """
    path = Path(fixture)
    fixtures = load_fixture_file(path)
    vendor = _choose_contract(path, fixtures.base_url, contract)
    overlaid = None
    if overlays:
        source = vendor.name if vendor.name in CONTRACT_FILES else vendor.path
        overlaid = load_contract(source or vendor.name, overlays)

    findings: list[DriftFinding] = []
    tolerated: list[DriftFinding] = []
    for index, interaction in enumerate(fixtures.interactions):
        name = interaction.name or f"#{index}"
        against_vendor = _check_interaction(vendor, interaction, path, name)
        if overlaid is None:
            findings += against_vendor
            continue
        remaining = _check_interaction(overlaid, interaction, path, name)
        still = {(f.instance_path, f.message) for f in remaining}
        reason = "; ".join(f"overlay {o.name}: {o.reason}" for o in overlays)
        for finding in against_vendor:
            if (finding.instance_path, finding.message) not in still:
                tolerated.append(_tolerate(finding, reason))
        findings += remaining
    return DriftReport(
        fixture=path,
        contract=vendor.name,
        interactions=len(fixtures.interactions),
        findings=tuple(findings),
        tolerated=tuple(tolerated),
        overlays=overlays,
    )


def check_integration_drift(directory: Path | str) -> DriftReport:
    """The drift check of an integration directory's `fixtures.yaml`.

    The directory's optional `contract.yaml` names the contract
    (`contract: <name or path>`) and the overlays it keeps (`overlays: [...]`).
    """
    root = Path(directory)
    choice = read_contract_choice(root)
    overlays = tuple(load_overlay(name) for name in choice.get("overlays", []))
    return check_fixture_drift(
        root / "fixtures.yaml", choice.get("contract"), overlays=overlays
    )


def read_contract_choice(directory: Path) -> dict[str, Any]:
    """An integration's `contract.yaml` (`contract`, `overlays`), or `{}`."""
    path = directory / CONTRACT_CHOICE
    if not path.is_file():
        return {}
    choice = yaml.safe_load(path.read_text("utf-8")) or {}
    if not isinstance(choice, dict) or not set(choice) <= {"contract", "overlays"}:
        raise ContractError(f"{path}: expected the keys `contract` and `overlays`")
    return choice


def check_all_fixtures(integrations: Path | str) -> list[DriftReport]:
    """Drift reports of every integration under a folder that has fixtures."""
    return [
        check_integration_drift(fixture.parent)
        for fixture in sorted(Path(integrations).glob("*/fixtures.yaml"))
    ]


def _choose_contract(
    path: Path, base_url: str | None, contract: Contract | str | None
) -> Contract:
    if isinstance(contract, Contract):
        return contract
    if contract is not None:
        return load_contract(contract)
    host = urlsplit(base_url or "").hostname or ""
    found = contract_for_host(host)
    if found is None:
        raise ContractError(
            f"{path}: no contract names the host {host or '(no base_url)'!r}; "
            f"name one in {CONTRACT_CHOICE}"
        )
    return found


def _check_interaction(
    contract: Contract, interaction: Interaction, path: Path, name: str
) -> list[DriftFinding]:
    request, response = interaction.request, interaction.response

    def finding(message: str, schema_path: str = "", at: str = "") -> DriftFinding:
        return DriftFinding(path, name, response.status, message, schema_path, at)

    operation = contract.find_operation(request.method, request.path)
    if operation is None:
        label = f"{request.method.upper()} {request.path}"
        return [finding(f"{contract.name} declares no operation {label}")]
    pointer, declared = _response_pointer(contract, operation, response.status)
    if pointer is None:
        return [finding(f"status {response.status} is not declared", declared)]

    spec = contract.resolve(pointer)
    content: dict[str, Any] = spec.get("content", {}) if isinstance(spec, dict) else {}
    if not content or (response.body is None and response.text is None):
        return []
    headers = {k.lower(): v for k, v in response.headers.items()}
    media = headers.get("content-type", "application/json").split(";")[0].strip()
    if media not in content:
        allowed = ", ".join(content)
        return [finding(f"content type {media} is not one of: {allowed}", pointer)]
    if response.text is not None and "json" in media:
        return [finding("the recorded body is text, the contract says JSON", pointer)]
    schema_pointer = f"{pointer}/content/{escape(media)}/schema"
    return [
        finding(error.message, error.schema_path, error.instance_path.rstrip("/"))
        for error in contract.validation_errors(schema_pointer, response.body)
    ]


def _response_pointer(
    contract: Contract, operation: Operation, status: int
) -> tuple[str | None, str]:
    """The pointer of the response declared for `status` (following a $ref)."""
    responses = operation.spec.get("responses", {})
    base = f"{operation.pointer}/responses"
    for key in (str(status), f"{status // 100}XX", "default"):
        if key in responses:
            ref = (
                responses[key].get("$ref") if isinstance(responses[key], dict) else None
            )
            return (ref[1:] if ref else f"{base}/{key}"), base
    return None, base


def _tolerate(finding: DriftFinding, reason: str) -> DriftFinding:
    return DriftFinding(
        finding.fixture,
        finding.interaction,
        finding.status,
        finding.message,
        finding.schema_path,
        finding.instance_path,
        tolerated_by=reason,
    )
