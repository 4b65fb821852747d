"""The audit log: tamper-evident JSON lines, appended under a file lock.

Every entry carries the format version, a sequence number and the hash of
the entry before it; its own `hash` is SHA-256 over its canonical JSON, or
HMAC-SHA256 when a key is set (an unkeyed chain can be recomputed by whoever
edits the file on purpose; a keyed one cannot without the key). A head file
beside the log (`FILE.head`), rewritten under the same lock, holds the last
sequence number and hash, so a dropped tail is found as well as an edited,
deleted, inserted or reordered line. `verify_log` checks all of it.

Writers in several processes share the log: each entry is one `write` under
the lock. A writer that crashed mid-write leaves at most one incomplete last
line; the next writer moves it to `FILE.torn` (never deletes it) and chains
its entry to the last complete one.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import jsonschema_rs
from filelock import FileLock, Timeout
from pydantic import SecretStr

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.settings import HarnessSettings

logger = logging.getLogger(__name__)

EVENT = "INTEGRATION_EXECUTION"
ACTION = "EXECUTE_EXTERNAL_API"
FORMAT_VERSION = 1
#: The `prev_hash` of the first entry.
GENESIS_HASH = "0" * 64
SCHEMA_FILE = "audit-entry.schema.json"

Durability = Literal["fsync", "group"]

# How far back a writer reads to find the last complete line.
_TAIL_CHUNK = 8192
# The head record's fixed size: room for the JSON, padded with spaces.
_HEAD_BYTES = 160
# filelock polls for a held lock; its 50 ms default starves busy writers.
_LOCK_POLL_SECONDS = 0.002


class AuditError(HarnessError):
    """The audit log cannot be written or verified as asked."""

    kind = "audit_error"


def utc_now() -> str:
    """An ISO-8601 UTC timestamp with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def canonical_json(data: Any) -> bytes:
    """The one byte form a hash is computed over: sorted keys, no spaces."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def entry_hash(entry: dict[str, Any], key: SecretStr | None) -> str:
    """The hex digest of an entry without its own `hash` field."""
    data = canonical_json({k: v for k, v in entry.items() if k != "hash"})
    if key is None:
        return hashlib.sha256(data).hexdigest()
    secret = key.get_secret_value().encode("utf-8")
    return hmac.new(secret, data, hashlib.sha256).hexdigest()


def head_path(path: Path) -> Path:
    """The head file of a log: its last sequence number and hash."""
    return path.with_name(path.name + ".head")


def torn_path(path: Path) -> Path:
    """Where incomplete last lines left by crashed writers are kept."""
    return path.with_name(path.name + ".torn")


@functools.cache
def entry_validator() -> Any:
    """A validator for the audit-entry JSON Schema shipped in `contracts`."""
    text = resources.files("contracts").joinpath(SCHEMA_FILE).read_text("utf-8")
    return jsonschema_rs.validator_for(json.loads(text))


@dataclass(frozen=True)
class ChainTip:
    """Where the chain ends: the next entry links to this."""

    seq: int
    hash: str
    prev_hash: str = ""


GENESIS = ChainTip(0, GENESIS_HASH)


def read_head(path: Path) -> ChainTip | None:
    """The head file of a log, or None when there is none or it is unreadable."""
    try:
        data = json.loads(head_path(path).read_bytes())
        return ChainTip(int(data["seq"]), str(data["hash"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        logger.warning("audit head file %s is unreadable", head_path(path))
        return None


def _parse_tip(line: bytes | None) -> ChainTip | None:
    if line is None:
        return None
    try:
        entry = json.loads(line)
        return ChainTip(int(entry["seq"]), str(entry["hash"]), str(entry["prev_hash"]))
    except (ValueError, KeyError, TypeError):
        return None


def _read_tail(fd: int) -> tuple[bytes | None, int, int]:
    """The last complete line, the offset where complete lines end, the size.

    Bytes after the last newline are what a crashed writer left behind.
    """
    size = os.fstat(fd).st_size
    buffer = b""
    position = size
    while position > 0 and buffer.count(b"\n") < 2:
        step = min(_TAIL_CHUNK, position)
        position -= step
        buffer = os.pread(fd, step, position) + buffer

    last_newline = buffer.rfind(b"\n")
    if last_newline < 0:
        return None, 0, size
    start = buffer.rfind(b"\n", 0, last_newline) + 1
    return buffer[start:last_newline], position + last_newline + 1, size


def _write_all(fd: int, data: bytes) -> None:
    # A regular file takes it in one write; the loop only covers a short
    # write (disk nearly full), which then reads as one torn line.
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class AuditLog:
    """Append-only, hash-chained JSON lines, safe with concurrent writers.

    Args:
        path: the log file; `FILE.head`, `FILE.lock` and `FILE.torn` sit
            beside it.
        hmac_key: keys the chain (HMAC-SHA256); verify then needs the key.
        durability: `fsync` puts each entry (and the head) on disk before
            `record` returns; `group` does so every `group_commit_entries`
            entries and on `close`, trading the last few entries on a power
            loss for throughput. A process crash loses nothing in either mode.
        group_commit_entries: the group size of `group` durability.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        hmac_key: SecretStr | None = None,
        durability: Durability = "fsync",
        group_commit_entries: int = 100,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.hmac_key = hmac_key
        self.durability = durability
        self.group_commit_entries = group_commit_entries
        self._lock = FileLock(str(self.path) + ".lock")
        self._thread_lock = threading.Lock()
        self._uncommitted = 0

    @classmethod
    def from_settings(
        cls, settings: HarnessSettings, path: Path | None = None
    ) -> AuditLog:
        """The audit log the settings describe (`path` overrides theirs)."""
        return cls(
            path or settings.audit_log_path,
            hmac_key=settings.audit_hmac_key,
            durability=settings.audit_durability,
            group_commit_entries=settings.audit_group_commit_entries,
        )

    def record(
        self,
        *,
        integration_id: str | None,
        status: str,
        latency_ms: float,
        integration_name: str | None = None,
        error_type: str | None = None,
        attempts: int | None = None,
    ) -> dict[str, Any]:
        """Append one execution entry, chained to the last one, and return it."""
        entry: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "seq": 0,
            "event": EVENT,
            "integration_id": integration_id,
            "integration_name": integration_name,
            "action": ACTION,
            "status": status,
            "latency_ms": round(latency_ms, 3),
            "error_rate_impact": 0 if status == "SUCCESS" else 1,
            "error_type": error_type,
            "attempts": attempts,
            "logged_at": utc_now(),
            "chain": "sha256" if self.hmac_key is None else "hmac-sha256",
            "prev_hash": "",
        }
        if attempts is None:
            del entry["attempts"]
        with self._thread_lock, self._lock.acquire(poll_interval=_LOCK_POLL_SECONDS):
            self._append(entry)
        return entry

    async def arecord(self, **fields: Any) -> dict[str, Any]:
        """`record` in a worker thread, so a waiting lock or fsync never
        blocks the event loop."""
        return await asyncio.to_thread(lambda: self.record(**fields))

    def _append(self, entry: dict[str, Any]) -> None:
        """Link the entry to the tip and write it; the caller holds the lock."""
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            last_line, complete_end, size = _read_tail(fd)
            if complete_end < size:
                self._set_aside(fd, complete_end, size)
            tip = self._tip(last_line)

            entry["seq"] = tip.seq + 1
            entry["prev_hash"] = tip.hash
            entry["hash"] = entry_hash(entry, self.hmac_key)
            line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
            _write_all(fd, line.encode("utf-8") + b"\n")
            self._commit(fd, ChainTip(entry["seq"], entry["hash"]))
        finally:
            os.close(fd)

    def _tip(self, last_line: bytes | None) -> ChainTip:
        """The entry the next one links to.

        The head file wins over the log's last line, so a tail dropped from
        the log stays visible to `verify` instead of being papered over. The
        one exception is a head exactly one entry behind a line that chains
        to it: a writer stopped between writing its line and its head.
        """
        last = _parse_tip(last_line)
        head = read_head(self.path)
        if head is None:
            if last_line is not None and last is None:
                logger.warning("audit log %s ends in an unreadable line", self.path)
            return last or GENESIS
        lagging = last is not None and last.seq == head.seq + 1
        if lagging and last is not None and last.prev_hash == head.hash:
            return last
        if last is None or (last.seq, last.hash) != (head.seq, head.hash):
            logger.warning(
                "audit log %s does not end where its head says (seq %d); "
                "continuing from the head: run `cognigy-harness audit verify`",
                self.path,
                head.seq,
            )
        return head

    def _set_aside(self, fd: int, start: int, size: int) -> None:
        """Move a crashed writer's incomplete line to the side file."""
        torn = os.pread(fd, size - start, start)
        side = torn_path(self.path)
        with side.open("ab") as handle:
            handle.write(torn + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.ftruncate(fd, start)
        logger.warning(
            "audit log %s ended in an incomplete line (%d bytes): moved to %s",
            self.path,
            len(torn),
            side,
        )

    def _commit(self, fd: int, tip: ChainTip) -> None:
        """Write the head; fsync both now or when the group is full."""
        self._uncommitted += 1
        durable = (
            self.durability == "fsync" or self._uncommitted >= self.group_commit_entries
        )
        if durable:
            os.fsync(fd)
            self._uncommitted = 0
        self._write_head(tip, durable=durable)

    def _write_head(self, tip: ChainTip, *, durable: bool) -> None:
        """Overwrite the head in place with one fixed-size write.

        A rename would be atomic too, but ext4 flushes data on every
        rename-over, which made it the slowest step of an append. The record
        is short and always the same size, so one `pwrite` at offset 0 is
        never seen half-done by a reader, and a crash leaves the old or the
        new head (a torn one reads as unreadable, and `verify` says so).
        """
        head = head_path(self.path)
        data = {"format_version": FORMAT_VERSION, "seq": tip.seq, "hash": tip.hash}
        record = canonical_json(data).ljust(_HEAD_BYTES - 1) + b"\n"
        created = not head.exists()
        fd = os.open(head, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, record, 0)
            os.ftruncate(fd, len(record))
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if durable and created:
            _fsync_directory(self.path.parent)

    def close(self) -> None:
        """Put any grouped entries on disk (nothing to do in `fsync` mode)."""
        with self._thread_lock, self._lock.acquire(poll_interval=_LOCK_POLL_SECONDS):
            if not self._uncommitted or not self.path.exists():
                return
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            tip = read_head(self.path)
            if tip is not None:
                self._write_head(tip, durable=True)
            self._uncommitted = 0

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]


