"""Provider side: schemathesis runs each contract against the server behind it.

A `Target` pairs a contract with what serves it: an ASGI app in this process
(the mocks, no network) or a base URL (a live server). `run_contract_checks`
runs schemathesis' engine on each target with an explicit configuration:
the phases (explicit examples, fuzzing, stateful links), the generation
modes, the checks and a seeded, bounded number of examples. It returns a
`ContractRun`, data a reporter turns into text or JUnit XML.

A mock that replays recorded fixtures can only answer the requests it has
recordings for, so such a target (`generate_positive=False`) is checked with
the recorded requests as explicit examples plus negative data, which it must
refuse; positive fuzzing would only meet its "no fixture matches" answer.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import schemathesis
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from schemathesis.schemas import BaseSchema

from contracts.documents import Contract, load_contract
from contracts.guard import _coerce_parameter, guard
from mocks.cognigy import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, TOKEN_PATH, CognigyMock
from mocks.cognigy_v2 import CognigyAiMock
from mocks.external import ExternalMock
from mocks.fixtures import FixtureFile

logger = logging.getLogger("contracts.provider")

#: The base URL schemathesis uses for an app served in-process.
IN_PROCESS_URL = "http://mock.local"
#: Hypothesis' folder under the system's temporary directory.
HYPOTHESIS_HOME = "cognigy-harness-hypothesis"
#: The checks that fit a mock or a real server of these APIs.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
READ_ONLY_METHODS = ("get", "head", "options")
#: What `ExternalMock` answers to a request no recorded fixture matches.
UNRECORDED_STATUS = 599

HeaderSource = Callable[[], Coroutine[Any, Any, dict[str, str]]]
Outcome = Literal["passed", "failed", "skipped", "errored"]


@dataclass(frozen=True)
class Target:
    """A contract and the server it is checked against.

    Args:
        name: how reports name the target.
        contract: the OpenAPI document.
        app: an ASGI app served in-process; None for a live server.
        base_url: where the live server is (ignored for an app).
        headers: returns the headers every request carries (e.g. a token).
        read_only: only GET/HEAD/OPTIONS operations are exercised.
        generate_positive: fuzz valid data too, not only the explicit examples.
        stateful: follow the contract's links (create, then read, then delete).
        skip_reason: set when the target is not configured or not reachable.
    """

    name: str
    contract: Contract
    app: Any = None
    base_url: str = IN_PROCESS_URL
    headers: HeaderSource | None = None
    read_only: bool = False
    generate_positive: bool = True
    stateful: bool = True
    skip_reason: str = ""


@dataclass(frozen=True)
class RunOptions:
    """How much schemathesis generates: bounded and seeded, so runs repeat."""

    max_examples: int = 10
    seed: int = 20261203
    max_steps: int = 8
    request_timeout: float = 10.0


@dataclass(frozen=True)
class CheckFailure:
    """A response a check refused, with the request that got it."""

    check: str
    title: str
    message: str
    operation: str
    request: str
    status: int | None

    def __str__(self) -> str:
        status = f" -> {self.status}" if self.status is not None else ""
        return f"{self.check}: {self.title} ({self.request}{status}): {self.message}"


@dataclass(frozen=True)
class ScenarioResult:
    """One schemathesis scenario: an operation in a phase, or a stateful run."""

    phase: str
    label: str
    outcome: Outcome
    cases: int
    elapsed: float
    failures: tuple[CheckFailure, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class TargetResult:
    """Everything checked on one target."""

    target: str
    contract: str
    outcome: Outcome
    scenarios: tuple[ScenarioResult, ...] = ()
    elapsed: float = 0.0
    message: str = ""

    @property
    def failures(self) -> list[CheckFailure]:
        return [f for scenario in self.scenarios for f in scenario.failures]

    @property
    def cases(self) -> int:
        return sum(scenario.cases for scenario in self.scenarios)


@dataclass(frozen=True)
class ContractRun:
    """The result of a contract run over several targets."""

    targets: tuple[TargetResult, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(t.outcome in ("passed", "skipped") for t in self.targets)


def run_contract_checks(
    targets: Iterable[Target],
    options: RunOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> ContractRun:
    """Run schemathesis against every target; skipped targets say why."""
    _keep_hypothesis_out_of_cwd()
    chosen = options or RunOptions()
    results = []
    for target in targets:
        if target.skip_reason:
            logger.info("skipping %s: %s", target.name, target.skip_reason)
            results.append(
                TargetResult(
                    target.name,
                    target.contract.name,
                    "skipped",
                    (),
                    0.0,
                    target.skip_reason,
                )
            )
        else:
            results.append(_run_target(target, chosen))
        if progress is not None:
            progress(_progress_line(results[-1]))
    return ContractRun(tuple(results))


def _keep_hypothesis_out_of_cwd() -> None:
    """Hypothesis' cache goes to a temporary folder, not `./.hypothesis`.

    With the example database off, hypothesis still caches the constants it
    finds in the code under the working directory: a user's folder is not
    ours to write. HYPOTHESIS_STORAGE_DIRECTORY, when set, still wins.
    """
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        set_hypothesis_home_dir(Path(tempfile.gettempdir()) / HYPOTHESIS_HOME)


def _progress_line(result: TargetResult) -> str:
    if result.outcome == "skipped":
        return f"SKIP {result.target}: {result.message}"
    return (
        f"{result.outcome.upper()} {result.target} ({result.contract}): "
        f"{result.cases} requests, {len(result.failures)} failures, "
        f"{result.elapsed:.1f} s"
    )


def _run_target(target: Target, options: RunOptions) -> TargetResult:
    started = time.perf_counter()
    try:
        headers = _headers_of(target)
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        message = f"could not get credentials: {type(exc).__name__}: {exc}"
        return TargetResult(
            target.name, target.contract.name, "errored", (), 0.0, message
        )

    schema: BaseSchema = schemathesis.openapi.from_dict(
        target.contract.document, config=_config(target, options, headers)
    )
    if target.app is not None:
        schema.app = target.app
    schema.config.update(base_url=target.base_url.rstrip("/"))
    if target.read_only:
        schema = schema.include(method=[m.upper() for m in READ_ONLY_METHODS])
    unrecorded: list[str] = []
    if not target.generate_positive:
        schema.hook("filter_failure")(_unrecorded_filter(unrecorded))

    scenarios: list[ScenarioResult] = []
    fatal = ""
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            scenarios.append(_scenario(event))
        elif isinstance(event, events.NonFatalError):
            scenarios.append(
                ScenarioResult(
                    str(event.phase or ""),
                    event.label,
                    "errored",
                    0,
                    0.0,
                    message=str(event.info.message),
                )
            )
        elif isinstance(event, events.FatalError):
            fatal = f"{type(event.exception).__name__}: {event.exception}"

    outcome = _overall(scenarios, fatal)
    elapsed = time.perf_counter() - started
    message = fatal
    if unrecorded:
        message += (
            f"{len(unrecorded)} valid request(s) had no recording "
            f"(the fixture mock answered {UNRECORDED_STATUS}), e.g. {unrecorded[0]}"
        )
    return TargetResult(
        target.name, target.contract.name, outcome, tuple(scenarios), elapsed, message
    )


def _unrecorded_filter(unrecorded: list[str]) -> Callable[..., bool]:
    """A failure filter for fixture mocks: "no recording" is not a failure.

    The guard refuses every request the contract does not allow, so a
    request that reaches the fixture lookup is valid; when no recording
    matches it, the mock answers 599. That says nothing about the contract,
    so it is counted in the target's message instead of failing the run.
    """

    def keep(context: Any, failure: Any, case: Any, response: Any) -> bool:
        if response.status_code != UNRECORDED_STATUS:
            return True
        unrecorded.append(f"{case.method} {case.formatted_path}")
        return False

    return keep


def _headers_of(target: Target) -> dict[str, str]:
    """The target's headers; from a thread when a loop already runs here
    (the CI gate calls this from async code)."""
    if target.headers is None:
        return {}
    source = target.headers
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(source())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(source())).result()


def _overall(scenarios: Sequence[ScenarioResult], fatal: str) -> Outcome:
    if fatal or any(s.outcome == "errored" for s in scenarios):
        return "errored"
    if any(s.outcome == "failed" for s in scenarios):
        return "failed"
    if scenarios and all(s.outcome == "skipped" for s in scenarios):
        return "skipped"
    return "passed"


def _config(
    target: Target, options: RunOptions, headers: dict[str, str]
) -> SchemathesisConfig:
    checks: dict[str, Any] = {"enabled": False}
    checks.update({name: {"enabled": True} for name in CHECKS})
    fuzz_mode = "all" if target.generate_positive else "negative"
    return SchemathesisConfig.from_dict(
        {
            "seed": options.seed,
            "headers": headers,
            "request-timeout": options.request_timeout,
            "generation": {
                "max-examples": options.max_examples,
                "database": "none",
                "deterministic": True,
            },
            "phases": {
                "examples": {"enabled": True},
                # The coverage phase enumerates every boundary of every
                # parameter: hundreds of requests for open-meteo alone, too
                # many for `make test`; fuzzing covers the same ground, seeded.
                "coverage": {"enabled": False},
                "fuzzing": {"enabled": True, "generation": {"mode": fuzz_mode}},
                "stateful": {
                    "enabled": target.stateful and not target.read_only,
                    "max-steps": options.max_steps,
                },
            },
            "checks": checks,
        }
    )


def _scenario(event: events.ScenarioFinished) -> ScenarioResult:
    recorder = event.recorder
    failures = []
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            interaction = recorder.interactions.get(case_id)
            response = interaction.response if interaction else None
            case = recorder.cases[case_id].value if case_id in recorder.cases else None
            request = f"{case.method} {case.formatted_path}" if case else "?"
            failures.append(
                CheckFailure(
                    check=check.name,
                    title=failure.title,
                    message=failure.message,
                    operation=failure.operation or recorder.label,
                    request=request,
                    status=response.status_code if response else None,
                )
            )
    outcome: Outcome = {
        "success": "passed",
        "failure": "failed",
        "skip": "skipped",
    }.get(str(event.status), "errored")  # type: ignore[assignment]
    if failures:
        outcome = "failed"
    return ScenarioResult(
        phase=str(event.phase),
        label=recorder.label or "stateful",
        outcome=outcome,
        cases=len(recorder.cases),
        elapsed=event.elapsed_time,
        failures=tuple(_unique(failures)),
        message=event.skip_reason or "",
    )


def _unique(failures: list[CheckFailure]) -> list[CheckFailure]:
    seen: dict[tuple[str, str, str], CheckFailure] = {}
    for failure in failures:
        seen.setdefault((failure.check, failure.title, failure.operation), failure)
    return list(seen.values())


def platform_mock_target(
    app: CognigyMock | None = None, contract: Contract | None = None
) -> Target:
    """The Integrations API contract against a (guarded) platform mock."""
    mock = app or CognigyMock()
    chosen = contract or load_contract("integrations-v1")
    # The platform answers a missing token with its own 401.
    guard(mock, chosen, check_credentials=False)

    async def bearer() -> dict[str, str]:
        form = {
            "grant_type": "client_credentials",
            "client_id": mock.client_id or DEMO_CLIENT_ID,
            "client_secret": mock.client_secret or DEMO_CLIENT_SECRET,
        }
        transport = httpx.ASGITransport(app=mock)
        async with httpx.AsyncClient(transport=transport, base_url=IN_PROCESS_URL) as c:
            response = await c.post(TOKEN_PATH, data=form)
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return Target("platform mock", chosen, app=mock, headers=bearer)


def cognigy_ai_mock_target(
    app: CognigyAiMock | None = None, contract: Contract | None = None
) -> Target:
    """The Cognigy.AI v2.0 contract against a (guarded) v2 mock, API key auth."""
    mock = app or CognigyAiMock()
    chosen = contract or load_contract("cognigy-ai-v2")
    guard(mock, chosen, check_credentials=False)

    async def api_key() -> dict[str, str]:
        # Without Accept: application/json the lists would come as HAL.
        return {"X-API-Key": mock.api_key, "Accept": "application/json"}

    return Target("cognigy.ai v2 mock", chosen, app=mock, headers=api_key)


def fixture_mock_target(
    name: str,
    contract: Contract,
    fixtures: FixtureFile,
    app: ExternalMock | None = None,
) -> Target:
    """An external contract against the mock replaying its recorded fixtures."""
    mock = app or ExternalMock(fixtures)
    guard(mock, contract)
    with_examples = with_fixture_examples(contract, fixtures)
    return Target(
        name, with_examples, app=mock, generate_positive=False, stateful=False
    )


def with_fixture_examples(contract: Contract, fixtures: FixtureFile) -> Contract:
    """A copy of `contract` whose explicit examples are the recorded requests."""
    document = copy.deepcopy(contract.document)
    copied = Contract(contract.name, document, contract.path, contract.overlays)
    for index, interaction in enumerate(fixtures.interactions):
        request = interaction.request
        operation = copied.find_operation(request.method, request.path)
        if operation is None:
            continue
        label = interaction.name or f"fixture-{index}"
        for _pointer, parameter in copied.parameters(operation):
            raw = (request.query or {}).get(parameter["name"])
            schema = copied.deref(parameter.get("schema", {}))
            if parameter["in"] == "query" and raw is not None:
                value = _coerce_parameter(schema, [raw], parameter)
                parameter.setdefault("examples", {})[label] = {"value": value}
            elif parameter["in"] == "query" and request.query is not None:
                # The example must be the recorded request itself; a default
                # filled in would make it one the mock has no recording for.
                schema.pop("default", None)
        if request.body is not None and "requestBody" in operation.spec:
            body = copied.deref(operation.spec["requestBody"])
            for media in body.get("content", {}).values():
                media.setdefault("examples", {})[label] = {"value": request.body}
    return copied


__all__ = [
    "CHECKS",
    "IN_PROCESS_URL",
    "CheckFailure",
    "ContractRun",
    "RunOptions",
    "ScenarioResult",
    "Target",
    "TargetResult",
    "fixture_mock_target",
    "platform_mock_target",
    "run_contract_checks",
    "with_fixture_examples",
]
