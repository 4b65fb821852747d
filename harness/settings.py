"""Settings read from the environment and from a `.env` file."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AnyHttpUrl, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The scopes the harness asks the Integrations API for.
DEFAULT_SCOPES = (
    "cognigy:platform:read cognigy:integrations:write cognigy:webhooks:manage"
)


class HarnessSettings(BaseSettings):
    """Everything the harness reads from its environment.

    Secrets are `SecretStr`: their repr and str never show the value, so a
    settings object can be logged or put in an exception safely.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    cognigy_tenant_url: AnyHttpUrl | None = None
    cognigy_client_id: str | None = None
    cognigy_client_secret: SecretStr | None = None
    cognigy_scopes: str = DEFAULT_SCOPES
    external_api_key: SecretStr | None = None
    webhook_url: AnyHttpUrl | None = None
    audit_log_path: Path = Path(".cognigy-harness/audit.jsonl")
    # Hosts mapped to loopback base URLs: how a definition's real https:// URL
    # reaches a mock served on a port (`mock serve`, load runs).
    host_overrides: dict[str, str] = Field(default_factory=dict)
    # Secrets supplied by code rather than the environment (the embedded
    # mocks' demo values); consulted after settings fields and the environment.
    extra_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # Refresh a cached token this many seconds before it expires.
    token_leeway_seconds: float = 30.0
    max_connections: int = 100

    def secret(self, name: str) -> SecretStr | None:
        """Return the secret a definition names, or None when it is not set.

        Args:
            name: an environment-variable name such as `EXTERNAL_API_KEY`;
                a settings field of that name wins (so `.env` works), then the
                process environment.
        """
        value = getattr(self, name.lower(), None)
        if isinstance(value, SecretStr) and value.get_secret_value():
            return value
        from_env = os.environ.get(name)
        if from_env:
            return SecretStr(from_env)
        return self.extra_secrets.get(name)