def _fsync_directory(directory: Path) -> None:
    # A new head file is durable only once its directory entry is.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class AuditVerification:
    """What `verify_log` found: intact, or the first bad line and why."""

    path: Path
    entries: int
    bad_line: int | None = None
    reason: str = ""
    chain: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.bad_line is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "entries": self.entries,
            "bad_line": self.bad_line,
            "reason": self.reason,
            "chain": self.chain,
            "notes": self.notes,
        }


def verify_log(
    path: Path | str, *, hmac_key: SecretStr | None = None, check_head: bool = True
) -> AuditVerification:
    """Check every line's schema, sequence, link and hash, then the head.

    Args:
        path: the log; its head file is `FILE.head`.
        hmac_key: the key of a keyed chain. Given, every entry must be keyed.
        check_head: compare the last entry with the head file (a log copied
            without its head can still have its chain checked).

    Raises:
        AuditError: the log does not exist, or is keyed and no key was given.
    """
    path = Path(path)
    if path.is_dir():
        raise AuditError(f"{path} is a directory, not an audit log file")
    if not path.is_file():
        raise AuditError(f"{path}: no such audit log")
    head, size = _snapshot(path)
    state = _ChainCheck(hmac_key)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if size <= 0:
                break  # appended after the snapshot: not this check's business
            size -= len(raw)
            reason = state.check(raw)
            if reason:
                return AuditVerification(path, number - 1, number, reason, state.chain)
    found = AuditVerification(path, state.tip.seq, chain=state.chain)
    if not check_head:
        return found
    return _check_head(found, state.tip, head)


