"""The error rate and retries a load run reports are the true ones.

A seeded 30 % upstream 503 rate with 3 attempts: an execution fails when all
three attempts fail (0.3^3 = 0.027) and retries 0.3 + 0.09 = 0.39 times on
average. Counted by `RetryTally`, the locustfile's own counter, over the
pipeline's reports in-process (respx), with the backoff waits skipped.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from harness.audit import AuditLog
from harness.loader import IntegrationDir
from harness.models import RetryPolicy
from harness.pipeline import Pipeline, bot_context
from loadtests.stats import RetryTally
from mocks.environment import MockEnvironment
from mocks.faults import Fault, FaultPlan, FaultRule
from tests.conftest import no_sleep

EXECUTIONS = 3_000
CONCURRENCY = 20


async def test_error_rate_and_retries_match_the_fault_rate(
    account_balance: IntegrationDir, tmp_path: Path
) -> None:
    plan = FaultPlan(rules=[FaultRule(rate=0.3, fault=Fault(status=503), seed=30)])
    environment = MockEnvironment([account_balance], fault_plan=plan)
    definition = account_balance.definition
    retry = RetryPolicy(attempts=3, wait_min_seconds=0.01, wait_max_seconds=0.02)
    config = definition.config.model_copy(update={"retry": retry})
    definition = definition.model_copy(update={"config": config})
    context = bot_context(account_balance.samples[0].payload)
    tally = RetryTally()
    remaining = iter(range(EXECUTIONS))

    async def user(pipeline: Pipeline) -> None:
        for _ in remaining:
            tally.observe(await pipeline.run(definition, context))

    with environment.in_process():
        audit = AuditLog(tmp_path / "audit.jsonl", durability="group")
        # No webhook: half the in-process calls, and not what is measured here.
        settings = environment.settings.model_copy(update={"webhook_url": None})
        async with Pipeline(settings, audit_log=audit, sleep=no_sleep) as pipeline:
            await asyncio.gather(*(user(pipeline) for _ in range(CONCURRENCY)))

    assert tally.executions == EXECUTIONS
    assert abs(tally.error_rate - 0.027) <= 0.01, tally.to_dict()
    assert abs(tally.retries_per_execution - 0.39) <= 0.03, tally.to_dict()
    # Every failure is the exhausted 503, and every execution was audited.
    assert set(tally.errors) == {"upstream_status"}
    assert len(audit.entries()) == EXECUTIONS
