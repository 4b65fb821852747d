"""The request journal every mock keeps, with secrets masked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

#: Headers whose values never reach a journal, a fixture or a log.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "cookie",
        "set-cookie",
    }
)
MASK = "***"


@dataclass(frozen=True)
class JournalEntry:
    """One request a mock received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int | None = None


def mask_headers(headers: Any, extra: frozenset[str] = frozenset()) -> dict[str, str]:
    """Header names lower-cased, secret values replaced by `***`."""
    hidden = SECRET_HEADERS | extra
    return {
        name.lower(): (MASK if name.lower() in hidden else value)
        for name, value in headers.items()
    }


def decode_body(raw: bytes, content_type: str) -> Any:
    """JSON when it parses, the text otherwise, None when empty."""
    if not raw:
        return None
    if "json" in content_type:
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw.decode("utf-8", errors="replace")


class Journal:
    """An ordered list of received requests, bounded so load runs stay flat."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.entries: list[JournalEntry] = []
        self.max_entries = max_entries
        self.total = 0

    async def add(self, request: Request, body: bytes) -> JournalEntry:
        entry = JournalEntry(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers=mask_headers(request.headers),
            body=decode_body(body, request.headers.get("content-type", "")),
        )
        self.total += 1
        if len(self.entries) >= self.max_entries:
            del self.entries[0]
        self.entries.append(entry)
        return entry

    def __len__(self) -> int:
        return len(self.entries)

    def clear(self) -> None:
        self.entries.clear()
