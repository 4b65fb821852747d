"""All three mocks wired together for a set of integrations.

`MockEnvironment` builds the platform, one external mock per host named by
the integrations (from their recorded fixtures) and the webhook receiver,
and hands out settings that point the pipeline at them. Both platform
profiles are mocked side by side (`integrations-v1` and the Cognigy.AI v2.0
API), so the settings' `cognigy_platform` alone picks the one a run uses. It serves them
in-process (`in_process()`, respx) or on a port (`asgi_app()`, uvicorn).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import respx
from pydantic import SecretStr

from harness.loader import IntegrationDir
from harness.settings import HarnessSettings
from mocks.cognigy import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, CognigyMock, RateLimit
from mocks.cognigy_v2 import DEMO_API_KEY, CognigyAiMock
from mocks.external import ExternalMock
from mocks.faults import FaultPlan
from mocks.fixtures import FixtureFile, load_fixture_file
from mocks.transport import PrefixRouter, asgi_side_effect
from mocks.webhook import WebhookMock

#: Where the mocks live in-process when the settings name no real address.
DEMO_TENANT_URL = "https://demo-tenant.cognigy.invalid"
DEMO_API_URL = "https://api-demo.cognigy.invalid"
DEMO_WEBHOOK_URL = "https://webhook.cognigy-harness.invalid/events"
#: The value of every external secret a definition names, in mock runs.
DEMO_EXTERNAL_SECRET = "demo-external-key"  # noqa: S105 - documented demo value

PLATFORM_PREFIX = "/cognigy"
COGNIGY_AI_PREFIX = "/cognigy-ai"
WEBHOOK_PREFIX = "/webhook"
EXTERNAL_PREFIX = "/external"


class MockEnvironment:
    """The platform, external and webhook mocks for some integrations."""

    def __init__(
        self,
        integrations: Iterable[IntegrationDir],
        settings: HarnessSettings | None = None,
        *,
        fault_plan: FaultPlan | None = None,
        rate_limit: RateLimit | None = None,
        foreign_bots: frozenset[str] = frozenset(),
        expires_in: int = 3600,
    ) -> None:
        base = settings or HarnessSettings()
        self.integrations = list(integrations)
        client_id = base.cognigy_client_id or DEMO_CLIENT_ID
        secret = base.cognigy_client_secret
        client_secret = secret.get_secret_value() if secret else DEMO_CLIENT_SECRET

        self.platform = CognigyMock(
            client_id=client_id,
            client_secret=client_secret,
            rate_limit=rate_limit,
            foreign_bots=foreign_bots,
            expires_in=expires_in,
        )
        api_key = base.cognigy_api_key
        self.cognigy_ai = CognigyAiMock(
            api_key=api_key.get_secret_value() if api_key else DEMO_API_KEY,
            client_id=client_id,
            client_secret=client_secret,
            node_timeout_cap_ms=round(base.cognigy_node_timeout_cap_seconds * 1000),
            rate_limit=rate_limit,
            expires_in=expires_in,
        )
        self.webhook = WebhookMock()
        self.externals: dict[str, ExternalMock] = {}
        for integration in self.integrations:
            host = urlsplit(integration.definition.config.url).hostname or ""
            fixtures = _fixtures_of(integration)
            if host in self.externals:
                self.externals[host].fixtures.interactions.extend(fixtures.interactions)
            else:
                self.externals[host] = ExternalMock(fixtures, fault_plan)

        extra = dict(base.extra_secrets)
        for integration in self.integrations:
            name = integration.definition.config.secret_env
            if base.secret(name) is None:
                extra[name] = SecretStr(DEMO_EXTERNAL_SECRET)
        self.settings = base.model_copy(
            update={
                "cognigy_tenant_url": base.cognigy_tenant_url or DEMO_TENANT_URL,
                "cognigy_client_id": client_id,
                "cognigy_client_secret": SecretStr(client_secret),
                "webhook_url": base.webhook_url or DEMO_WEBHOOK_URL,
                "extra_secrets": extra,
                "cognigy_api_url": base.cognigy_api_url or DEMO_API_URL,
                "cognigy_api_key": SecretStr(self.cognigy_ai.api_key),
                "cognigy_project_id": self.cognigy_ai.project_id,
                "cognigy_flow_id": self.cognigy_ai.flow_id,
            }
        )

    @property
    def tenant_host(self) -> str:
        return urlsplit(str(self.settings.cognigy_tenant_url)).hostname or ""

    @property
    def api_host(self) -> str:
        return urlsplit(str(self.settings.cognigy_api_url)).hostname or ""

    @property
    def webhook_host(self) -> str:
        return urlsplit(str(self.settings.webhook_url)).hostname or ""

    def external(self, integration: IntegrationDir | None = None) -> ExternalMock:
        """The external mock of an integration (the first one by default)."""
        chosen = integration or self.integrations[0]
        return self.externals[urlsplit(chosen.definition.config.url).hostname or ""]

    def install(self, router: respx.MockRouter) -> None:
        """Route each mock's host to its ASGI app on a respx router."""
        router.route(host=self.tenant_host).mock(
            side_effect=asgi_side_effect(self.platform)
        )
        router.route(host=self.api_host).mock(
            side_effect=asgi_side_effect(self.cognigy_ai)
        )
        router.route(host=self.webhook_host).mock(
            side_effect=asgi_side_effect(self.webhook)
        )
        for host, mock in self.externals.items():
            router.route(host=host).mock(side_effect=asgi_side_effect(mock))

    @contextmanager
    def in_process(self) -> Iterator[respx.MockRouter]:
        """Intercept the mocks' https URLs in this process; nothing else passes."""
        with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
            self.install(router)
            yield router

    def asgi_app(self) -> PrefixRouter:
        """All mocks under path prefixes, for serving on one loopback port."""
        apps: dict[str, object] = {
            PLATFORM_PREFIX: self.platform,
            COGNIGY_AI_PREFIX: self.cognigy_ai,
            WEBHOOK_PREFIX: self.webhook,
        }
        for host, mock in self.externals.items():
            apps[f"{EXTERNAL_PREFIX}/{host}"] = mock
        return PrefixRouter(apps)  # type: ignore[arg-type]

    def port_settings(self, base_url: str) -> HarnessSettings:
        """Settings that reach these mocks served at `base_url`."""
        base_url = base_url.rstrip("/")
        overrides = {
            host: f"{base_url}{EXTERNAL_PREFIX}/{host}" for host in self.externals
        }
        return self.settings.model_copy(
            update={
                "cognigy_tenant_url": base_url + PLATFORM_PREFIX,
                "cognigy_api_url": base_url + COGNIGY_AI_PREFIX,
                "webhook_url": base_url + WEBHOOK_PREFIX + "/events",
                "host_overrides": overrides,
            }
        )


def _fixtures_of(integration: IntegrationDir) -> FixtureFile:
    if integration.fixtures_path.exists():
        return load_fixture_file(integration.fixtures_path)
    return FixtureFile()
