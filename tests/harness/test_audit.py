"""The tamper-evident audit log: chain, head file, torn lines, many writers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from harness.audit import (
    GENESIS_HASH,
    AuditError,
    AuditLog,
    canonical_json,
    entry_hash,
    entry_validator,
    head_path,
    torn_path,
    verify_log,
)
from harness.cli import main

KEY = SecretStr("audit-test-key")


def write_entries(path: Path, count: int, **options: object) -> AuditLog:
    log = AuditLog(path, **options)  # type: ignore[arg-type]
    for index in range(count):
        log.record(
            integration_id=f"int_{index}",
            integration_name="account-balance",
            status="SUCCESS" if index % 3 else "FAILURE",
            latency_ms=10.0 + index,
            error_type=None if index % 3 else "upstream_status",
            attempts=1,
        )
    return log


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def rewrite(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines), encoding="utf-8")


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    write_entries(path, 8)
    return path


def test_an_intact_log_verifies_and_every_entry_matches_the_schema(
    log_path: Path,
) -> None:
    result = verify_log(log_path)

    assert result.ok, result.reason
    assert result.entries == 8
    entries = [json.loads(line) for line in lines_of(log_path)]
    assert [e["seq"] for e in entries] == list(range(1, 9))
    assert entries[0]["prev_hash"] == GENESIS_HASH
    assert all(entry_validator().is_valid(e) for e in entries)
    assert json.loads(head_path(log_path).read_text())["seq"] == 8


def _edit(lines: list[str]) -> list[str]:
    entry = json.loads(lines[4])
    entry["status"] = "SUCCESS" if entry["status"] == "FAILURE" else "FAILURE"
    return [*lines[:4], json.dumps(entry) + "\n", *lines[5:]]


def _delete(lines: list[str]) -> list[str]:
    return [*lines[:4], *lines[5:]]


def _insert(lines: list[str]) -> list[str]:
    return [*lines[:5], lines[2], *lines[5:]]


def _reorder(lines: list[str]) -> list[str]:
    return [*lines[:4], lines[5], lines[4], *lines[6:]]


def _replace_link(lines: list[str]) -> list[str]:
    # A well-formed entry with the right sequence number but a forged link.
    entry = json.loads(lines[4])
    entry["prev_hash"] = "f" * 64
    entry["hash"] = entry_hash(entry, None)
    return [*lines[:4], json.dumps(entry) + "\n", *lines[5:]]


def _garble(lines: list[str]) -> list[str]:
    return [*lines[:4], "{not json\n", *lines[5:]]


def _schema_break(lines: list[str]) -> list[str]:
    entry = json.loads(lines[4])
    entry["client_secret"] = "leaked"
    return [*lines[:4], json.dumps(entry) + "\n", *lines[5:]]


@pytest.mark.parametrize(
    ("tamper", "bad_line", "words"),
    [
        (_edit, 5, "edited"),
        (_delete, 5, "deleted"),
        (_insert, 6, "inserted"),
        (_reorder, 5, "deleted or reordered"),
        (_replace_link, 5, "does not link"),
        (_garble, 5, "not JSON"),
        (_schema_break, 5, "schema"),
    ],
)
def test_each_kind_of_tampering_names_the_first_bad_line(
    log_path: Path,
    capsys: pytest.CaptureFixture[str],
    tamper: object,
    bad_line: int,
    words: str,
) -> None:
    rewrite(log_path, tamper(lines_of(log_path)))  # type: ignore[operator]

    result = verify_log(log_path)
    code = main(["audit", "verify", str(log_path)])

    assert not result.ok
    assert result.bad_line == bad_line
    assert words in result.reason
    assert code == 1
    assert f"{log_path}:{bad_line}:" in capsys.readouterr().out


def test_a_dropped_tail_is_caught_by_the_head_file(log_path: Path) -> None:
    rewrite(log_path, lines_of(log_path)[:6])

    result = verify_log(log_path)

    assert result.bad_line == 7
    assert "2 entries dropped from the tail" in result.reason
    assert verify_log(log_path, check_head=False).ok, "the chain alone is intact"


def test_one_dropped_entry_is_counted_in_the_singular(log_path: Path) -> None:
    rewrite(log_path, lines_of(log_path)[:7])

    assert "1 entry dropped from the tail" in verify_log(log_path).reason


def test_a_writer_after_a_dropped_tail_keeps_the_gap_visible(log_path: Path) -> None:
    rewrite(log_path, lines_of(log_path)[:6])

    write_entries(log_path, 1)

    result = verify_log(log_path)
    assert result.bad_line == 7
    assert "jumps from 6 to 9" in result.reason


def test_a_log_without_its_head_fails_unless_asked_not_to_check_it(
    log_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head_path(log_path).unlink()

    assert "no head file" in verify_log(log_path).reason
    assert main(["audit", "verify", "--no-head", str(log_path)]) == 0
    assert "ok, 8 entries" in capsys.readouterr().out


def test_a_torn_last_line_is_reported_then_moved_aside_by_the_next_writer(
    log_path: Path,
) -> None:
    # What a writer killed in the middle of its write leaves behind.
    fragment = '{"format_version":1,"seq":9,"event":"INTEGR'
    with log_path.open("a", encoding="utf-8") as handle:
        handle.write(fragment)

    torn = verify_log(log_path)
    assert torn.bad_line == 9
    assert "incomplete last line" in torn.reason

    write_entries(log_path, 1)

    assert torn_path(log_path).read_text(encoding="utf-8") == fragment + "\n"
    healed = verify_log(log_path)
    assert healed.ok, healed.reason
    assert healed.entries == 9


def test_a_head_one_entry_behind_is_a_crash_between_writes_not_tampering(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    write_entries(path, 3)
    head_before = head_path(path).read_bytes()
    write_entries(path, 1)
    head_path(path).write_bytes(head_before)

    lagging = verify_log(path)
    assert lagging.ok
    assert "lags" in lagging.notes[0]

    write_entries(path, 1)
    assert verify_log(path).ok
    assert verify_log(path).entries == 5


def test_a_keyed_chain_catches_a_recomputed_forgery(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_entries(path, 5, hmac_key=KEY)
    forged = _forge_status_and_rehash(lines_of(path), index=3)
    rewrite(path, forged)

    result = verify_log(path, hmac_key=KEY)

    assert result.bad_line == 4
    assert "edited" in result.reason
    with pytest.raises(AuditError, match="AUDIT_HMAC_KEY"):
        verify_log(path)


def test_an_unkeyed_chain_can_be_recomputed_by_a_deliberate_editor(
    tmp_path: Path,
) -> None:
    # The documented limit: without a key, rehashing every later entry hides
    # an edit from the chain; the head file only catches it when not updated.
    path = tmp_path / "audit.jsonl"
    write_entries(path, 5)
    forged = _forge_status_and_rehash(lines_of(path), index=3)
    rewrite(path, forged)
    last = json.loads(forged[-1])
    head_path(path).write_bytes(canonical_json({"seq": 5, "hash": last["hash"]}))

    assert verify_log(path).ok


def test_a_keyed_log_refuses_unkeyed_entries(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_entries(path, 2, hmac_key=KEY)
    write_entries(path, 1)

    result = verify_log(path, hmac_key=KEY)

    assert result.bad_line == 3
    assert "not keyed" in result.reason


def test_grouped_commits_keep_the_same_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = write_entries(path, 7, durability="group", group_commit_entries=3)
    log.close()

    result = verify_log(path)

    assert result.ok, result.reason
    assert result.entries == 7


def test_verify_of_a_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such audit log" in capsys.readouterr().err


_WRITER = """
import sys
from harness.audit import AuditLog
log = AuditLog(sys.argv[1])
for index in range(int(sys.argv[2])):
    log.record(integration_id=f"int_{sys.argv[3]}_{index}", status="SUCCESS",
               latency_ms=1.0, integration_name="load")
