"""Step 5: report each execution's status to the webhook, without ever failing it.

Each event has a stable `event_id`, sent as the `Idempotency-Key` header on
every delivery attempt, so a receiver can drop a repeat. With a signing
secret (`WEBHOOK_SIGNING_SECRET`) each attempt also carries

    X-Cognigy-Harness-Timestamp: <unix seconds>
    X-Cognigy-Harness-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

over the exact body bytes sent; `verify_signature` is the receiver's check.

An event the webhook does not take (down, refused, unreachable) goes to a
durable outbox, a JSON-lines file next to the audit log, and is redelivered
with exponential backoff on later runs or by `cognigy-harness webhook flush`.
Delivery is at least once: a process that dies after the receiver took an
event but before the outbox forgot it sends it again, with the same id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from filelock import FileLock, Timeout
from pydantic import SecretStr

from harness.errors import HarnessError

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
TIMESTAMP_HEADER = "X-Cognigy-Harness-Timestamp"
SIGNATURE_HEADER = "X-Cognigy-Harness-Signature"
#: How old a signed delivery may be before a receiver refuses it (replays).
SIGNATURE_TOLERANCE_SECONDS = 300
DELIVERY_TIMEOUT_SECONDS = 5.0

Clock = Callable[[], float]


def event_body(event: Mapping[str, Any]) -> bytes:
    """The exact bytes sent and signed: compact UTF-8 JSON."""
    text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def sign(secret: SecretStr, timestamp: int, body: bytes) -> str:
    """The signature header value of a body sent at `timestamp`."""
    key = secret.get_secret_value().encode("utf-8")
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def verify_signature(
    secret: SecretStr,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = SIGNATURE_TOLERANCE_SECONDS,
) -> str | None:
    """Why a delivery's signature is not valid, or None when it is.

    Args:
        headers: the request headers, looked up case-insensitively.
        tolerance: seconds a timestamp may lie from `now` either way.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    stamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not stamp or not given:
        return "unsigned delivery"
    try:
        timestamp = int(stamp)
    except ValueError:
        return "timestamp is not an integer"
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return "timestamp outside the tolerance: a replay or a skewed clock"
    if not hmac.compare_digest(given, sign(secret, timestamp, body)):
        return "signature does not match the body"
    return None


