"""The one HTTP client of a Mastodon connector: bearer auth, error mapping, rate-limit tracking.

It never sleeps and never retries: every failure is raised as a `ConnectorError` and the caller
(the poll runner, the sender) decides when to try again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from helpline.connectors.errors import ConfigError, Transient

from .errors import error_for

log = logging.getLogger(__name__)

#: Called with X-RateLimit-Remaining of every answer that carries it (for health).
RemainingHook = Callable[[int], None]


def normalize_base_url(account: str, base_url: str | None) -> str:
    """The instance URL (scheme, host, port, optional path prefix), checked."""
    if not base_url:
        raise ConfigError(f"accounts.{account}.base_url: the Mastodon instance URL is required")
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"accounts.{account}.base_url: expected http(s)://host[:port][/prefix]")
    return str(url).rstrip("/")


class MastodonApi:
    def __init__(
        self,
        account: str,
        base_url: str,
        token: str,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 20.0,
        on_remaining: RemainingHook | None = None,
    ) -> None:
        self.account = account
        self._on_remaining = on_remaining
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """One API call; returns a 2xx response or raises the mapped `ConnectorError`."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        try:
            response = await self._http.request(method, path, params=params, json=json, headers=headers)
        except httpx.TransportError as exc:  # connection refused, reset, timeouts
            raise Transient(f"mastodon {method} {path}: {type(exc).__name__}") from exc
        remaining = response.headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit() and self._on_remaining is not None:
            self._on_remaining(int(remaining))
        log.debug("mastodon %s %s -> %d", method, path, response.status_code)
        error = error_for(response, self.account)
        if error is not None:
            raise error
        return response

    async def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        response = await self.request("GET", path, params=params)
        return _json(response)

    async def post_json(self, path: str, body: Mapping[str, Any], idempotency_key: str | None = None) -> Any:
        response = await self.request("POST", path, json=body, idempotency_key=idempotency_key)
        return _json(response)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:  # a proxy's HTML error page with a 200: try again later
        raise Transient(f"mastodon {response.request.url.path}: answer is not JSON") from exc
