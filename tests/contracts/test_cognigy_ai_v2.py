"""Provider side: the mock Cognigy.AI v2.0 API keeps its contract (schemathesis)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import jsonschema_rs
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import contracts
from harness.loader import IntegrationDir
from harness.pipeline import Pipeline
from harness.settings import HarnessSettings
from mocks.cognigy_v2 import DEMO_API_KEY, CognigyAiMock
from mocks.environment import MockEnvironment

CONTRACT = Path(contracts.__file__).parent / "cognigy-ai-v2.openapi.yaml"
HEADERS = {"Accept": "application/json", "X-API-Key": DEMO_API_KEY}
# Conformance of what the mock answers. The data-acceptance checks are left
# out: a schema-valid id names no stored resource, so 404 is the right answer.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

DOCUMENT = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
MOCK = CognigyAiMock()
schema = schemathesis.openapi.from_path(CONTRACT)
schema.app = MOCK
# The API key goes in HEADERS; generated credentials would only be refused.
schema.config.generation.update(with_security_parameters=False)


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    """One ASGI client for every case: a client per call costs a thread each."""
    with asgi.get_client(schema.app) as client:
        yield client


@schema.parametrize()
@settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_mock_answers_as_the_contract_says(
    case: schemathesis.Case, session: Any
) -> None:
    case.call_and_validate(session=session, headers=HEADERS, checks=CHECKS)


async def test_every_answer_of_a_registration_keeps_the_contract(
    order_status: IntegrationDir,
) -> None:
    environment = MockEnvironment(
        [order_status], HarnessSettings(cognigy_platform="cognigy-ai-v2")
    )
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
        operation = schema.find_operation_by_path(request.method, request.url.path)
        assert operation is not None, f"not in the contract: {request.url}"
        operation.validate_response(response)
        check_request_body(request, operation.path)
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


class CognigyAiMachine(schema.as_state_machine()):  # type: ignore[misc]
    """Follows the contract's links: list, create, then read, update, delete."""

    statuses: ClassVar[set[int]] = set()

    def setup(self) -> None:
        # Each example starts from the same state, or hypothesis sees the
        # links resolve differently on replay and calls the strategy flaky.
        MOCK.reset()

    def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
        return {"headers": HEADERS}

    def validate_response(
        self, response: Any, case: schemathesis.Case, **kwargs: Any
    ) -> None:
        self.statuses.add(response.status_code)
        case.validate_response(response, checks=CHECKS)


def test_the_links_lead_from_lists_to_created_resources_and_back() -> None:
    CognigyAiMachine.run(
        settings=settings(
            max_examples=30,
            stateful_step_count=8,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    # Links filled real ids in: something was created, read, and deleted.
    # (Seeded: 30 examples reach a create; fewer may not.)
    assert {200, 201, 204} <= CognigyAiMachine.statuses
