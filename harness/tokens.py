"""OAuth2 client-credentials tokens, cached until shortly before they expire."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote_plus

import httpx
from pydantic import SecretStr

from harness.errors import PlatformError

logger = logging.getLogger(__name__)

TOKEN_PATH = "/api/v1/auth/oauth/token"  # noqa: S105 - a path
#: A token without `expires_in` is taken to live this long.
DEFAULT_LIFETIME_SECONDS = 3600.0

TokenAuthMethod = Literal["client_secret_post", "client_secret_basic"]


@dataclass(frozen=True)
class Token:
    """An access token and the moments it expires and is due for refresh."""

    value: SecretStr
    expires_at: float
    refresh_at: float = 0.0


class TokenProvider:
    """Fetches one token and shares it among all concurrent callers.

    A lock makes the refresh single-flight: when many callers find the token
    stale at once, exactly one request goes to the token endpoint. Token
    endpoint errors are not retried: a bad secret or scope stays bad.

    Args:
        client: the pipeline's shared HTTP client.
        token_url: the token endpoint.
        client_id: the OAuth2 client.
        client_secret: its secret.
        scopes: space-separated scopes; "" asks for none.
        leeway_seconds: refresh this long before expiry (at most half a
            token's lifetime, so a short-lived token is still reused).
        auth_method: `client_secret_post` sends the credentials in the form
            body, `client_secret_basic` in an HTTP Basic header (RFC 6749
            section 2.3.1).
        clock: monotonic seconds.
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
        auth_method: TokenAuthMethod = "client_secret_post",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self.leeway_seconds = leeway_seconds
        self.auth_method = auth_method
        self.clock = clock
        self.fetches = 0
        self._token: Token | None = None
        self._lock = asyncio.Lock()

    def _fresh(self, token: Token | None) -> bool:
        return token is not None and self.clock() < token.refresh_at

    async def get(self) -> SecretStr:
        """A valid access token, fetched only when the cached one is stale."""
        token = self._token
        if token is not None and self._fresh(token):
            return token.value
        async with self._lock:
            # Whoever held the lock before may have refreshed it already.
            if self._token is None or not self._fresh(self._token):
                self._token = await self._fetch()
            return self._token.value

    def invalidate(self, stale: SecretStr) -> None:
        """Forget the token a 401 refused, unless another caller replaced it."""
        if self._token is not None and self._token.value == stale:
            self._token = None

    async def _fetch(self) -> Token:
        self.fetches += 1
        form, headers = self._request_parts()
        response = await self.client.post(self.token_url, data=form, headers=headers)
        logger.info("POST %s -> %s", self.token_url, response.status_code)

        body = _json_or_empty(response)
        if response.status_code != 200:
            raise _token_error(response.status_code, body)
        if not body.get("access_token"):
            raise PlatformError(
                "token endpoint answered without an access_token",
                status=response.status_code,
            )
        return self._token_from(body)

    def _request_parts(self) -> tuple[dict[str, str], dict[str, str]]:
        """The form and headers of a token request, per the auth method."""
        form = {"grant_type": "client_credentials"}
        if self.scopes:
            form["scope"] = self.scopes
        secret = self.client_secret.get_secret_value()
        if self.auth_method == "client_secret_basic":
            # RFC 6749 2.3.1: both parts form-encoded before base64.
            pair = f"{quote_plus(self.client_id)}:{quote_plus(secret)}"
            encoded = base64.b64encode(pair.encode("utf-8")).decode("ascii")
            return form, {"Authorization": f"Basic {encoded}"}
        form |= {"client_id": self.client_id, "client_secret": secret}
        return form, {}

    def _token_from(self, body: dict[str, Any]) -> Token:
        try:
            lifetime = float(body.get("expires_in", DEFAULT_LIFETIME_SECONDS))
        except (TypeError, ValueError):
            lifetime = DEFAULT_LIFETIME_SECONDS
        now = self.clock()
        leeway = min(self.leeway_seconds, lifetime / 2)
        return Token(
            SecretStr(str(body["access_token"])),
            now + lifetime,
            now + lifetime - leeway,
        )


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _token_error(status: int, body: dict[str, Any]) -> PlatformError:
    """An RFC 6749 error answer as a typed error with `error` and description."""
    error = str(body.get("error") or "token_error")
    description = str(body.get("error_description") or "").strip()
    message = f"token endpoint answered {status} {error}"
    if description:
        message += f": {description}"
    return PlatformError(message + " (not retried)", status=status, problem=body)
