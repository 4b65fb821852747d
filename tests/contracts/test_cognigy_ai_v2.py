"""The Cognigy.AI v2.0 contract: the mock keeps it, and so does the harness.

Provider side, schemathesis runs the contract against the v2 mock through
the project's contract runner (`contracts.provider`), links included; the
run over every mock is in `test_provider.py`. Consumer side, every request a
registration sends and every answer it gets is held to the same document.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
from starlette.requests import Request
from starlette.responses import Response

from contracts.documents import load_contract
from contracts.guard import guard_environment
from contracts.provider import RunOptions, cognigy_ai_mock_target, run_contract_checks
from contracts.targets import live_targets
from harness.loader import IntegrationDir
from harness.pipeline import Pipeline
from harness.settings import HarnessSettings
from mocks.base import json_response
from mocks.cognigy_v2 import CognigyAiMock
from mocks.environment import MockEnvironment
from mocks.transport import BackgroundServer
from tests.conftest import INTEGRATIONS

pytestmark = pytest.mark.contract

CONTRACT = load_contract("cognigy-ai-v2")
DOCUMENT = CONTRACT.document
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
#: Few examples: enough to follow the links, quick on a shared machine.
QUICK = RunOptions(max_examples=5, max_steps=6)


def test_the_links_create_update_and_delete_connections() -> None:
    target = cognigy_ai_mock_target()
    run = run_contract_checks([target], QUICK)

    assert run.ok, [str(failure) for failure in run.targets[0].failures]
    actions = {event["type"] for event in target.app.audit_events}
    assert {"createConnection", "updateConnection", "deleteConnection"} <= actions


class ListsWithoutCursors(CognigyAiMock):
    """Answers JSON lists without `nextCursor` / `previousCursor`."""

    async def handle(self, request: Request, body: bytes) -> Response:
        response = await super().handle(request, body)
        if request.method == "GET" and request.url.path.endswith("/projects"):
            listed = json.loads(bytes(response.body))
            listed.pop("nextCursor", None)
            return json_response(response.status_code, listed)
        return response


def test_a_mock_that_drops_the_cursors_is_caught() -> None:
    run = run_contract_checks([cognigy_ai_mock_target(ListsWithoutCursors())], QUICK)

    checks = {failure.check for target in run.targets for failure in target.failures}
    assert not run.ok
    assert "response_schema_conformance" in checks


async def test_every_answer_of_a_registration_keeps_the_contract(
    order_status: IntegrationDir,
) -> None:
    environment = MockEnvironment(
        [order_status], HarnessSettings(cognigy_platform="cognigy-ai-v2")
    )
    guards = guard_environment(environment)
    answers: list[httpx.Response] = []

    async def keep(response: httpx.Response) -> None:
        if response.request.url.host == environment.api_host:
            answers.append(response)

    hooks = {"response": [keep]}
    with environment.in_process():
        async with httpx.AsyncClient(event_hooks=hooks) as client:
            pipeline = Pipeline(environment.settings, client=client)
            await pipeline.platform.register(order_status.definition)
            await pipeline.platform.register(order_status.definition)

    for response in answers:
        request = response.request
        operation = SCHEMA.find_operation_by_path(request.method, request.url.path)
        assert operation is not None, f"not in the contract: {request.url}"
        operation.validate_response(response)
        check_request_body(request, operation.path)
    guards.assert_clean()
    # Creates answer 201, updates 204, reads 200: every kind was checked.
    assert len(answers) == 8
    assert {response.status_code for response in answers} == {200, 201, 204}


def check_request_body(request: httpx.Request, template: str) -> None:
    """Consumer side: what the harness sends is what the contract asks for."""
    spec = DOCUMENT["paths"][template][request.method.lower()]
    body_schema = spec.get("requestBody", {}).get("content", {})
    if "application/json" not in body_schema:
        assert not request.content, f"{request.method} {template} sent a body"
        return
    body = json.loads(request.content)
    validator(body_schema["application/json"]["schema"]).validate(body)
    if "config" in body:
        # The node config the harness builds, against the documented keys.
        node_config = {"$ref": "#/components/schemas/HttpRequestConfig"}
        validator(node_config).validate(body["config"])


def validator(fragment: dict[str, Any]) -> Any:
    """A JSON Schema validator for a fragment of the contract, refs resolved."""
    return jsonschema_rs.validator_for(
        {**fragment, "components": DOCUMENT["components"]}
    )


def test_a_live_tenant_is_checked_read_only_with_its_api_key() -> None:
    mock = CognigyAiMock()
    with BackgroundServer(mock) as server:
        settings = HarnessSettings(
            cognigy_api_url=server.base_url, cognigy_api_key=mock.api_key
        )
        [_, cognigy_ai, *_] = live_targets(INTEGRATIONS, settings)
        run = run_contract_checks([cognigy_ai], QUICK)

    assert not cognigy_ai.skip_reason
    assert run.ok, [str(f) for f in run.targets[0].failures]
    assert {entry.method for entry in mock.journal.entries} <= {"GET", "HEAD"}
    assert not mock.connections  # read-only: nothing was created


def test_a_live_tenant_without_configuration_is_skipped_with_the_reason() -> None:
    [_, cognigy_ai, *_] = live_targets(INTEGRATIONS, HarnessSettings())
    assert cognigy_ai.skip_reason == "COGNIGY_API_URL is not set"
