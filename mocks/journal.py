"""The request journal every mock keeps, with secrets masked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from mocks.scrub import MASK, SECRET_HEADERS, Scrubbed, Scrubber

__all__ = ["MASK", "SECRET_HEADERS", "Journal", "JournalEntry", "mask_headers"]


@dataclass
class JournalEntry:
    """One request a mock received; `status` is set once it is answered.

    Secrets are masked as in fixtures: credential headers, secret form
    fields and token fields of JSON bodies read `***`.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int | None = None


def mask_headers(headers: Any, extra: frozenset[str] = frozenset()) -> dict[str, str]:
    """Header names lower-cased, secret values replaced by `***`."""
    scrubber = Scrubber().extended(headers=extra)
    return scrubber.scrub_headers(headers, Scrubbed())


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

    def __init__(self, max_entries: int = 10_000, scrubber: Scrubber | None = None):
        self.entries: list[JournalEntry] = []
        self.max_entries = max_entries
        self.scrubber = scrubber or Scrubber()
        self.total = 0

    async def add(self, request: Request, body: bytes) -> JournalEntry:
        seen = Scrubbed()
        content_type = request.headers.get("content-type", "")
        decoded = decode_body(body, content_type)
        entry = JournalEntry(
            method=request.method,
            path=request.url.path,
            query=self.scrubber.scrub_query(dict(request.query_params), seen),
            headers=self.scrubber.scrub_headers(request.headers.items(), seen),
            body=self.scrubber.scrub_body(decoded, content_type, seen),
        )
        # A secret echoed elsewhere (a token in a query string and a body).
        entry.body = seen.replace_echoes(entry.body)
        self.total += 1
        if len(self.entries) >= self.max_entries:
            del self.entries[0]
        self.entries.append(entry)
        return entry

    def __len__(self) -> int:
        return len(self.entries)

    def clear(self) -> None:
        self.entries.clear()
