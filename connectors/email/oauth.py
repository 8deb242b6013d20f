"""OAuth 2.0 access tokens for IMAP and SMTP (SASL OAUTHBEARER or XOAUTH2, `sasl.py`), as Gmail
and Microsoft 365 require.

The account holds a refresh token (from the provider's consent flow, done once by an
administrator); this module trades it at the provider's token endpoint (RFC 6749 section 6,
`grant_type=refresh_token`) for short-lived access tokens. A token is kept in memory and
replaced before it expires (`margin_seconds` ahead, at most half its lifetime), so a login
never presents one that is about to lapse. One refresh runs at a time: IMAP and SMTP asking at
once share its answer. A provider that rotates refresh tokens (Microsoft) sends a new one with
each answer; it is used from then on (in memory: the configured one stays valid until its own
expiry, so a restart still works).

Secrets (client secret, refresh token, access tokens) come from the environment and are never
logged nor put into an error message; errors name the option or secret to look at.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from helpline.connectors.errors import AuthFailed, RateLimited, Transient

#: Error codes (RFC 6749 section 5.2) that mean the configured credentials are wrong or revoked.
_REFUSED = {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope", "unsupported_grant_type"}


class TokenRefused(AuthFailed):
    """The mail server refused an access token the provider had issued (revoked, or issued for
    another user): tried once more with a new token, then reported as AuthFailed."""


@dataclass(frozen=True)
class OAuthClient:
    """Who asks for tokens, and with which refresh token (all from the environment)."""

    token_url: str
    client_id: str
    client_secret: str | None
    refresh_token: str
    scope: str = ""  # empty: the scopes the refresh token was granted (Google); Microsoft names them


class AccessTokens:
    """Access tokens from a refresh token, refreshed before they expire."""

    def __init__(
        self,
        client: OAuthClient,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        margin_seconds: float = 300.0,
        account: str = "",
    ) -> None:
        self._client = client
        self._refresh_token = client.refresh_token
        self._transport, self._timeout = transport, timeout
        self._http: httpx.AsyncClient | None = None  # opened at the first refresh (`config check` builds, never runs)
        self._margin = margin_seconds
        self._account = account
        self._token: str | None = None
        self._refresh_at = 0.0  # time.monotonic() after which the token is replaced
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A current access token: the kept one, or a new one when it is near its expiry."""
        async with self._lock:
            if self._token is None or time.monotonic() >= self._refresh_at:
                await self._refresh()
            assert self._token is not None
            return self._token

    def forget(self, token: str) -> None:
        """The server refused `token` (revoked early): the next `token()` fetches a new one."""
        if self._token == token:
            self._token = None

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def _refresh(self) -> None:
        c = self._client
        form = {"grant_type": "refresh_token", "refresh_token": self._refresh_token, "client_id": c.client_id}
        if c.client_secret:
            form["client_secret"] = c.client_secret
        if c.scope:
            form["scope"] = c.scope
        asked = time.monotonic()
        where = f"email account {self._account}: oauth token endpoint (options.oauth_token_url)"
        if self._http is None:
            self._http = httpx.AsyncClient(transport=self._transport, timeout=self._timeout, follow_redirects=False)
        try:
            response = await self._http.post(c.token_url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise Transient(f"{where}: cannot reach it: {type(exc).__name__}") from None
        body = _json(response)
        if response.status_code == 429:
            raise RateLimited(_retry_after(response), f"{where}: rate limited")
        if response.status_code >= 500:
            raise Transient(f"{where}: answered {response.status_code}")
        if response.status_code != 200:
            error = str(body.get("error", "")) if isinstance(body.get("error"), str) else ""
            if error in _REFUSED or response.status_code in (400, 401, 403):
                raise AuthFailed(
                    f"{where}: refused the refresh token or client ({response.status_code} "
                    f"{error or 'no error code'}); check secrets oauth_client_id, "
                    "oauth_client_secret and oauth_refresh_token"
                )
            raise Transient(f"{where}: answered {response.status_code}")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthFailed(f"{where}: answered without an access_token")
        lifetime = _number(body.get("expires_in"), default=3600.0)
        self._token = token
        self._refresh_at = asked + lifetime - min(self._margin, lifetime / 2)
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            self._refresh_token = rotated


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _number(value: object, default: float) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def _retry_after(response: httpx.Response) -> float:
    return _number(response.headers.get("retry-after"), default=60.0)
