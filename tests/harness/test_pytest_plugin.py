"""The pytest plugin's markers and options, run through pytester."""

from __future__ import annotations

import pytest

from mocks import BackgroundServer, ExternalMock, load_fixture_file
from tests.conftest import INTEGRATIONS

# The inner runs get what the project's own configuration gives its tests.
INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
addopts = -p no:locust --strict-markers
"""

HEADER = f"""
import pytest

ACCOUNT = {str(INTEGRATIONS / "account-balance")!r}
BALANCE = {{"user_id": "u_998877", "query": "account_balance"}}
"""


def run_suite(pytester: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    pytester.makeini(INI)
    pytester.makepyfile(HEADER + body)
    return pytester.runpytest("-rs", *args)


def test_markers_and_options_are_registered(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)

    markers = pytester.runpytest("--markers").stdout.str()
    usage = pytester.runpytest("--help").stdout.str()

    for name in ("cognigy_integration", "cognigy_record", "cognigy_faults"):
        assert f"@pytest.mark.{name}(" in markers
    assert "--record-mode={none,once,new_episodes,all}" in usage
    assert "--live" in usage


def test_a_test_without_the_integration_mark_is_told_what_to_add(
    pytester: pytest.Pytester,
) -> None:
    result = run_suite(
        pytester,
        """
async def test_unmarked(cognigy_run):
    await cognigy_run({})
""",
    )

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.cognigy_integration(PATH)*"])


def test_fault_plan_and_scenario_marks_reach_the_external_mock(
    pytester: pytest.Pytester,
) -> None:
    result = run_suite(
        pytester,
        """
pytestmark = pytest.mark.cognigy_integration(ACCOUNT)

PLAN = {"rules": [{"method": "POST", "sequence": [{"status": 429, "retry_after": 1}]}]}


@pytest.mark.cognigy_faults(plan=PLAN)
async def test_plan(cognigy_run, cognigy_external):
    report = await cognigy_run(BALANCE)
    assert [a.outcome for a in report.attempt_outcomes] == [429, 200]
    assert len(cognigy_external.journal.entries) == 2


@pytest.mark.cognigy_faults(scenario="upstream-down")
async def test_scenario(cognigy_run):
    report = await cognigy_run(BALANCE)
    assert (report.status, report.attempts) == ("FAILURE", 3)


@pytest.mark.cognigy_faults(scenario="no-such-scenario")
async def test_unknown_scenario(cognigy_run):
    pass
""",
    )

    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*scenario 'no-such-scenario' is not in*known:*"])


def test_record_mark_replays_another_fixture_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        other_fixtures="""
version: 1
interactions:
  - request: {method: POST, path: /v1/data}
    response:
      status: 200
      body: {data: {result: {balance: 7}}}
""",
    )
    result = run_suite(
        pytester,
        """
@pytest.mark.cognigy_integration(ACCOUNT)
@pytest.mark.cognigy_record(mode="none", fixtures="other_fixtures.yaml")
async def test_other(cognigy_run, cognigy_record_mode):
    report = await cognigy_run(BALANCE)
    assert cognigy_record_mode == "none"
    assert report.normalized_data == {"balance": 7}
""",
    )

    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("mode", ["none", "once"])
def test_record_modes_that_replay_use_the_recorded_fixtures(
    pytester: pytest.Pytester, mode: str
) -> None:
    result = run_suite(
        pytester,
        """
@pytest.mark.cognigy_integration(ACCOUNT)
async def test_balance(cognigy_run, cognigy_record_mode, cognigy_external):
    report = await cognigy_run(BALANCE)
    assert report.status == "SUCCESS"
    assert getattr(cognigy_external, "recorded", []) == []
""",
        f"--record-mode={mode}",
    )

    result.assert_outcomes(passed=1)


def test_record_mode_all_records_from_the_upstream_then_none_replays_it(
    pytester: pytest.Pytester,
) -> None:
    # A loopback server stands in for the live service.
    live = ExternalMock(
        load_fixture_file(INTEGRATIONS / "account-balance/fixtures.yaml")
    )
    suite = """
@pytest.mark.cognigy_integration(ACCOUNT)
@pytest.mark.cognigy_record(fixtures="recorded.yaml", upstream={upstream!r})
async def test_balance(cognigy_run):
    report = await cognigy_run(BALANCE)
    assert report.normalized_data["balance"] == 1523.75
"""
    with BackgroundServer(live) as server:
        recording = run_suite(
            pytester, suite.format(upstream=server.base_url), "--record-mode=all"
        )
    replay = pytester.runpytest("--record-mode=none")

    recording.assert_outcomes(passed=1)
    replay.assert_outcomes(passed=1)
    assert live.journal.total == 1, "recorded once, replayed without the server"
    written = (pytester.path / "recorded.yaml").read_text()
    assert "/v1/data" in written
    assert "demo-external-key" not in written, "the credential is scrubbed"


def test_recording_from_an_unreachable_upstream_fails_the_test(
    pytester: pytest.Pytester,
) -> None:
    result = run_suite(
        pytester,
        """
@pytest.mark.cognigy_integration(ACCOUNT)
@pytest.mark.cognigy_record(mode="all", upstream="http://127.0.0.1:9")
async def test_balance(cognigy_run):
    await cognigy_run(BALANCE)
""",
    )

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RecordingError*cannot reach http://127.0.0.1:9 (*"])


def test_live_without_credentials_skips_with_the_missing_names(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The project's conftest clears the credentials; a stray .env would not
    # be read either, since pytester runs in an empty folder.
    result = run_suite(
        pytester,
        """
pytestmark = pytest.mark.cognigy_integration(ACCOUNT)


async def test_pipeline_only(cognigy_run):
    await cognigy_run(BALANCE)


def test_journals(cognigy_external):
    pass
""",
        "--live",
    )

    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*--live needs COGNIGY_TENANT_URL, COGNIGY_CLIENT_ID, "
            "COGNIGY_CLIENT_SECRET, EXTERNAL_API_KEY*",
            "*--live: this test asserts on the mocks*",
        ]
    )


def test_live_on_the_cognigy_ai_profile_names_what_that_profile_needs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGNIGY_PLATFORM", "cognigy-ai-v2")
    monkeypatch.setenv("EXTERNAL_API_KEY", "qa-key")
    result = run_suite(
        pytester,
        """
@pytest.mark.cognigy_integration(ACCOUNT)
async def test_pipeline_only(cognigy_run):
    await cognigy_run(BALANCE)
""",
        "--live",
    )

    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*--live needs COGNIGY_API_URL, COGNIGY_API_KEY (or COGNIGY_CLIENT_ID*"]
    )


def test_live_with_credentials_uses_the_configured_tenant(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGNIGY_TENANT_URL", "https://tenant.example.invalid")
    monkeypatch.setenv("COGNIGY_CLIENT_ID", "qa-client")
    monkeypatch.setenv("COGNIGY_CLIENT_SECRET", "qa-secret")
    monkeypatch.setenv("EXTERNAL_API_KEY", "qa-key")
    result = run_suite(
        pytester,
        """
pytestmark = pytest.mark.cognigy_integration(ACCOUNT)


def test_settings(cognigy_settings):
    assert str(cognigy_settings.cognigy_tenant_url).startswith(
        "https://tenant.example.invalid"
    )
    assert cognigy_settings.audit_log_path.name == "cognigy-audit.jsonl"
""",
        "--live",
    )

    result.assert_outcomes(passed=1)
