"""Build the external request from the bot context (`request_mapping`).

Selectors are JMESPath over the bot context. What a selector finds:
- in the body: the value, `null` when it finds nothing;
- in `query` and `headers`: the value as text; nothing found omits the entry;
- in `path`: the value, percent-encoded; nothing found is an error, since the
  URL would silently change.
Objects and arrays are refused in `query`, `path` and `headers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from harness.errors import DefinitionError, ExtractionError
from harness.models import (
    BODYLESS_METHODS,
    BodyTransform,
    IntegrationConfig,
    header_problem,
    surrogate_path,
)
from harness.transform import search


@dataclass(frozen=True)
class RequestSpec:
    """The request to send, before credentials are added."""

    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json_body: Any = None
    has_body: bool = False


def join_path(base: str, path: str) -> str:
    """`base` followed by `path`, with exactly one `/` where they meet.

    Only the joint is touched: `https://h` and `https://h/` give the same
    result, and slashes inside `path` are kept as they are.
    """
    return base.rstrip("/") + (path if path.startswith("/") else "/" + path)


def canonical_url(url: str) -> str:
    """The URL with an empty path written as `/` (what goes on the wire)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=join_path("", parts.path)))


def render(template: Any, context: dict[str, Any], where: str = "body") -> Any:
    """Replace every `{"$input": ...}` in a template with the value it selects."""
    if isinstance(template, list):
        return [
            render(item, context, f"{where}[{index}]")
            for index, item in enumerate(template)
        ]
    if not isinstance(template, dict):
        return template
    if "$input" not in template:
        return {
            key: render(value, context, f"{where}.{key}")
            for key, value in template.items()
        }

    selector = template["$input"]
    selected = search(selector, context, f"request_mapping.{where}.$input")
    if template.get("transform") != BodyTransform.JSON_MERGE.value:
        return selected
    if not isinstance(selected, dict):
        found = "nothing" if selected is None else type(selected).__name__
        raise ExtractionError(
            f"request_mapping.{where}: $input {selector!r} selected {found}, "
            "json_merge needs an object"
        )

    # The template's keys are defaults; the bot's values win.
    rest = {
        key: render(value, context, f"{where}.{key}")
        for key, value in template.items()
        if key not in ("$input", "transform")
    }
    return {**rest, **selected}


def _scalar(value: Any, where: str) -> str:
    """A selected or literal value as the text a URL or header carries."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise ExtractionError(
            f"request_mapping.{where}: selected {type(value).__name__}, "
            "needs a string, a number or a boolean"
        )
    _check_sendable(value, where)
    return str(value)


def _check_sendable(value: Any, where: str) -> None:
    """Text from the bot context must be encodable as UTF-8 to be sent."""
    inner = surrogate_path(value)
    if inner is not None:
        place = f"{where}.{inner}" if inner and inner[0] != "[" else where + inner
        raise ExtractionError(
            f"request_mapping.{place}: the bot context gave text with a lone "
            "surrogate, which cannot be sent as UTF-8"
        )


def _rendered(
    part: str, templates: dict[str, Any], context: dict[str, Any]
) -> dict[str, str | None]:
    """Each name of a query, path or headers mapping with its text, None if absent."""
    values: dict[str, str | None] = {}
    for name, template in templates.items():
        value = render(template, context, f"{part}.{name}")
        values[name] = None if value is None else _scalar(value, f"{part}.{name}")
    return values


def build_request(config: IntegrationConfig, context: dict[str, Any]) -> RequestSpec:
    """Apply the definition's request mapping to a bot context."""
    mapping = config.request_mapping

    url = canonical_url(config.url)
    for name, value in _rendered("path", mapping.path, context).items():
        if value is None:
            raise ExtractionError(
                f"request_mapping.path.{name}: selected nothing from the bot "
                "context; the URL needs a value"
            )
        # Percent-encode everything, `+` and `/` included: one segment each.
        url = url.replace("{" + name + "}", quote(value, safe=""))

    params = {
        name: value
        for name, value in _rendered("query", mapping.query, context).items()
        if value is not None
    }

    headers = dict(config.headers)
    for name, value in _rendered("headers", mapping.headers, context).items():
        if value is None:
            continue
        problem = header_problem(name, value)
        if problem is not None:
            raise DefinitionError(
                f"request_mapping.headers: the bot context gave {problem}"
            )
        headers[name] = value

    has_body = config.method not in BODYLESS_METHODS and mapping.body is not None
    body = render(mapping.body, context) if has_body else None
    _check_sendable(body, "body")
    return RequestSpec(
        method=config.method.value,
        url=url,
        params=params,
        headers=headers,
        json_body=body,
        has_body=has_body,
    )
