"""Recorded fixtures: the versioned file format and the matching rules.

A fixture file (`fixtures.yaml`) holds interactions. Each has a request with
match rules (method, path, query, a JSON-body subset) and the response to
replay (status, headers, body, optional delay). See the README for the format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1


class RequestMatch(BaseModel):
    """What a request must carry to match: unset parts match anything."""

    model_config = ConfigDict(extra="forbid")

    method: str = "GET"
    path: str = "/"
    query: dict[str, str] | None = None
    # Every key given here must be in the request's JSON body, equal.
    body: Any = None


class RecordedResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: int = 200
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    # A raw body (HTML, text) when `body` is not JSON.
    text: str | None = None
    delay_ms: float = 0


class Interaction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    request: RequestMatch
    response: RecordedResponse
    # Where and when it was recorded: `{at: ISO-8601, from: URL}`.
    recorded: dict[str, str] | None = None


class FixtureFile(BaseModel):
    """A whole fixture file."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    base_url: str | None = None
    interactions: list[Interaction] = Field(default_factory=list)


def load_fixture_file(path: Path | str) -> FixtureFile:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return FixtureFile.model_validate(data)


def body_contains(actual: Any, expected: Any) -> bool:
    """Whether `expected` is a subset of `actual` (objects by key, others equal)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and body_contains(actual[key], value)
            for key, value in expected.items()
        )
    return bool(actual == expected)


@dataclass(frozen=True)
class Miss:
    """Why an interaction did not match a request."""

    interaction: Interaction
    differences: list[str]


def differences(
    match: RequestMatch, method: str, path: str, query: dict[str, str], body: Any
) -> list[str]:
    """What differs between a request and one interaction's match rules."""
    found = []
    if match.method.upper() != method.upper():
        found.append(f"method {method} != {match.method.upper()}")
    if match.path.rstrip("/") != path.rstrip("/"):
        found.append(f"path {path} != {match.path}")
    if match.query is not None and match.query != query:
        found.append(f"query {query} != {match.query}")
    if match.body is not None and not body_contains(body, match.body):
        found.append(f"body does not contain {match.body}")
    return found


def find_match(
    fixtures: FixtureFile, method: str, path: str, query: dict[str, str], body: Any
) -> Interaction | Miss | None:
    """The first matching interaction, or the closest miss (None if no fixtures)."""
    closest: Miss | None = None
    for interaction in fixtures.interactions:
        found = differences(interaction.request, method, path, query, body)
        if not found:
            return interaction
        if closest is None or len(found) < len(closest.differences):
            closest = Miss(interaction, found)
    return closest
