"""`Pipeline.run` audits and reports every execution, even an unexpected end."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.audit import AuditLog
from harness.loader import IntegrationDir
from harness.pipeline import Pipeline, bot_context
from mocks.environment import MockEnvironment

CONTEXT = bot_context({"user_id": "u_998877", "query": "account_balance"})


def failing_execute(error: BaseException) -> Any:
    async def execute(*args: Any, **kwargs: Any) -> Any:
        raise error

    return execute


@pytest.mark.parametrize(
    "error",
    [RuntimeError("bug with sentinel-detail-3f2a"), asyncio.CancelledError()],
    ids=["bug", "cancelled"],
)
async def test_an_unexpected_exception_is_audited_reported_and_raised(
    error: BaseException,
    pipeline: Pipeline,
    mock_env: MockEnvironment,
    account_balance: IntegrationDir,
    audit_log: AuditLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline.executor, "execute", failing_execute(error))

    with pytest.raises(type(error)):
        await pipeline.run(account_balance.definition, CONTEXT)

    [entry] = audit_log.entries()
    assert entry["status"] == "FAILURE"
    assert entry["error_type"] == "internal_error"
    [event] = mock_env.webhook.events
    assert event["status"] == "FAILURE"
    metrics = pipeline.metrics.snapshot(account_balance.definition.name)
    assert (metrics["executions"], metrics["failures"]) == (1, 1)
    assert "sentinel-detail-3f2a" not in audit_log.path.read_text()


async def test_a_failing_step_5_does_not_hide_the_original_exception(
    pipeline: Pipeline,
    account_balance: IntegrationDir,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline.executor, "execute", failing_execute(KeyError("k")))

    async def broken_audit(**fields: Any) -> dict[str, Any]:
        raise OSError("disk full")

    monkeypatch.setattr(pipeline.audit, "arecord", broken_audit)
    with pytest.raises(KeyError):
        await pipeline.run(account_balance.definition, CONTEXT)


async def test_without_a_webhook_url_nothing_is_delivered_or_queued(
    mock_env: MockEnvironment, account_balance: IntegrationDir, audit_log: AuditLog
) -> None:
    settings = mock_env.settings.model_copy(update={"webhook_url": None})
    async with Pipeline(settings, audit_log=audit_log) as pipeline:
        report = await pipeline.run(account_balance.definition, CONTEXT)

    assert report.status == "SUCCESS"
    assert report.to_dict()["webhook_delivered"] is False
    assert mock_env.webhook.events == []
    assert not settings.outbox_path.exists(), "nothing waits for a webhook"
