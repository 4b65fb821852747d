"""The errors of the contracts package."""

from __future__ import annotations


class ContractError(Exception):
    """A contract, overlay or target that cannot be loaded or used."""


class ContractViolation(AssertionError):
    """A request or response the contract does not allow.

    An `AssertionError`, so a test that sent such a request fails, not errors.
    """
