"""All three mocks wired together for a set of integrations.

`MockEnvironment` builds the platform, one external mock per host named by
the integrations (from their recorded fixtures) and the webhook receiver,
and hands out settings that point the pipeline at them. Both platform
profiles are mocked side by side (`integrations-v1` and the Cognigy.AI v2.0
API), so the settings' `cognigy_platform` alone picks the one a run uses.
It serves them in-process (`in_process()`, respx) or on a port (`asgi_app()`, uvicorn).

With a record mode other than `none`, each external mock is a `Recorder`
over its integration's `fixtures.yaml` that passes what it lacks to the real
service (or the `upstreams` given); `save_recordings()` writes the files.
Integrations that share a host record into the first one's file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import respx
from pydantic import SecretStr

from harness.errors import HarnessError
from harness.executor import credential_headers
from harness.loader import IntegrationDir
from harness.models import IntegrationConfig
from harness.netguard import LOOPBACK_NETWORKS
from harness.settings import HarnessSettings
from mocks.cognigy import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, CognigyMock, RateLimit
from mocks.cognigy_v2 import DEMO_API_KEY, CognigyAiMock
from mocks.external import ExpectedCredential, ExternalMock
from mocks.faults import FaultPlan
from mocks.fixtures import FixtureFile, Interaction, load_fixture_file
from mocks.record import Recorder, RecordMode
from mocks.scrub import Scrubber
from mocks.transport import PrefixRouter, asgi_side_effect, pass_marked_through
from mocks.webhook import WebhookMock

#: Where the mocks live in-process when the settings name no real address.
DEMO_TENANT_URL = "https://demo-tenant.cognigy.invalid"
DEMO_API_URL = "https://api-demo.cognigy.invalid"
DEMO_WEBHOOK_URL = "https://webhook.cognigy-harness.invalid/events"
#: The value of every external secret a definition names, in mock runs.
DEMO_EXTERNAL_SECRET = "demo-external-key"  # noqa: S105 - documented demo value
#: The webhook signing secret of mock runs when the settings name none.
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - documented demo value

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
        rate_limit: RateLimit | str | None = None,
        foreign_bots: frozenset[str] = frozenset(),
        expires_in: int = 3600,
        record_mode: RecordMode | str = RecordMode.NONE,
        upstreams: Mapping[str, str] | None = None,
        scrubber: Scrubber | None = None,
    ) -> None:
        """Build the mocks.

        Args:
            fault_plan: faults for every mock; each rule names its mock
                (`external` by default, `platform`, `webhook` or a host).
            rate_limit: the platform's, as a `RateLimit` or `"N/SECONDS"`.
            foreign_bots: bot ids the platform says belong to another workspace.
            expires_in: lifetime of the platform's tokens, in seconds.
            record_mode: `none` replays; `once`, `new_episodes` and `all`
                record (see `mocks.record`).
            upstreams: host -> base URL to record from (default `https://host`).
            scrubber: what recording masks (default: credentials and tokens).
        """
        base = settings or HarnessSettings()
        self.integrations = list(integrations)
        client_id = base.cognigy_client_id or DEMO_CLIENT_ID
        secret = base.cognigy_client_secret
        client_secret = secret.get_secret_value() if secret else DEMO_CLIENT_SECRET
        plan = fault_plan or FaultPlan()
        if isinstance(rate_limit, str):
            rate_limit = RateLimit.parse(rate_limit)

        self.platform = CognigyMock(
            client_id=client_id,
            client_secret=client_secret,
            rate_limit=rate_limit,
            foreign_bots=foreign_bots,
            expires_in=expires_in,
            fault_plan=plan.for_mock("platform"),
        )
        api_key = base.cognigy_api_key
        self.cognigy_ai = CognigyAiMock(
            api_key=api_key.get_secret_value() if api_key else DEMO_API_KEY,
            client_id=client_id,
            client_secret=client_secret,
            node_timeout_cap_ms=round(base.cognigy_node_timeout_cap_seconds * 1000),
            rate_limit=rate_limit,
            expires_in=expires_in,
            fault_plan=plan.for_mock("platform"),
        )
        signing = base.webhook_signing_secret or SecretStr(DEMO_WEBHOOK_SECRET)
        self.webhook = WebhookMock(plan.for_mock("webhook"), signing_secret=signing)
        self.record_mode = RecordMode(record_mode)
        self.externals: dict[str, ExternalMock] = {}
        for integration in self.integrations:
            host = urlsplit(integration.definition.config.url).hostname or ""
            if host in self.externals:
                if self.record_mode is RecordMode.NONE:
                    more = _fixtures_of(integration).interactions
                    self.externals[host].fixtures.interactions.extend(more)
                continue
            host_plan = plan.for_mock("external", host)
            if self.record_mode is RecordMode.NONE:
                mock = ExternalMock(_fixtures_of(integration), host_plan)
            else:
                upstream = (upstreams or {}).get(host, f"https://{host}")
                mock = Recorder(
                    integration.fixtures_path,
                    upstream,
                    self.record_mode,
                    scrubber=scrubber,
                    fault_plan=host_plan,
                )
            self.externals[host] = mock

        extra = dict(base.extra_secrets)
        for integration in self.integrations:
            name = integration.definition.config.secret_env
            if base.secret(name) is None:
                extra[name] = SecretStr(DEMO_EXTERNAL_SECRET)
        # Always the mocks' own addresses, whatever the environment says: a
        # tenant URL with a path, or one sharing its host with the webhook,
        # would route calls to the wrong mock (routes match on host only).
        self.settings = base.model_copy(
            update={
                "cognigy_tenant_url": DEMO_TENANT_URL,
                "cognigy_client_id": client_id,
                "cognigy_client_secret": SecretStr(client_secret),
                "webhook_url": DEMO_WEBHOOK_URL,
                # In-process, each external's own https host is mocked.
                "host_overrides": {},
                "webhook_signing_secret": signing,
                "extra_secrets": extra,
                "cognigy_api_url": DEMO_API_URL,
                "cognigy_api_key": SecretStr(self.cognigy_ai.api_key),
                "cognigy_project_id": self.cognigy_ai.project_id,
                "cognigy_flow_id": self.cognigy_ai.flow_id,
            }
        )
        self._expect_credentials()

    def _expect_credentials(self) -> None:
        """Each replaying external mock requires what its definitions send.

        The value is the secret these settings hold (the environment's, else
        the demo value). A host one definition calls without credentials
        stays open; a recorder leaves the verdict to the real service.
        """
        expected: dict[str, list[ExpectedCredential | None]] = {}
        for integration in self.integrations:
            config = integration.definition.config
            host = urlsplit(config.url).hostname or ""
            expected.setdefault(host, []).append(_credential(config, self.settings))
        for host, credentials in expected.items():
            mock = self.externals[host]
            if isinstance(mock, Recorder):
                continue
            mock.credentials = [c for c in credentials if c is not None]
            if None in credentials:
                mock.credentials = []

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

    def unused_fixtures(self) -> dict[str, list[Interaction]]:
        """Per external host, the recorded interactions no request used."""
        return {
            host: unused
            for host, mock in self.externals.items()
            if (unused := mock.unused())
        }

    @property
    def recorders(self) -> list[Recorder]:
        return [m for m in self.externals.values() if isinstance(m, Recorder)]

    def save_recordings(self) -> list[Path]:
        """Write every fixture file that recorded something; their paths."""
        return [path for r in self.recorders if (path := r.save()) is not None]

    async def aclose(self) -> None:
        """Close the recorders' upstream clients."""
        for recorder in self.recorders:
            await recorder.aclose()

    def install(self, router: respx.MockRouter) -> None:
        """Route each mock's host to its ASGI app on a respx router."""
        # First: a recorder's own upstream calls go to the network.
        router.route().mock(side_effect=pass_marked_through)
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
                # The mocks listen on loopback, which calls may then reach.
                "allowed_private_networks": list(
                    dict.fromkeys(
                        [*self.settings.allowed_private_networks, *LOOPBACK_NETWORKS]
                    )
                ),
            }
        )


def _credential(
    config: IntegrationConfig, settings: HarnessSettings
) -> ExpectedCredential | None:
    """What a definition sends, as the executor builds it; None when nothing."""
    try:
        headers = credential_headers(config, settings)
    except HarnessError:
        return None  # the executor refuses to send anything either
    if not headers:
        return None
    ((header, value),) = headers.items()
    return ExpectedCredential(
        header, SecretStr(value), config.auth_type.value, config.secret_env
    )


def _fixtures_of(integration: IntegrationDir) -> FixtureFile:
    if integration.fixtures_path.exists():
        return load_fixture_file(integration.fixtures_path)
    return FixtureFile()
