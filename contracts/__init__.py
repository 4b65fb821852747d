"""API contracts (OpenAPI documents, JSON Schemas) and the checks that use them.

The documents ship as package data (`CONTRACTS_DIR`); `load_contract` reads
one by name. `guard_environment` holds every request a mock receives to its
contract (consumer side), `check_fixture_drift` holds recorded fixtures to
theirs, and `run_contract_checks` runs schemathesis against mocks or live
servers (provider side). Each returns a typed result.
"""

from contracts.documents import (
    CONTRACT_FILES,
    CONTRACTS_DIR,
    Contract,
    Overlay,
    load_contract,
    load_overlay,
)
from contracts.errors import ContractError, ContractViolation
from contracts.guard import (
    ContractGuard,
    EnvironmentGuards,
    RequestViolation,
    check_request,
    guard,
    guard_environment,
)

__all__ = [
    "CONTRACTS_DIR",
    "CONTRACT_FILES",
    "Contract",
    "ContractError",
    "ContractGuard",
    "ContractViolation",
    "EnvironmentGuards",
    "Overlay",
    "RequestViolation",
    "check_request",
    "guard",
    "guard_environment",
    "load_contract",
    "load_overlay",
]