def _snapshot(path: Path) -> tuple[ChainTip | None, int]:
    """The head and the log's size, read together under the writers' lock.

    Writers may keep appending while a long log is checked; checking only
    the bytes that existed with that head keeps a fresh append from looking
    like a head that fell behind. A log copied where no lock file can be
    made (read-only) is read without the lock.
    """
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=10, poll_interval=_LOCK_POLL_SECONDS)
    except (OSError, Timeout):
        return read_head(path), path.stat().st_size
    try:
        return read_head(path), path.stat().st_size
    finally:
        lock.release()


class _ChainCheck:
    """Walks the chain line by line, remembering only the tip."""

    def __init__(self, hmac_key: SecretStr | None) -> None:
        self.hmac_key = hmac_key
        self.tip = GENESIS
        self.chain = ""

    def check(self, raw: bytes) -> str:
        """Why this line breaks the log, or "" when it extends the chain."""
        if not raw.endswith(b"\n"):
            return (
                "incomplete last line: a write was cut short; the next writer "
                "moves it to the .torn side file"
            )
        try:
            entry = json.loads(raw)
        except ValueError as exc:
            return f"not JSON ({exc})"
        error = next(iter(entry_validator().iter_errors(entry)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.instance_path) or "entry"
            return f"does not match the audit-entry schema: {where}: {error.message}"

        reason = self._link(entry)
        if reason:
            return reason
        self.tip = ChainTip(entry["seq"], entry["hash"], entry["prev_hash"])
        self.chain = entry["chain"]
        return ""

    def _link(self, entry: dict[str, Any]) -> str:
        expected = self.tip.seq + 1
        if entry["seq"] < expected:
            return (
                f"sequence number {entry['seq']} where {expected} was due: "
                "an entry was inserted or reordered"
            )
        if entry["seq"] > expected:
            return (
                f"sequence jumps from {self.tip.seq} to {entry['seq']}: "
                "entries were deleted or reordered"
            )
        if entry["prev_hash"] != self.tip.hash:
            return "does not link to the entry before: an entry was replaced"
        if entry["chain"] == "hmac-sha256" and self.hmac_key is None:
            raise AuditError("the log is keyed (hmac-sha256): set AUDIT_HMAC_KEY")
        if entry["chain"] == "sha256" and self.hmac_key is not None:
            return "entry is not keyed although the log is: an entry was replaced"
        key = self.hmac_key if entry["chain"] == "hmac-sha256" else None
        if not hmac.compare_digest(entry["hash"], entry_hash(entry, key)):
            return "hash does not match the content: the entry was edited"
        return ""


def _entries(count: int) -> str:
    return "1 entry" if count == 1 else f"{count} entries"


def _check_head(
    found: AuditVerification, last: ChainTip, head: ChainTip | None
) -> AuditVerification:
    """Compare the log's last entry with its head file."""
    path, count = found.path, found.entries
    if head is None:
        reason = (
            f"no head file {head_path(path).name}: a dropped tail cannot be "
            "ruled out (--no-head checks the chain alone)"
        )
        return AuditVerification(path, count, count + 1, reason, found.chain)
    if (head.seq, head.hash) == (last.seq, last.hash):
        return found
    if head.seq == last.seq - 1 and head.hash == last.prev_hash:
        note = "the head lags the last entry by one (a writer stopped between writes)"
        return AuditVerification(path, count, chain=found.chain, notes=[note])
    if head.seq > last.seq:
        reason = (
            f"the log ends at entry {last.seq} but its head says {head.seq}: "
            f"{_entries(head.seq - last.seq)} dropped from the tail"
        )
        return AuditVerification(path, count, count + 1, reason, found.chain)
    reason = (
        f"the head (entry {head.seq}) does not match the last entry "
        f"{last.seq}: entries were appended or replaced behind the writers' back"
    )
    bad = head.seq + 1 if head.seq < last.seq else max(count, 1)
    return AuditVerification(path, count, bad, reason, found.chain)
