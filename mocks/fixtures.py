"""Recorded fixtures: the versioned file format and the matching rules.

A fixture file (`fixtures.yaml`, or `.json`) holds interactions. Each has a
request with match rules (method, path, query, selected headers, a JSON-body
subset or form fields, and named custom matchers) and the response to replay
(status, headers, body, optional delay), plus where and when it was
recorded. The README documents the format.

A value `***` (what the scrubber leaves of a secret) matches any value, so a
recorded request whose token was scrubbed still matches a live one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from mocks.files import load_model_file
from mocks.scrub import MASK

FORMAT_VERSION = 1


class FixtureError(ValueError):
    """A fixture file that cannot be read, or names an unknown matcher."""


class RequestMatch(BaseModel):
    """What a request must carry to match: unset parts match anything."""

    model_config = ConfigDict(extra="forbid")

    method: str = "GET"
    path: str = "/"
    # Exact match when given (a `***` value matches any value).
    query: dict[str, str] | None = None
    # Each header given must be present with this value (names any case).
    headers: dict[str, str] | None = None
    # Every key given here must be in the request's JSON body, equal.
    body: Any = None
    # Every field given must be in the request's form-encoded body, equal.
    form: dict[str, str] | None = None
    # Names of custom matchers (see `register_matcher`), all must agree.
    matchers: list[str] = Field(default_factory=list)


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

    @property
    def label(self) -> str:
        """The name, or the method and path when it has none."""
        return self.name or f"{self.request.method.upper()} {self.request.path}"


class FixtureFile(BaseModel):
    """A whole fixture file."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    base_url: str | None = None
    interactions: list[Interaction] = Field(default_factory=list)


def load_fixture_file(path: Path | str) -> FixtureFile:
    """Read a YAML or JSON fixture file, with errors that name the field."""
    return load_model_file(path, FixtureFile, FixtureError, "fixture file")


def dump_fixture_file(fixtures: FixtureFile, path: Path | str) -> Path:
    """Write a fixture file: JSON for a `.json` name, YAML otherwise."""
    target = Path(path)
    data = fixtures.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    for interaction in data["interactions"]:
        if not interaction["request"]["matchers"]:
            del interaction["request"]["matchers"]
    if target.suffix == ".json":
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    else:
        header = "# Recorded interactions (format: see the README, Fixture files).\n"
        text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


@dataclass(frozen=True)
class RequestInfo:
    """An incoming request as the matchers see it (body decoded)."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    form: dict[str, str] | None = None

    def describe(self) -> str:
        described = f"{self.method} {self.path}"
        if self.query:
            described += f" query={self.query}"
        if self.body is not None:
            described += f" body={json.dumps(self.body, default=str)[:200]}"
        return described


#: A custom matcher: None when the request matches, else what differs.
Matcher = Callable[[RequestInfo, RequestMatch], "str | None"]

_MATCHERS: dict[str, Matcher] = {}


def register_matcher(name: str) -> Callable[[Matcher], Matcher]:
    """Register a custom matcher a fixture can name in `request.matchers`.

    Example:
        @register_matcher("has-session")
        def has_session(request, match):
            return None if "x-session" in request.headers else "no x-session"
    """

    def add(matcher: Matcher) -> Matcher:
        _MATCHERS[name] = matcher
        return matcher

    return add


def _matches_value(actual: Any, expected: Any) -> bool:
    return expected == MASK or bool(actual == expected)


def body_differences(actual: Any, expected: Any, where: str = "body") -> list[str]:
    """Where `expected` is not a subset of `actual` (objects by key)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where} is {type(actual).__name__}, not an object"]
        found: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{where}.{key} is missing")
            else:
                found += body_differences(actual[key], value, f"{where}.{key}")
        return found
    if _matches_value(actual, expected):
        return []
    return [f"{where} is {json.dumps(actual, default=str)}, not {json.dumps(expected)}"]


def body_contains(actual: Any, expected: Any) -> bool:
    """Whether `expected` is a subset of `actual` (objects by key, others equal)."""
    return not body_differences(actual, expected)


def _mapping_differences(
    what: str, actual: Mapping[str, str], expected: Mapping[str, str], exact: bool
) -> list[str]:
    found = [
        f"{what} {name}={actual.get(name)!r}, not {value!r}"
        for name, value in expected.items()
        if name not in actual or not _matches_value(actual[name], value)
    ]
    if exact:
        unexpected = [name for name in actual if name not in expected]
        found += [f"{what} {name} is not expected" for name in unexpected]
    return found


@dataclass(frozen=True)
class Miss:
    """Why an interaction did not match a request."""

    interaction: Interaction
    differences: list[str]


def differences(
    match: RequestMatch, request: RequestInfo, extra: Iterable[Matcher] = ()
) -> list[str]:
    """What differs between a request and one interaction's match rules."""
    found = []
    if match.method.upper() != request.method.upper():
        found.append(f"method {request.method} != {match.method.upper()}")
    if match.path.rstrip("/") != request.path.rstrip("/"):
        found.append(f"path {request.path} != {match.path}")
    if match.query is not None:
        found += _mapping_differences("query", request.query, match.query, exact=True)
    if match.headers is not None:
        wanted = {k.lower(): v for k, v in match.headers.items()}
        found += _mapping_differences("header", request.headers, wanted, exact=False)
    if match.body is not None:
        found += body_differences(request.body, match.body)
    if match.form is not None:
        found += _mapping_differences("form", request.form or {}, match.form, False)
    for matcher in [*_named_matchers(match.matchers), *extra]:
        difference = matcher(request, match)
        if difference is not None:
            found.append(difference)
    return found


def _named_matchers(names: list[str]) -> list[Matcher]:
    unknown = [name for name in names if name not in _MATCHERS]
    if unknown:
        raise FixtureError(
            f"unknown matcher(s) {', '.join(unknown)}; registered: "
            f"{', '.join(sorted(_MATCHERS)) or 'none'} (see register_matcher)"
        )
    return [_MATCHERS[name] for name in names]


def find_match(
    fixtures: FixtureFile, request: RequestInfo, extra: Iterable[Matcher] = ()
) -> Interaction | Miss | None:
    """The first matching interaction, or the closest miss (None if no fixtures).

    The closest miss is the one with the fewest differences; a same-path
    interaction wins a tie, as it is the one the author most likely meant.
    """
    matchers = list(extra)
    closest: tuple[int, int] | None = None
    best: Miss | None = None
    for interaction in fixtures.interactions:
        found = differences(interaction.request, request, matchers)
        if not found:
            return interaction
        other_path = interaction.request.path.rstrip("/") != request.path.rstrip("/")
        rank = (len(found), int(other_path))
        if closest is None or rank < closest:
            closest, best = rank, Miss(interaction, found)
    return best


def unmatched_message(request: RequestInfo, miss: Miss | None) -> str:
    """The near-miss message: the request, the closest fixture, what differs."""
    message = f"no fixture matches {request.describe()}"
    if miss is None:
        return message + "; the fixture file has no interactions"
    differs = "; ".join(miss.differences)
    closest = miss.interaction.label
    return message + f"; closest is {closest!r}, which differs: {differs}"