def redacted(url: str) -> str:
    """A webhook URL for logs: scheme and host only (paths often hold tokens)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/..."


@dataclass(frozen=True)
class Backoff:
    """Exponential waits between redeliveries: first, doubled, capped."""

    first_seconds: float = 2.0
    max_seconds: float = 600.0

    def __call__(self, failures: int) -> float:
        return float(
            min(self.first_seconds * 2 ** max(failures - 1, 0), self.max_seconds)
        )


@dataclass
class OutboxRecord:
    """An undelivered event and when to try it next."""

    event: dict[str, Any]
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str = ""

    @property
    def event_id(self) -> str:
        return str(self.event["event_id"])

    def to_json(self) -> bytes:
        data = {
            "event": self.event,
            "attempts": self.attempts,
            "next_attempt_at": round(self.next_attempt_at, 3),
            "last_error": self.last_error,
        }
        return event_body(data) + b"\n"


class Outbox:
    """Undelivered events in a JSON-lines file, shared by processes.

    Appends and rewrites happen under one file lock; a second lock lets only
    one process redeliver at a time, so no event is sent twice in parallel.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock")
        self.flush_lock = FileLock(str(self.path) + ".flush.lock")

    def add(self, record: OutboxRecord) -> None:
        """Append one record, on disk before this returns."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, record.to_json())
                os.fsync(fd)
            finally:
                os.close(fd)

    def records(self) -> list[OutboxRecord]:
        """Every waiting record, oldest first."""
        with self._lock:
            return self._read()[0]

    def settle(
        self, delivered: Iterable[str], retried: Mapping[str, OutboxRecord]
    ) -> int:
        """Forget delivered events, store new retry times; return what is left."""
        gone = set(delivered)
        with self._lock:
            records, torn = self._read()
            kept = [
                retried.get(record.event_id, record)
                for record in records
                if record.event_id not in gone
            ]
            if torn:
                self._set_aside(torn)
            scratch = self.path.with_name(self.path.name + ".tmp")
            with scratch.open("wb") as handle:
                handle.writelines(record.to_json() for record in kept)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(scratch, self.path)
        return len(kept)

    def __len__(self) -> int:
        return len(self.records())

    def _read(self) -> tuple[list[OutboxRecord], list[bytes]]:
        """The records, and the lines a crash cut short."""
        if not self.path.exists():
            return [], []
        records: list[OutboxRecord] = []
        torn: list[bytes] = []
        for line in self.path.read_bytes().splitlines():
            try:
                records.append(OutboxRecord(**json.loads(line)))
            except (ValueError, TypeError):
                torn.append(line)
        return records, torn

    def _set_aside(self, lines: list[bytes]) -> None:
        # A line cut short by a crash is not an event any more, but it is
        # kept: the side file lets someone see what it was.
        side = self.path.with_name(self.path.name + ".torn")
        with side.open("ab") as handle:
            handle.writelines(line + b"\n" for line in lines)
        logger.warning(
            "outbox %s: %d unreadable lines kept in %s", self.path, len(lines), side
        )


@dataclass
class FlushResult:
    """What one redelivery pass did."""

    delivered: int = 0
    pending: int = 0
    busy: bool = False
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "pending": self.pending,
            "busy": self.busy,
            "errors": self.errors,
        }


class WebhookReporter:
    """POSTs status events; what does not arrive waits in the outbox.

    Args:
        client: the pipeline's shared HTTP client.
        url: `WEBHOOK_URL`; None reports nothing (and keeps nothing).
        outbox: where undelivered events wait.
        signing_secret: signs each delivery; None sends unsigned events.
        backoff: waits after consecutive failures; while the webhook is
            backing off, new events go to the outbox without an attempt.
        clock: wall-clock seconds (outbox times survive the process).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str | None,
        *,
        outbox: Outbox,
        signing_secret: SecretStr | None = None,
        backoff: Backoff | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.client = client
        self.url = url
        self.outbox = outbox
        self.signing_secret = signing_secret
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.delivered = 0
        self._failures = 0
        self._down_until = 0.0
        self._outbox_checked = False
        self._flushing = asyncio.Lock()
        self._redelivery: asyncio.Task[FlushResult] | None = None

    async def report(self, event: dict[str, Any]) -> bool:
        """Deliver the event, or keep it in the outbox; True when it arrived.

        Never raises: a webhook problem must not fail the execution.
        """
        if self.url is None:
            return False
        try:
            return await self._report(event)
        except Exception:
            logger.exception("webhook event %s: report failed", event.get("event_id"))
            return False

    async def _report(self, event: dict[str, Any]) -> bool:
        now = self.clock()
        if now < self._down_until:
            await self._keep(event, "webhook backing off", next_at=self._down_until)
            return False
        error = await self.deliver(event)
        if error is not None:
            self._failures += 1
            self._down_until = now + self.backoff(self._failures)
            await self._keep(event, error, next_at=self._down_until)
            return False

        recovered = self._failures > 0 or not self._outbox_checked
        self._failures = 0
        if recovered and (self._redelivery is None or self._redelivery.done()):
            # The first delivery that works in this process, or after an
            # outage, also sends what waits in the outbox: in the background,
            # so this execution does not wait for a backlog.
            self._outbox_checked = True
            self._redelivery = asyncio.create_task(self.flush())
        return True

    async def aclose(self) -> None:
        """Wait for a background redelivery to finish (the client stays open)."""
        if self._redelivery is not None:
            await asyncio.gather(self._redelivery, return_exceptions=True)

    async def deliver(self, event: Mapping[str, Any]) -> str | None:
        """One attempt; None when the webhook took it, else why not."""
        assert self.url is not None
        body = event_body(event)
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: str(event["event_id"]),
        }
        if self.signing_secret is not None:
            timestamp = int(self.clock())
            headers[TIMESTAMP_HEADER] = str(timestamp)
            headers[SIGNATURE_HEADER] = sign(self.signing_secret, timestamp, body)
        try:
            response = await self.client.post(
                self.url,
                content=body,
                headers=headers,
                timeout=DELIVERY_TIMEOUT_SECONDS,
            )
        except (httpx.HTTPError, HarnessError) as exc:
            logger.warning(
                "webhook %s unreachable: %s", redacted(self.url), type(exc).__name__
            )
            return type(exc).__name__
        logger.info(
            "POST %s -> %s (event %s)",
            redacted(self.url),
            response.status_code,
            event["event_id"],
        )
        if not response.is_success:
            return f"HTTP {response.status_code}"
        self.delivered += 1
        return None

    async def _keep(self, event: dict[str, Any], error: str, *, next_at: float) -> None:
        record = OutboxRecord(
            event, attempts=0, next_attempt_at=next_at, last_error=error
        )
        try:
            await asyncio.to_thread(self.outbox.add, record)
        except OSError as exc:
            # Nowhere left to keep it: say so loudly, the audit log still has it.
            logger.error(
                "webhook event %s NOT kept: outbox %s: %s",
                event.get("event_id"),
                self.outbox.path,
                exc.strerror or type(exc).__name__,
            )

    async def flush(self, *, force: bool = False) -> FlushResult:
        """Redeliver waiting events, oldest first, until one fails.

        Args:
            force: ignore each event's backoff and try it now.
        """
        result = FlushResult()
        if self.url is None or self._flushing.locked():
            result.busy = True
            return result
        async with self._flushing:
            try:
                self.outbox.flush_lock.acquire(timeout=0)
            except Timeout:
                result.busy = True
                return result
            try:
                await self._flush(result, force=force)
            finally:
                self.outbox.flush_lock.release()
        return result

    async def _flush(self, result: FlushResult, *, force: bool) -> None:
        now = self.clock()
        delivered: list[str] = []
        retried: dict[str, OutboxRecord] = {}
        records = await asyncio.to_thread(self.outbox.records)
        if not records:
            return
        for record in records:
            if not force and record.next_attempt_at > now:
                continue
            error = await self.deliver(record.event)
            if error is None:
                delivered.append(record.event_id)
                continue
            record.attempts += 1
            record.last_error = error
            record.next_attempt_at = now + self.backoff(record.attempts)
            retried[record.event_id] = record
            result.errors.append(error)
            break

        result.delivered = len(delivered)
        result.pending = await asyncio.to_thread(self.outbox.settle, delivered, retried)
        if delivered:
            logger.info(
                "webhook outbox: %d delivered, %d waiting",
                len(delivered),
                result.pending,
            )
