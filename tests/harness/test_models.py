"""Validation rules of the definition (step 1)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from harness.models import IntegrationDefinition, Method


def definition(**config: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"url": "https://api.example.com/v1/data"}
    base.update(config)
    return {"name": "example", "bot_id": "bot_1", "config": base}


def refusal(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        IntegrationDefinition.model_validate(data)
    return str(caught.value)


def test_defaults_follow_the_design() -> None:
    parsed = IntegrationDefinition.model_validate(definition())
    assert parsed.config.method is Method.POST
    assert parsed.config.auth_type.value == "bearer"
    assert parsed.config.timeout_seconds == 30
    assert parsed.status.value == "ACTIVE"


def test_http_url_is_refused() -> None:
    assert "https" in refusal(definition(url="http://api.example.com/x"))


def test_url_with_credentials_is_refused() -> None:
    assert "user-info" in refusal(definition(url="https://u:p@api.example.com/"))


@pytest.mark.parametrize("method_first", [True, False])
def test_get_with_body_is_refused_whatever_the_field_order(method_first: bool) -> None:
    mapping = {"body": {"$input": "bot.payload"}}
    config: dict[str, Any] = {"url": "https://api.example.com/v1"}
    if method_first:
        config |= {"method": "GET", "request_mapping": mapping}
    else:
        config |= {"request_mapping": mapping, "method": "GET"}
    message = refusal({"name": "example", "bot_id": "b", "config": config})
    assert "request_mapping.body" in message
    assert "GET" in message


def test_method_is_case_insensitive() -> None:
    parsed = IntegrationDefinition.model_validate(definition(method="patch"))
    assert parsed.config.method is Method.PATCH


@pytest.mark.parametrize("timeout", [0, 121])
def test_timeout_out_of_range_is_refused(timeout: int) -> None:
    assert "timeout_seconds" in refusal(definition(timeout_seconds=timeout))


def test_short_name_is_refused() -> None:
    data = definition()
    data["name"] = "ab"
    assert "name" in refusal(data)


def test_header_injection_is_refused() -> None:
    assert "CR, LF" in refusal(definition(headers={"X-Trace": "a\r\nEvil: 1"}))


def test_basic_auth_needs_a_username() -> None:
    assert "username" in refusal(definition(auth_type="basic"))


def test_bad_jmespath_is_refused_with_the_expression() -> None:
    message = refusal(definition(response_mapping={"extract": "data.my-key"}))
    assert "data.my-key" in message
    assert "quoted" in message


def test_unknown_normalize_mode_is_refused() -> None:
    assert "normalize" in refusal(definition(response_mapping={"normalize": "squash"}))


def test_path_mapping_must_match_the_placeholders() -> None:
    message = refusal(definition(url="https://api.example.com/users/{user_id}"))
    assert "user_id" in message


def test_unknown_field_is_refused() -> None:
    assert "api_key" in refusal(definition(api_key="inline-secret"))
