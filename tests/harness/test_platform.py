"""Registration on the mock platform: reuse, conflicts, token replay."""

from __future__ import annotations

import pytest

from harness.errors import RegistrationConflictError
from harness.loader import IntegrationDir
from harness.pipeline import Pipeline
from mocks.environment import MockEnvironment


async def test_registering_the_same_definition_twice_reuses_it(
    pipeline: Pipeline, account_balance: IntegrationDir, mock_env: MockEnvironment
) -> None:
    first = await pipeline.platform.register(account_balance.definition)
    second = await pipeline.platform.register(account_balance.definition)

    assert second.id == first.id
    assert second.reused is True
    assert len(mock_env.platform.integrations) == 1


async def test_a_changed_config_is_a_conflict_naming_the_differences(
    pipeline: Pipeline, account_balance: IntegrationDir
) -> None:
    await pipeline.platform.register(account_balance.definition)
    changed = account_balance.definition.model_copy(deep=True)
    changed.config.timeout_seconds = 20

    with pytest.raises(RegistrationConflictError, match=r"config\.timeout_seconds"):
        await pipeline.platform.register(changed)


async def test_an_expired_token_is_refreshed_once_and_the_call_replayed(
    pipeline: Pipeline, account_balance: IntegrationDir, mock_env: MockEnvironment
) -> None:
    await pipeline.platform.register(account_balance.definition)
    mock_env.platform.tokens.clear()  # every issued token is now unknown

    stored = await pipeline.platform.get(next(iter(mock_env.platform.integrations)))

    assert stored["name"] == "account-balance"
    assert mock_env.platform.token_requests == 2


async def test_the_registered_integration_can_be_read_and_deleted(
    pipeline: Pipeline, account_balance: IntegrationDir, mock_env: MockEnvironment
) -> None:
    registration = await pipeline.platform.register(account_balance.definition)
    stored = await pipeline.platform.get(registration.id)
    assert stored["config"]["url"] == account_balance.definition.config.url
    await pipeline.platform.delete(registration.id)
    assert mock_env.platform.integrations == {}
