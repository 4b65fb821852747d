"""Step 5: report each execution's status to the webhook, without ever failing it."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import httpx

logger = logging.getLogger(__name__)


class WebhookReporter:
    """POSTs status events; an undelivered event is kept and retried later."""

    def __init__(
        self, client: httpx.AsyncClient, url: str | None, *, max_pending: int = 10_000
    ) -> None:
        self.client = client
        self.url = url
        self.pending: deque[dict[str, Any]] = deque(maxlen=max_pending)
        self.delivered = 0

    async def report(self, event: dict[str, Any]) -> bool:
        """Deliver this event (after any still pending); True when it arrived."""
        if self.url is None:
            return False
        self.pending.append(event)
        await self.flush()
        return not self.pending

    async def flush(self) -> int:
        """Try to deliver every pending event, oldest first; return how many."""
        sent = 0
        while self.pending and self.url is not None:
            event = self.pending[0]
            try:
                response = await self.client.post(self.url, json=event, timeout=5.0)
            except httpx.HTTPError as exc:
                logger.warning(
                    "webhook %s unreachable: %s", self.url, type(exc).__name__
                )
                break
            if response.status_code >= 300:
                logger.warning("webhook %s answered %s", self.url, response.status_code)
                break
            self.pending.popleft()
            self.delivered += 1
            sent += 1
        return sent
