"""Build the external request from the bot context (`request_mapping`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jmespath

from harness.errors import DefinitionError
from harness.models import BODYLESS_METHODS, BodyTransform, IntegrationConfig


@dataclass(frozen=True)
class RequestSpec:
    """The request to send, before credentials are added."""

    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json_body: Any = None
    has_body: bool = False


def render(template: Any, context: dict[str, Any]) -> Any:
    """Replace every `{"$input": ...}` in a template with the value it selects."""
    if isinstance(template, list):
        return [render(item, context) for item in template]
    if not isinstance(template, dict):
        return template

    rest = {
        key: render(value, context)
        for key, value in template.items()
        if key not in ("$input", "transform")
    }
    if "$input" not in template:
        return rest

    selected = jmespath.search(template["$input"], context)
    transform = template.get("transform", BodyTransform.REPLACE.value)
    if transform == BodyTransform.JSON_MERGE.value:
        if not isinstance(selected, dict):
            raise DefinitionError(
                f"request_mapping: $input {template['$input']!r} selected "
                f"{type(selected).__name__}, json_merge needs an object"
            )
        # The template's keys are defaults; the bot's values win.
        return {**rest, **selected}
    return selected


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def build_request(config: IntegrationConfig, context: dict[str, Any]) -> RequestSpec:
    """Apply the definition's request mapping to a bot context."""
    mapping = config.request_mapping

    url = config.url
    for name, template in mapping.path.items():
        value = _scalar(render(template, context))
        # Percent-encode everything, `+` in a phone number included.
        url = url.replace("{" + name + "}", quote(value, safe=""))

    params = {
        name: _scalar(render(template, context))
        for name, template in mapping.query.items()
    }
    headers = dict(config.headers)
    for name, template in mapping.headers.items():
        headers[name] = _scalar(render(template, context))

    has_body = config.method not in BODYLESS_METHODS and mapping.body is not None
    body = render(mapping.body, context) if has_body else None
    return RequestSpec(
        method=config.method.value,
        url=url,
        params=params,
        headers=headers,
        json_body=body,
        has_body=has_body,
    )
