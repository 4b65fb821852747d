"""The command line, run in-process through `main`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from tests.conftest import INTEGRATIONS


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def test_demo_prints_id_data_and_audit_entry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_cli(capsys, "demo")
    assert code == 0
    assert "int_" in out
    assert '"balance": 1523.75' in out
    assert "INTEGRATION_EXECUTION" in out


def test_demo_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "demo", "--json")
    document = json.loads(out)

    assert code == 0
    assert document["integration_id"].startswith("int_")
    assert document["status"] == "SUCCESS"
    assert document["attempts"] == 1
    assert document["attempt_outcomes"][0]["outcome"] == 200
    assert document["latency_ms"] > 0
    assert document["normalized_data"]["currency"] == "EUR"
    assert document["audit_log"]["event"] == "INTEGRATION_EXECUTION"
    assert document["error"] is None


def test_run_with_mock_and_a_failing_payload_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    payload = tmp_path / "p.json"
    payload.write_text('{"query": "unsupported"}')
    audit = tmp_path / "audit.jsonl"

    code, out = run_cli(
        capsys,
        "run",
        str(INTEGRATIONS / "account-balance"),
        "--payload",
        str(payload),
        "--mock",
        "--json",
        "--audit-log",
        str(audit),
    )

    document = json.loads(out)
    assert code == 1
    assert document["status"] == "FAILURE"
    assert document["error"]["status"] == 400
    assert document["error"]["message"]
    assert json.loads(audit.read_text())["status"] == "FAILURE"


def test_run_fault_sequence_is_retried_to_success(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Backoff waits are not what this test is about.
    monkeypatch.setattr("harness.executor.backoff_sleep", _instant)
    code, out = run_cli(
        capsys,
        "run",
        str(INTEGRATIONS / "account-balance" / "integration.yaml"),
        "--payload",
        str(INTEGRATIONS / "account-balance" / "samples" / "balance.payload.json"),
        "--mock",
        "--fault",
        "503,503",
        "--json",
    )
    document = json.loads(out)
    assert code == 0
    assert [a["outcome"] for a in document["attempt_outcomes"]] == [503, 503, 200]


async def _instant(seconds: float) -> None:
    return None


def test_validate_accepts_the_examples_without_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_cli(
        capsys,
        "validate",
        str(INTEGRATIONS / "account-balance"),
        str(INTEGRATIONS / "weather-forecast" / "integration.yaml"),
    )
    assert code == 0, out
    assert out.count(": ok") == 2


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "integration.yaml"
    path.write_text(text)
    return path


BASE = """\
name: {name}
bot_id: bot_1
config:
  url: {url}
  timeout_seconds: {timeout}
"""


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"url": "http://api.example.com/x"}, "config.url"),
        ({"timeout": 0}, "config.timeout_seconds"),
        ({"timeout": 121}, "config.timeout_seconds"),
        ({"name": "ab"}, "name"),
    ],
)
def test_validate_refuses_and_names_the_field(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    values: dict[str, object],
    field: str,
) -> None:
    fields = {"name": "valid-name", "url": "https://api.example.com/x", "timeout": 10}
    path = _write(tmp_path, BASE.format(**(fields | values)))

    code, out = run_cli(capsys, "validate", str(path))

    assert code == 1
    assert f"{path}: {field}:" in out


@pytest.mark.parametrize("method_first", [True, False])
def test_validate_refuses_get_with_body_in_either_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, method_first: bool
) -> None:
    config: dict[str, object] = {"url": "https://api.example.com/x"}
    mapping = {"body": {"$input": "bot.payload"}}
    if method_first:
        config |= {"method": "GET", "request_mapping": mapping}
    else:
        config |= {"request_mapping": mapping, "method": "GET"}
    text = yaml.safe_dump(
        {"name": "get-body", "bot_id": "b", "config": config}, sort_keys=False
    )
    path = _write(tmp_path, text)

    code, out = run_cli(capsys, "validate", str(path))

    assert code == 1
    assert "config" in out
    assert "request_mapping.body" in out


def test_validate_reports_yaml_syntax_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _write(tmp_path, "name: [unclosed\n")
    code, out = run_cli(capsys, "validate", str(path))
    assert code == 1
    assert "invalid YAML" in out


def test_demo_on_cognigy_ai_v2_prints_the_node_and_connection_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_cli(capsys, "demo", "--platform", "cognigy-ai-v2")

    node = re.search(r"node id:\s+([0-9a-f]{24})", out)
    connection = re.search(r"connection id:\s+([0-9a-f]{24})", out)
    assert code == 0, out
    assert node is not None
    assert connection is not None
    assert f'"integration_id": "{node.group(1)}"' in out
    assert '"status": "in_transit"' in out


def test_run_on_cognigy_ai_v2_refuses_a_bearer_token_with_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_cli(
        capsys,
        "run",
        str(INTEGRATIONS / "account-balance"),
        "--payload",
        str(INTEGRATIONS / "account-balance/samples/balance.payload.json"),
        "--mock",
        "--platform",
        "cognigy-ai-v2",
        "--json",
    )
    document = json.loads(out)

    assert code == 1
    assert document["error"]["type"] == "registration_refused"
    assert "bearer" in document["error"]["message"]
    assert document["registration"] is None
    assert document["audit_log"]["status"] == "FAILURE"


def test_demo_json_on_cognigy_ai_v2_carries_the_registration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_cli(capsys, "demo", "--platform", "cognigy-ai-v2", "--json")
    document = json.loads(out)

    registration = document["registration"]
    assert code == 0
    assert registration["id"] == document["integration_id"]
    assert re.fullmatch(r"[0-9a-f]{24}", registration["connection_id"])
    assert re.fullmatch(r"[0-9a-f]{24}", registration["flow_id"])
