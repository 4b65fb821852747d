"""OAuth2 client-credentials tokens, cached until shortly before they expire."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from harness.errors import PlatformError

logger = logging.getLogger(__name__)

TOKEN_PATH = "/api/v1/auth/oauth/token"  # noqa: S105 - a path


@dataclass(frozen=True)
class Token:
    value: SecretStr
    expires_at: float


class TokenProvider:
    """Fetches one token and shares it among all concurrent callers.

    A lock makes the refresh single-flight: when many callers find the token
    stale at once, exactly one request goes to the token endpoint.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        scopes: str,
        *,
        leeway_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self.leeway_seconds = leeway_seconds
        self.clock = clock
        self.fetches = 0
        self._token: Token | None = None
        self._lock = asyncio.Lock()

    def _fresh(self, token: Token | None) -> bool:
        return (
            token is not None and self.clock() < token.expires_at - self.leeway_seconds
        )

    async def get(self) -> SecretStr:
        """A valid access token, fetched only when the cached one is stale."""
        if self._fresh(self._token):
            assert self._token is not None
            return self._token.value
        async with self._lock:
            if not self._fresh(self._token):
                self._token = await self._fetch()
            assert self._token is not None
            return self._token.value

    def invalidate(self, stale: SecretStr) -> None:
        """Forget the token a 401 refused, unless another caller replaced it."""
        if self._token is not None and self._token.value == stale:
            self._token = None

    async def _fetch(self) -> Token:
        self.fetches += 1
        response = await self.client.post(
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret.get_secret_value(),
                "scope": self.scopes,
            },
        )
        logger.info("POST %s -> %s", self.token_url, response.status_code)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200:
            error = body.get("error", "token_error") if isinstance(body, dict) else ""
            description = (
                body.get("error_description", "") if isinstance(body, dict) else ""
            )
            raise PlatformError(
                f"token endpoint answered {response.status_code} {error}: "
                f"{description}".rstrip(": "),
                status=response.status_code,
            )
        if not isinstance(body, dict) or not body.get("access_token"):
            raise PlatformError(
                "token endpoint answered without an access_token",
                status=response.status_code,
            )
        expires_in = float(body.get("expires_in", 3600))
        return Token(SecretStr(str(body["access_token"])), self.clock() + expires_in)
