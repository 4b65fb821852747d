"""Provider side: schemathesis holds each mock to its contract, and can fail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from contracts.provider import (
    ContractRun,
    RunOptions,
    platform_mock_target,
    run_contract_checks,
)
from contracts.targets import mock_targets
from mocks.base import json_response
from mocks.cognigy import CognigyMock
from tests.conftest import INTEGRATIONS

pytestmark = pytest.mark.contract

#: Few examples: enough to meet each broken mock, quick on a shared machine.
QUICK = RunOptions(max_examples=5, max_steps=6)


def test_every_mock_conforms_to_its_contract() -> None:
    run = run_contract_checks(mock_targets(INTEGRATIONS), RunOptions())

    outcomes = {target.target: target.outcome for target in run.targets}
    assert outcomes == {
        "platform mock": "passed",
        "cognigy.ai v2 mock": "passed",
        "account-balance mock": "passed",
        "weather-forecast mock": "passed",
        "order-status mock": "passed",
    }, [str(f) for t in run.targets for f in t.failures]
    assert all(target.cases > 0 for target in run.targets)


def test_the_stateful_phase_creates_reads_and_deletes_through_links() -> None:
    target = platform_mock_target()
    run = run_contract_checks([target], QUICK)

    assert run.ok
    phases = {scenario.phase for scenario in run.targets[0].scenarios}
    assert "stateful" in phases
    journal = target.app.journal.entries
    created = [
        e for e in journal if e.method == "POST" and e.path.endswith("/integrations")
    ]
    read = [e for e in journal if e.method == "GET" and "/integrations/int_" in e.path]
    deleted = [
        e for e in journal if e.method == "DELETE" and "/integrations/int_" in e.path
    ]
    assert created
    assert read
    assert deleted


class WrongFieldType(CognigyMock):
    """Lists `total` as a string."""

    async def handle(self, request: Request, body: bytes) -> Response:
        response = await super().handle(request, body)
        if request.method == "GET" and request.url.path.endswith("/integrations"):
            listed = json.loads(bytes(response.body))
            listed["total"] = str(listed["total"])
            return json_response(200, listed)
        return response


class MissingRequiredField(CognigyMock):
    """Answers a created integration without its `created_at`."""

    def _create(self, body: bytes) -> Response:
        response = super()._create(body)
        if response.status_code == 201:
            created: dict[str, Any] = json.loads(bytes(response.body))
            del created["created_at"]
            return json_response(201, created)
        return response


class UndeclaredStatus(CognigyMock):
    """Answers a read with 200 OK... as 202, which the contract never declares."""

    def _read(self, integration_id: str) -> Response:
        response = super()._read(integration_id)
        if response.status_code == 404:
            return json_response(202, {"queued": True})
        return response


@pytest.mark.parametrize(
    ("mock", "check"),
    [
        (WrongFieldType, "response_schema_conformance"),
        (MissingRequiredField, "response_schema_conformance"),
        (UndeclaredStatus, "status_code_conformance"),
    ],
)
def test_a_broken_mock_is_caught(mock: type[CognigyMock], check: str) -> None:
    run = run_contract_checks([platform_mock_target(mock())], QUICK)

    assert not run.ok
    assert check in {failure.check for failure in _failures(run)}


def _failures(run: ContractRun) -> list[Any]:
    return [failure for target in run.targets for failure in target.failures]


def test_the_explicit_examples_of_the_contract_are_sent() -> None:
    target = platform_mock_target()
    run_contract_checks([target], QUICK)

    bodies = [entry.body for entry in target.app.journal.entries]
    assert any(
        isinstance(body, dict) and body.get("name") == "account-balance"
        for body in bodies
    )


async def test_a_run_can_be_started_from_async_code() -> None:
    # The CI gate is async; the token fetch must not need a free event loop.
    run = run_contract_checks([platform_mock_target()], QUICK)
    assert run.ok
