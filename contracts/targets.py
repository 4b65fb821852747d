"""The targets of a contract run: the mocks, or the live servers.

`mock_targets` pairs each contract with its mock (in-process ASGI, no
network). `live_targets` pairs them with the real servers: the platform in
`COGNIGY_TENANT_URL`, the Cognigy.AI API in `COGNIGY_API_URL` and the
external services the integrations call. A live
target that is not configured or not reachable is kept, with a skip reason
that says which, so the report shows what was not checked.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx

from contracts.documents import contract_for_host, load_contract
from contracts.drift import read_contract_choice
from contracts.provider import (
    Target,
    cognigy_ai_mock_target,
    fixture_mock_target,
    platform_mock_target,
)
from harness.platform_v2 import TOKEN_PATH as COGNIGY_AI_TOKEN_PATH
from harness.settings import HarnessSettings
from mocks.cognigy import TOKEN_PATH
from mocks.fixtures import load_fixture_file

#: How long a live server gets to show it is there before it is skipped.
REACHABLE_TIMEOUT = 3.0


def fixture_files(integrations: Path | str) -> list[Path]:
    return sorted(Path(integrations).glob("*/fixtures.yaml"))


def mock_targets(integrations: Path | str) -> list[Target]:
    """The platform mocks and one fixture mock per integration with fixtures."""
    # Each platform profile is one line here: its contract and its mock.
    targets = [platform_mock_target(), cognigy_ai_mock_target()]
    for path in fixture_files(integrations):
        targets.append(integration_target(path.parent))
    return targets


def integration_target(directory: Path | str) -> Target:
    """One integration's external contract against the mock of its fixtures.

    The contract is the one its `contract.yaml` names, else the shipped one
    whose servers name the fixtures' host; without either, the target is
    skipped and says why.
    """
    root = Path(directory)
    fixtures = load_fixture_file(root / "fixtures.yaml")
    host = urlsplit(fixtures.base_url or "").hostname or ""
    name = f"{root.name} mock"
    chosen = read_contract_choice(root).get("contract")
    contract = load_contract(chosen) if chosen else contract_for_host(host)
    if contract is None:
        reason = f"no contract names the host {host or '(none)'!r} of {root.name}"
        return Target(name, load_contract("integrations-v1"), skip_reason=reason)
    return fixture_mock_target(name, contract, fixtures)


def live_targets(
    integrations: Path | str,
    settings: HarnessSettings | None = None,
    *,
    allow_writes: bool = False,
) -> list[Target]:
    """The real servers: read-only unless `allow_writes` (platform only)."""
    chosen = settings or HarnessSettings()
    targets = [
        _live_platform(chosen, allow_writes),
        _live_cognigy_ai(chosen, allow_writes),
    ]
    seen: set[str] = set()
    for path in fixture_files(integrations):
        base_url = load_fixture_file(path).base_url or ""
        host = urlsplit(base_url).hostname or ""
        contract = contract_for_host(host)
        if contract is None or host in seen:
            continue
        seen.add(host)
        name = f"{host} (live)"
        if not any(op.method == "get" for op in contract.operations()):
            # Only reads are ever sent to a real external service.
            reason = f"{contract.name} has no read-only operation to call"
            targets.append(Target(name, contract, skip_reason=reason))
            continue
        target = Target(name, contract, base_url=base_url, read_only=True)
        targets.append(_with_reachability(target))
    return targets


def _live_platform(settings: HarnessSettings, allow_writes: bool) -> Target:
    contract = load_contract("integrations-v1")
    name = "platform (live)"
    if settings.cognigy_tenant_url is None:
        return Target(name, contract, skip_reason="COGNIGY_TENANT_URL is not set")
    if not settings.cognigy_client_id or settings.cognigy_client_secret is None:
        reason = "COGNIGY_CLIENT_ID / COGNIGY_CLIENT_SECRET are not set"
        return Target(name, contract, skip_reason=reason)
    base_url = str(settings.cognigy_tenant_url).rstrip("/")
    secret = settings.cognigy_client_secret

    async def bearer() -> dict[str, str]:
        form = {
            "grant_type": "client_credentials",
            "client_id": settings.cognigy_client_id or "",
            "client_secret": secret.get_secret_value(),
            "scope": settings.cognigy_scopes,
        }
        async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as client:
            response = await client.post(TOKEN_PATH, data=form)
            response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    target = Target(
        name,
        contract,
        base_url=base_url,
        headers=bearer,
        read_only=not allow_writes,
    )
    return _with_reachability(target)


def _live_cognigy_ai(settings: HarnessSettings, allow_writes: bool) -> Target:
    """The Cognigy.AI v2.0 API (profile cognigy-ai-v2): API key, else OAuth2."""
    contract = load_contract("cognigy-ai-v2")
    name = "cognigy.ai v2 (live)"
    if settings.cognigy_api_url is None:
        return Target(name, contract, skip_reason="COGNIGY_API_URL is not set")
    api_key = settings.cognigy_api_key
    has_client = settings.cognigy_client_id and settings.cognigy_client_secret
    if api_key is None and not has_client:
        reason = "COGNIGY_API_KEY (or COGNIGY_CLIENT_ID / _SECRET) is not set"
        return Target(name, contract, skip_reason=reason)
    base_url = str(settings.cognigy_api_url).rstrip("/")

    async def credentials() -> dict[str, str]:
        # Without Accept: application/json the lists would come as HAL.
        headers = {"Accept": "application/json"}
        if api_key is not None:
            return {**headers, "X-API-Key": api_key.get_secret_value()}
        secret = settings.cognigy_client_secret
        form = {
            "grant_type": "client_credentials",
            "client_id": settings.cognigy_client_id or "",
            "client_secret": secret.get_secret_value() if secret else "",
        }
        async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as client:
            response = await client.post(COGNIGY_AI_TOKEN_PATH, data=form)
            response.raise_for_status()
        return {**headers, "Authorization": f"Bearer {response.json()['access_token']}"}

    target = Target(
        name,
        contract,
        base_url=base_url,
        headers=credentials,
        read_only=not allow_writes,
    )
    return _with_reachability(target)


def _with_reachability(target: Target) -> Target:
    """The target, or a copy saying why it was skipped when nothing answers."""
    try:
        httpx.head(target.base_url, timeout=REACHABLE_TIMEOUT)
    except httpx.HTTPError as exc:
        reason = f"{target.base_url} is not reachable ({type(exc).__name__})"
        return Target(target.name, target.contract, skip_reason=reason)
    return target
