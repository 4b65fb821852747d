"""Settings read from the environment and from a `.env` file."""

from __future__ import annotations

import os
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, PositiveInt, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from harness.tokens import TokenAuthMethod

#: The scopes the harness asks the Integrations API for.
DEFAULT_SCOPES = (
    "cognigy:platform:read cognigy:integrations:write cognigy:webhooks:manage"
)


#: The platform profiles step 2 can register through (see the README).
PlatformProfile = Literal["integrations-v1", "cognigy-ai-v2"]


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
    # Profile `cognigy-ai-v2`: the real Cognigy.AI REST API. The API URL is the
    # host (`https://api-trial.cognigy.ai`); the client adds `/new/v2.0`. An API
    # key wins over the OAuth2 client credentials above.
    cognigy_platform: PlatformProfile = "integrations-v1"
    cognigy_api_url: AnyHttpUrl | None = None
    cognigy_api_key: SecretStr | None = None
    cognigy_project_id: str | None = None
    cognigy_flow_id: str | None = None
    # What an HTTP Request node may wait: 15 s on shared SaaS, 8 s on dedicated
    # and on-premises installations. A longer definition timeout is refused.
    cognigy_node_timeout_cap_seconds: float = Field(default=15.0, gt=0, le=120)
    external_api_key: SecretStr | None = None
    webhook_url: AnyHttpUrl | None = None
    audit_log_path: Path = Path(".cognigy-harness/audit.jsonl")
    # Keys the audit chain with HMAC-SHA256: without it anyone who edits the
    # log on purpose can recompute every hash after the edit.
    audit_hmac_key: SecretStr | None = None
    # `fsync`: each entry is on disk before the execution returns; `group`:
    # entries are flushed to disk every `audit_group_commit_entries` entries
    # and when the log is closed (a power loss may lose the last few).
    audit_durability: Literal["fsync", "group"] = "fsync"
    audit_group_commit_entries: PositiveInt = 100
    # Where undelivered webhook events wait; next to the audit log by default.
    webhook_outbox_path: Path | None = None
    # Signs each webhook delivery (HMAC-SHA256 over timestamp and body).
    webhook_signing_secret: SecretStr | None = None
    # Hosts mapped to loopback base URLs: how a definition's real https:// URL
    # reaches a mock served on a port (`mock serve`, load runs).
    host_overrides: dict[str, str] = Field(default_factory=dict)
    # Secrets supplied by code rather than the environment (the embedded
    # mocks' demo values); consulted after settings fields and the environment.
    extra_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # Refresh a cached token this many seconds before it expires.
    token_leeway_seconds: float = Field(default=30.0, ge=0)
    # How the client authenticates at the token endpoint (RFC 6749 2.3.1):
    # credentials in the form body, or HTTP Basic.
    cognigy_token_auth_method: TokenAuthMethod = "client_secret_post"  # noqa: S105 - a name
    # Networks outside the public internet that calls may still reach, e.g.
    # `["127.0.0.0/8"]` for mocks on loopback; everything else that resolves to
    # a private, loopback or link-local address is refused.
    allowed_private_networks: list[IPv4Network | IPv6Network] = Field(
        default_factory=list
    )
    # Turning TLS verification off is possible only by saying so here, and
    # every client created with it off logs a warning.
    tls_verify: bool = True
    max_connections: int = Field(default=100, ge=1)
    # How long an execution waits for a free connection slot before it fails
    # as local saturation (nothing sent).
    pool_timeout_seconds: float = 10.0
    # The HTTP transport under httpx: `aiohttp` (httpx-aiohttp, the `load`
    # extra) is faster under concurrency; respx intercepts it only when
    # mocking with `using="httpx"`, so `httpx` stays the default.
    http_transport: Literal["httpx", "aiohttp"] = "httpx"

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

    @property
    def outbox_path(self) -> Path:
        """The webhook outbox: the setting, or a file beside the audit log."""
        if self.webhook_outbox_path is not None:
            return self.webhook_outbox_path
        return self.audit_log_path.with_name("webhook-outbox.jsonl")
