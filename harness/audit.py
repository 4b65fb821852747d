"""The audit log: one JSON line per execution, appended under a file lock."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

EVENT = "INTEGRATION_EXECUTION"
ACTION = "EXECUTE_EXTERNAL_API"


def utc_now() -> str:
    """An ISO-8601 UTC timestamp with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    """Append-only JSON lines, safe with concurrent writers (tasks and processes)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.path) + ".lock")

    def record(
        self,
        *,
        integration_id: str | None,
        status: str,
        latency_ms: float,
        integration_name: str | None = None,
    ) -> dict[str, Any]:
        """Append one execution entry and return it."""
        entry: dict[str, Any] = {
            "event": EVENT,
            "integration_id": integration_id,
            "integration_name": integration_name,
            "action": ACTION,
            "status": status,
            "latency_ms": round(latency_ms, 3),
            "error_rate_impact": 0 if status == "SUCCESS" else 1,
            "logged_at": utc_now(),
        }
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._lock:
            # One write per entry: a reader never sees half a line from us.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