"""


def test_four_processes_writing_500_entries_each_leave_an_intact_chain(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    writers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", _WRITER, str(path), "500", str(n)]
        )
        for n in range(4)
    ]
    codes = [writer.wait(timeout=120) for writer in writers]

    assert codes == [0, 0, 0, 0]
    result = verify_log(path)
    assert result.ok, result.reason
    assert result.entries == 2000
    ids = {json.loads(line)["integration_id"] for line in lines_of(path)}
    assert len(ids) == 2000, "no entry lost or written twice"


def _forge_status_and_rehash(lines: list[str], *, index: int) -> list[str]:
    """Edit one entry and recompute every later hash without the key."""
    entries = [json.loads(line) for line in lines]
    entries[index]["status"] = "SUCCESS"
    entries[index]["error_rate_impact"] = 0
    previous = entries[index - 1]["hash"]
    for entry in entries[index:]:
        entry["prev_hash"] = previous
        entry["hash"] = entry_hash(entry, None)
        previous = entry["hash"]
    return [json.dumps(entry) + "\n" for entry in entries]


_RUNAWAY = """
import sys
from harness.audit import AuditLog
log = AuditLog(sys.argv[1], durability="group")
log.record(integration_id="int_run", status="SUCCESS", latency_ms=1.0)
print("started", flush=True)
while True:
    log.record(integration_id="int_run", status="SUCCESS", latency_ms=1.0)
"""


def test_verify_during_appends_and_after_the_writer_is_killed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    writer = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _RUNAWAY, str(path)], stdout=subprocess.PIPE
    )
    assert writer.stdout is not None
    writer.stdout.readline()
    writer.stdout.close()
    try:
        # Checked while the writer appends: each check sees a consistent
        # snapshot (head and size taken together), never a false alarm.
        during = []
        until = time.monotonic() + 0.5
        while time.monotonic() < until:
            during.append(verify_log(path))
    finally:
        writer.kill()
        writer.wait(timeout=30)

    assert all(r.ok for r in during), [r.reason for r in during if not r.ok]
    assert during[-1].entries > during[0].entries, "the writer was appending"
    after_crash = verify_log(path)
    assert after_crash.ok or "incomplete last line" in after_crash.reason
    write_entries(path, 1)
    result = verify_log(path)
    assert result.ok, result.reason
