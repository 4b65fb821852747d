"""Step 4: extract the answer with JMESPath and normalize it.

Every function here is total over JSON values (object, array, string, number,
boolean, null): it returns a value or raises `ExtractionError` /
`TransformError`, never a bare `TypeError` or `RecursionError`.
"""

from __future__ import annotations

import json
from typing import Any

import jmespath

from harness.errors import ExtractionError, TransformError
from harness.models import NormalizeMode, ResponseMapping

JSON = Any


def search(expression: str, data: JSON, where: str = "extract") -> JSON:
    """Evaluate JMESPath over JSON data; any failure is an `ExtractionError`.

    `null` is returned as None, exactly like a path that does not exist:
    JMESPath does not tell the two apart.
    """
    try:
        return jmespath.search(expression, data)
    except RecursionError:
        raise ExtractionError(
            f"{where} {expression!r} is nested too deeply to evaluate"
        ) from None
    except Exception as exc:
        # jmespath raises its own errors, but also bare TypeErrors (comparing
        # a number with a string), ValueErrors and OverflowErrors from the
        # functions it wraps: an answer from an external API must never crash
        # the pipeline, so every one of them is an extraction error.
        raise ExtractionError(
            f"{where} {expression!r} cannot be evaluated: {type(exc).__name__}: {exc}"
        ) from None


def extract(expression: str | None, data: JSON) -> JSON:
    """Apply a JMESPath expression; finding nothing (null or missing) is an error."""
    if expression is None:
        return data
    result = search(expression, data)
    if result is None:
        raise ExtractionError(
            f"extract {expression!r} found nothing in the response "
            "(the path is missing or null)"
        )
    return result


def flatten(value: JSON) -> dict[str, JSON]:
    """A list becomes `{"items", "count"}`, an object stays, a scalar is wrapped."""
    if isinstance(value, list):
        return {"items": value, "count": len(value)}
    if isinstance(value, dict):
        return value
    return {"value": value}


def normal_key(key: str) -> str:
    """The key `map_keys` makes: lower case, every whitespace character `_`."""
    return "".join("_" if ch.isspace() else ch for ch in key.lower())


def _map_keys(value: JSON, where: str) -> JSON:
    if isinstance(value, list):
        return [
            _map_keys(item, f"{where}[{index}]") for index, item in enumerate(value)
        ]
    if not isinstance(value, dict):
        return value

    result: dict[str, JSON] = {}
    origin: dict[str, str] = {}
    for key, item in value.items():
        new_key = normal_key(str(key))
        if new_key in result:
            raise TransformError(
                f"map_keys: keys {origin[new_key]!r} and {key!r} at {where} "
                f"both become {new_key!r}"
            )
        result[new_key] = _map_keys(item, f"{where}.{new_key}")
        origin[new_key] = str(key)
    return result


def map_keys(value: JSON) -> JSON:
    """Normalise the keys of every object, through nested objects and arrays.

    Two keys of one object that become the same are an error naming both: no
    value is ever silently overwritten. Scalars are returned unchanged.
    """
    try:
        return _map_keys(value, "$")
    except RecursionError:
        raise TransformError("map_keys: the value is nested too deeply") from None


def normalize(value: JSON, mode: NormalizeMode | str) -> JSON:
    """Apply a normalize mode; an unknown mode is an error, never ignored."""
    try:
        mode = NormalizeMode(mode)
    except ValueError:
        known = ", ".join(m.value for m in NormalizeMode)
        raise TransformError(
            f"unknown normalize mode {mode!r} (known: {known})"
        ) from None
    if mode is NormalizeMode.FLATTEN:
        return flatten(value)
    if mode is NormalizeMode.MAP_KEYS:
        return map_keys(value)
    return value


def apply_response_mapping(mapping: ResponseMapping, data: JSON) -> JSON:
    """Extract, then normalize, the parsed body of a response.

    The result must be standard JSON (no NaN, no lone surrogate), since it is
    reported and sent on; checking it here makes a bad answer a failed
    execution instead of a crash while reporting it.
    """
    result = normalize(extract(mapping.extract, data), mapping.normalize)
    payload_size(result)
    return result


def payload_size(data: JSON) -> int:
    """Bytes of the data as compact UTF-8 JSON (bytes, not characters)."""
    try:
        compact = json.dumps(
            data, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return len(compact.encode("utf-8"))
    except (TypeError, ValueError, RecursionError) as exc:
        # UnicodeEncodeError (a lone surrogate) is a ValueError.
        raise TransformError(f"the result is not standard JSON: {exc}") from None
