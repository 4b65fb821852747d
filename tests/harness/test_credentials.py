"""Credentials follow `auth_type`; an unusable secret is refused unquoted."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from harness.errors import SecretMissingError
from harness.executor import credential_headers
from harness.models import IntegrationConfig
from harness.settings import HarnessSettings


def config(**fields: Any) -> IntegrationConfig:
    return IntegrationConfig.model_validate(
        {"url": "https://api.example.com/v1"} | fields
    )


@pytest.mark.parametrize("secret", ["tok\r\nX-Evil: 1", "tök", "tok\n", " tok"])
@pytest.mark.parametrize(
    "fields", [{}, {"auth_type": "api_key", "auth_header_name": "X-API-Key"}]
)
def test_a_secret_a_header_cannot_carry_is_refused_without_quoting_it(
    secret: str, fields: dict[str, Any]
) -> None:
    settings = HarnessSettings(external_api_key=SecretStr(secret))
    with pytest.raises(SecretMissingError) as caught:
        credential_headers(config(**fields), settings)
    assert "EXTERNAL_API_KEY" in str(caught.value)
    assert secret.strip() not in str(caught.value)


def test_basic_encodes_any_password() -> None:
    settings = HarnessSettings(external_api_key=SecretStr("pässword"))
    headers = credential_headers(config(auth_type="basic", username="bot"), settings)
    assert headers["Authorization"].startswith("Basic ")


def test_none_reads_no_secret() -> None:
    assert credential_headers(config(auth_type="none"), HarnessSettings()) == {}
