"""Mastodon HTTP answers mapped to `connectors.errors`.

    429             -> RateLimited(retry_after = X-RateLimit-Reset - now)
    401, 403        -> AuthFailed
    404, 410, 422   -> Permanent (and any other 4xx)
    5xx             -> Transient (as are connection errors and timeouts, see client.py)

Only Mastodon's own `{"error": ...}` text is quoted in messages; never a request body, header or
token.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from helpline.connectors.errors import AuthFailed, ConnectorError, Permanent, RateLimited, Transient

#: When a 429 carries no usable reset time, wait this long rather than retrying at once.
DEFAULT_RETRY_AFTER = 60.0


def parse_reset(value: str | None) -> datetime | None:
    """`X-RateLimit-Reset` is an ISO 8601 timestamp ("2019-12-04T18:40:00.580652Z")."""
    if not value:
        return None
    try:
        reset = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return reset if reset.tzinfo is not None else reset.replace(tzinfo=UTC)


def retry_after(headers: httpx.Headers, now: datetime) -> float:
    reset = parse_reset(headers.get("x-ratelimit-reset"))
    if reset is None:
        return DEFAULT_RETRY_AFTER
    # A reset already past (clock skew) still waits a moment: never a hot retry loop.
    return max(1.0, (reset - now).total_seconds())


def _platform_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])[:200]
    return ""


def error_for(response: httpx.Response, account: str, now: datetime | None = None) -> ConnectorError | None:
    """The error a response stands for, or None when it succeeded. Pure."""
    status = response.status_code
    if status < 400:
        return None
    what = f"{response.request.method} {response.request.url.path}: {status}"
    detail = _platform_message(response)
    if detail:
        what = f"{what} {detail}"
    if status == 429:
        return RateLimited(retry_after(response.headers, now or datetime.now(UTC)), f"mastodon {what}")
    if status in (401, 403):
        return AuthFailed(f"accounts.{account}.secrets.access_token: refused by the instance ({what})")
    if status >= 500:
        return Transient(f"mastodon {what}")
    return Permanent(f"mastodon {what}")
