"""`run --mock --fault SPEC`: every upstream fault reproduced from the command line.

Each case runs the account-balance example (a POST) in-process and checks the
verdict, the attempts, the typed error, and that the execution was recorded:
one audit entry and one webhook event, success or failure.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import mocks.environment
from harness.cli import main
from tests.conftest import INTEGRATIONS

EXAMPLE = INTEGRATIONS / "account-balance"
PAYLOAD = EXAMPLE / "samples" / "balance.payload.json"


class Run:
    """One CLI run: its exit code, the `--json` document and what was recorded."""

    def __init__(
        self, code: int, document: dict[str, Any], audit: Path, webhook: list[Any]
    ) -> None:
        self.code = code
        self.document = document
        self.audit = [json.loads(line) for line in audit.read_text().splitlines()]
        self.webhook_events = webhook

    @property
    def outcomes(self) -> list[Any]:
        return [a["outcome"] for a in self.document["attempt_outcomes"]]

    @property
    def error(self) -> dict[str, Any]:
        error: dict[str, Any] = self.document["error"]
        return error


@pytest.fixture
def run_fault(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Any:
    """Run `cognigy-harness run ... --mock --fault SPEC --json`."""
    environments: list[mocks.environment.MockEnvironment] = []

    class Recorded(mocks.environment.MockEnvironment):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            environments.append(self)

    # The CLI imports the environment at run time, so it gets this one.
    monkeypatch.setattr(mocks.environment, "MockEnvironment", Recorded)

    def run(spec: str, integration: Path = EXAMPLE, *, wait: bool = False) -> Run:
        if not wait:
            monkeypatch.setattr("harness.executor.backoff_sleep", _instant)
        audit = tmp_path / f"audit-{len(environments)}.jsonl"
        code = main(run_args(integration, spec, audit))
        document = json.loads(capsys.readouterr().out)
        return Run(code, document, audit, environments[-1].webhook.events)

    return run


def run_args(integration: Path, spec: str, audit: Path) -> list[str]:
    return [
        *("run", str(integration), "--payload", str(PAYLOAD), "--mock"),
        *("--fault", spec, "--json", "--audit-log", str(audit)),
    ]


async def _instant(seconds: float) -> None:
    return None


def copy_of_example(tmp_path: Path, **config: Any) -> Path:
    """The example with some config fields changed (a short timeout, say)."""
    target = tmp_path / "account-balance"
    shutil.copytree(EXAMPLE, target)
    path = target / "integration.yaml"
    definition = yaml.safe_load(path.read_text())
    definition["config"].update(config)
    path.write_text(yaml.safe_dump(definition, sort_keys=False))
    return target


def assert_recorded(run: Run, status: str) -> None:
    assert run.document["status"] == status
    assert [entry["status"] for entry in run.audit] == [status]
    assert [event["status"] for event in run.webhook_events] == [status]
    assert run.document["webhook_delivered"] is True


def assert_typed_failure(run: Run, kind: str, status: int | None) -> None:
    assert run.code == 1
    assert_recorded(run, "FAILURE")
    assert run.error["type"] == kind
    assert run.error["message"].strip()
    assert run.error.get("status") == status


def test_two_503s_then_success_takes_three_attempts(run_fault: Any) -> None:
    run = run_fault("503,503")
    assert run.code == 0
    assert_recorded(run, "SUCCESS")
    assert run.document["attempts"] == 3
    assert run.outcomes == [503, 503, 200]
    assert run.document["normalized_data"]["balance"] == 1523.75


def test_three_503s_fail_with_the_real_status_after_three_attempts(
    run_fault: Any,
) -> None:
    run = run_fault("503,503,503")
    assert_typed_failure(run, "upstream_status", 503)
    assert run.document["attempts"] == 3
    assert run.error["attempts"] == 3
    assert "503" in run.error["message"]


def test_a_400_fails_after_one_attempt(run_fault: Any) -> None:
    run = run_fault("400")
    assert_typed_failure(run, "upstream_status", 400)
    assert run.outcomes == [400]


def test_retry_after_one_second_is_really_waited(run_fault: Any) -> None:
    run = run_fault("429:retry-after=1", wait=True)
    assert run.code == 0
    assert_recorded(run, "SUCCESS")
    first, second = run.document["attempt_outcomes"]
    assert (first["outcome"], second["outcome"]) == (429, 200)
    assert second["started_ms"] - first["started_ms"] >= 1000


def test_a_retry_after_date_above_the_cap_fails_fast(run_fault: Any) -> None:
    run = run_fault("429:retry-after-date=+300")
    assert_typed_failure(run, "upstream_status", 429)
    assert run.outcomes == [429]
    assert "above the cap" in run.error["message"]


def test_html_502_pages_are_a_typed_error_keeping_502(run_fault: Any) -> None:
    run = run_fault("html,html,html")
    assert_typed_failure(run, "upstream_status", 502)
    # A POST without an Idempotency-Key is not retried after a 502.
    assert run.outcomes == [502]
    assert "idempotency_key" in run.error["message"]
    assert "Bad Gateway" in run.error["body_excerpt"]


def test_html_502_pages_are_retried_with_an_idempotency_key(
    run_fault: Any, tmp_path: Path
) -> None:
    run = run_fault("html,html,html", copy_of_example(tmp_path, idempotency_key=True))
    assert_typed_failure(run, "upstream_status", 502)
    assert run.outcomes == [502, 502, 502]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("empty", "empty body"),
        ("badjson", "invalid JSON"),
        ("wrong-content-type", "text/plain"),
        ("truncated", "invalid JSON"),
    ],
)
def test_bodies_that_are_not_json_are_a_typed_error_keeping_the_status(
    run_fault: Any, spec: str, reason: str
) -> None:
    run = run_fault(spec)
    assert_typed_failure(run, "invalid_response", 200)
    assert run.outcomes == [200]
    assert reason in run.error["message"]


def test_timeouts_are_a_typed_error_that_says_what_timed_out(
    run_fault: Any, tmp_path: Path
) -> None:
    run = run_fault(
        "timeout,timeout,timeout", copy_of_example(tmp_path, timeout_seconds=1)
    )
    assert_typed_failure(run, "timeout", None)
    # The POST was sent: without an Idempotency-Key it is not sent again.
    assert run.outcomes == ["timeout"]
    assert "POST https://api.external-service.com/v1/data" in run.error["message"]
    assert "within 1 s" in run.error["message"]


def test_a_reset_connection_is_a_typed_error(run_fault: Any) -> None:
    run = run_fault("reset")
    assert_typed_failure(run, "connection_error", None)


def test_a_redirect_is_refused_by_default(run_fault: Any) -> None:
    run = run_fault("302:location=https://elsewhere.example/x")
    assert_typed_failure(run, "invalid_response", 302)
    assert "max_redirects" in run.error["message"]
    # The request was sent and answered: one attempt, recorded everywhere.
    assert run.outcomes == [302]
    assert run.document["attempt_outcomes"][0]["latency_ms"] > 0
    assert run.document["attempts"] == 1
    assert [entry["attempts"] for entry in run.audit] == [1]


def test_the_grammar_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for form in ("429:retry-after=2", "retry-after-date=+2", "timeout", "badjson"):
        assert form in out


def test_a_bad_spec_is_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    code = main(run_args(EXAMPLE, "503,teapot", audit))
    assert code == 2
    assert "teapot" in capsys.readouterr().err
    assert not audit.exists()


def test_the_embedded_mocks_work_whatever_the_transport_setting(
    run_fault: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_TRANSPORT", "aiohttp")
    run = run_fault("503")
    assert run.code == 0
    assert run.outcomes == [503, 200]
