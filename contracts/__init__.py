"""API contracts (OpenAPI documents, JSON Schemas) shipped as package data."""

from pathlib import Path

#: The folder holding the contract documents.
CONTRACTS_DIR = Path(__file__).resolve().parent

__all__ = ["CONTRACTS_DIR"]
