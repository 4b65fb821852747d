"""Step 4: extract the answer with JMESPath and normalize it."""

from __future__ import annotations

import json
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from harness.errors import ExtractionError, TransformError
from harness.models import NormalizeMode, ResponseMapping

JSON = Any


def extract(expression: str | None, data: JSON) -> JSON:
    """Apply a JMESPath expression; finding nothing (null) is an error."""
    if expression is None:
        return data
    try:
        result = jmespath.search(expression, data)
    except JMESPathError as exc:
        raise ExtractionError(f"extract {expression!r} failed: {exc}") from None
    except (TypeError, ValueError, RecursionError) as exc:
        # The jmespath package raises bare TypeErrors, e.g. comparing a number
        # with a string; they are extraction errors, not crashes.
        raise ExtractionError(
            f"extract {expression!r} cannot be evaluated: {exc}"
        ) from None
    if result is None:
        raise ExtractionError(f"extract {expression!r} found nothing in the response")
    return result


def flatten(value: JSON) -> dict[str, JSON]:
    """A list becomes `{"items", "count"}`, an object stays, a scalar is wrapped."""
    if isinstance(value, list):
        return {"items": value, "count": len(value)}
    if isinstance(value, dict):
        return value
    return {"value": value}


def map_keys(value: JSON) -> JSON:
    """Lower-case keys and turn spaces into `_`, recursively.

    Two keys that become the same are an error naming both: no value is ever
    silently overwritten.
    """
    if isinstance(value, list):
        return [map_keys(item) for item in value]
    if not isinstance(value, dict):
        return value
    result: dict[str, JSON] = {}
    origin: dict[str, str] = {}
    for key, item in value.items():
        new_key = str(key).lower().replace(" ", "_")
        if new_key in result:
            raise TransformError(
                f"map_keys: keys {origin[new_key]!r} and {key!r} "
                f"both become {new_key!r}"
            )
        result[new_key] = map_keys(item)
        origin[new_key] = str(key)
    return result


def normalize(value: JSON, mode: NormalizeMode) -> JSON:
    """Apply a normalize mode."""
    if mode is NormalizeMode.FLATTEN:
        return flatten(value)
    if mode is NormalizeMode.MAP_KEYS:
        return map_keys(value)
    return value


def apply_response_mapping(mapping: ResponseMapping, data: JSON) -> JSON:
    """Extract, then normalize, the parsed body of a response."""
    return normalize(extract(mapping.extract, data), mapping.normalize)


def payload_size(data: JSON) -> int:
    """Bytes of the data as compact UTF-8 JSON (bytes, not characters)."""
    compact = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return len(compact.encode("utf-8"))
