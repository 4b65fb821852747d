"""Scrubbing: secrets and customer data removed before anything is kept.

The recorder scrubs every interaction before it reaches a fixture file, and
the journals of the mocks scrub what they keep. By default a `Scrubber`
masks the credential headers, the `client_secret` and `password` form
fields, token fields in JSON bodies and a few well-known secret query
parameters; extra headers, query parameters and JSON paths (customer e-mail,
phone) are configurable.

Masking one field is not enough on its own: a server may echo a token in a
body or an error message. So every value masked is also remembered, and a
last pass replaces it wherever else it appears in the interaction.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

#: What every scrubbed value becomes. A fixture's match rule treats it as a
#: wildcard, so a recorded request with a scrubbed value still matches.
MASK = "***"

SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"}
)
SECRET_FORM_FIELDS = frozenset({"client_secret", "password"})
SECRET_JSON_KEYS = frozenset({"access_token", "refresh_token", "id_token"})
SECRET_QUERY_PARAMS = frozenset(
    {"access_token", "api_key", "apikey", "client_secret", "password", "token"}
)

#: Shorter remembered values are not replaced elsewhere: a secret of two
#: characters would match everywhere and tell nothing.
_MIN_ECHO_LENGTH = 6

_SEGMENT = re.compile(r"^(?P<key>[^\[\]]*)(?P<index>(\[(\*|\d+)\])*)$")


class ScrubPathError(ValueError):
    """A configured JSON path that does not parse."""


def parse_json_path(path: str) -> list[str | int]:
    """`$.customer.email`, `items[*].phone` or `a.*.b` as a list of steps.

    A step is a key, an index, or `*` for every key or item.
    """
    text = path.strip().removeprefix("$").removeprefix(".")
    if not text:
        raise ScrubPathError(f"JSON path {path!r} is empty")
    steps: list[str | int] = []
    for segment in text.split("."):
        found = _SEGMENT.match(segment)
        if found is None or (not found["key"] and not found["index"]):
            raise ScrubPathError(f"JSON path {path!r}: bad segment {segment!r}")
        if found["key"]:
            steps.append(found["key"])
        for index in re.findall(r"\[(\*|\d+)\]", found["index"]):
            steps.append("*" if index == "*" else int(index))
    return steps


@dataclass
class Scrubbed:
    """The secret values one scrubbing pass removed, to hunt for echoes."""

    values: set[str] = field(default_factory=set)

    def remember(self, value: str) -> None:
        value = value.strip()
        if len(value) >= _MIN_ECHO_LENGTH and value != MASK:
            self.values.add(value)

    def replace_echoes(self, value: Any) -> Any:
        """`value` with every remembered secret replaced, at any depth."""
        if isinstance(value, str):
            for secret in sorted(self.values, key=len, reverse=True):
                value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {
                self.replace_echoes(k): self.replace_echoes(v) for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.replace_echoes(item) for item in value]
        return value


@dataclass(frozen=True)
class Scrubber:
    """Which headers, form fields, query parameters and JSON values to mask.

    Names are case-insensitive. `json_keys` are masked at any depth of a JSON
    body; `json_paths` name one place each (see `parse_json_path`).
    """

    headers: frozenset[str] = SECRET_HEADERS
    form_fields: frozenset[str] = SECRET_FORM_FIELDS
    json_keys: frozenset[str] = SECRET_JSON_KEYS
    query_params: frozenset[str] = SECRET_QUERY_PARAMS
    json_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Fail when configured, not halfway through a recording.
        for path in self.json_paths:
            parse_json_path(path)

    def extended(
        self,
        *,
        headers: Iterable[str] = (),
        query_params: Iterable[str] = (),
        json_paths: Iterable[str] = (),
        form_fields: Iterable[str] = (),
        json_keys: Iterable[str] = (),
    ) -> Scrubber:
        """This scrubber plus more names to mask (the defaults stay)."""
        return replace(
            self,
            headers=self.headers | {h.lower() for h in headers},
            query_params=self.query_params | {q.lower() for q in query_params},
            json_paths=self.json_paths + tuple(json_paths),
            form_fields=self.form_fields | {f.lower() for f in form_fields},
            json_keys=self.json_keys | {k.lower() for k in json_keys},
        )

    def scrub_headers(
        self, headers: Mapping[str, str] | Iterable[tuple[str, str]], seen: Scrubbed
    ) -> dict[str, str]:
        """Header names lower-cased, secret values masked and remembered."""
        items = headers.items() if isinstance(headers, Mapping) else headers
        scrubbed: dict[str, str] = {}
        for name, value in items:
            lowered = name.lower()
            if lowered in self.headers:
                _remember_header(lowered, value, seen)
                value = MASK
            scrubbed[lowered] = value
        return scrubbed

    def scrub_query(self, query: Mapping[str, str], seen: Scrubbed) -> dict[str, str]:
        return {
            name: self._masked(name, value, self.query_params, seen)
            for name, value in query.items()
        }

    def scrub_form(self, text: str, seen: Scrubbed) -> str:
        """A form-encoded body with its secret fields masked."""
        fields = parse_qsl(text, keep_blank_values=True)
        masked = [
            (name, self._masked(name, value, self.form_fields, seen))
            for name, value in fields
        ]
        return urlencode(masked, safe="*")

    def scrub_json(self, value: Any, seen: Scrubbed) -> Any:
        """A JSON value with secret keys (any depth) and configured paths masked."""
        value = self._mask_keys(value, seen)
        for path in self.json_paths:
            value = _mask_path(value, parse_json_path(path), seen)
        return value

    def scrub_body(self, body: Any, content_type: str, seen: Scrubbed) -> Any:
        """A decoded body (JSON value, text or None), scrubbed by its type."""
        if isinstance(body, str) and "x-www-form-urlencoded" in content_type:
            return self.scrub_form(body, seen)
        if isinstance(body, dict | list):
            return self.scrub_json(body, seen)
        return body

    def _masked(
        self, name: str, value: str, secret: frozenset[str], seen: Scrubbed
    ) -> str:
        if name.lower() not in secret:
            return value
        seen.remember(value)
        return MASK

    def _mask_keys(self, value: Any, seen: Scrubbed) -> Any:
        if isinstance(value, dict):
            result = {}
            for key, item in value.items():
                if str(key).lower() in self.json_keys and item is not None:
                    _remember_any(item, seen)
                    result[key] = MASK
                else:
                    result[key] = self._mask_keys(item, seen)
            return result
        if isinstance(value, list):
            return [self._mask_keys(item, seen) for item in value]
        return value


def _mask_path(value: Any, steps: list[str | int], seen: Scrubbed) -> Any:
    """`value` with the place `steps` names masked (absent places are fine)."""
    if not steps:
        _remember_any(value, seen)
        return MASK
    step, rest = steps[0], steps[1:]
    if isinstance(value, dict):
        keys = list(value) if step == "*" else [step] if step in value else []
        return {
            k: (_mask_path(v, rest, seen) if k in keys else v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _mask_path(item, rest, seen) if step in ("*", index) else item
            for index, item in enumerate(value)
        ]
    return value


def _remember_any(value: Any, seen: Scrubbed) -> None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        seen.remember(str(value))


def _remember_header(name: str, value: str, seen: Scrubbed) -> None:
    """Remember a header's secret and the parts it could be echoed as."""
    seen.remember(value)
    scheme, _, credential = value.partition(" ")
    if credential and scheme.lower() in ("bearer", "basic", "token"):
        seen.remember(credential)
        if scheme.lower() == "basic":
            _remember_basic(credential, seen)
    if name in ("cookie", "set-cookie"):
        pairs = value.split(";") if name == "cookie" else value.split(";")[:1]
        for pair in pairs:
            seen.remember(pair.partition("=")[2])


def _remember_basic(credential: str, seen: Scrubbed) -> None:
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except ValueError:
        return
    seen.remember(decoded.partition(":")[2])
