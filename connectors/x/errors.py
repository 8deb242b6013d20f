"""tweepy and requests failures mapped to `connectors.errors`.

tweepy.TooManyRequests        -> RateLimited(retry_after from x-rate-limit-reset, else 60 s)
tweepy.Unauthorized           -> AuthFailed
tweepy.Forbidden (auth kind)  -> AuthFailed   (unsupported authentication, app permissions)
tweepy.Forbidden (other)      -> Permanent    (duplicate content, not allowed to reply/DM)
tweepy.BadRequest / NotFound  -> Permanent
tweepy.TwitterServerError     -> Transient
requests read timeout         -> Uncertain    (sent, unanswered: maybe posted)
requests connection errors    -> Transient
"""

from __future__ import annotations

import time
from typing import Any

import requests
import tweepy

from helpline.connectors.errors import AuthFailed, ConnectorError, Permanent, RateLimited, Transient, Uncertain

#: When X answers 429 without x-rate-limit-reset, wait this long rather than retry at once.
DEFAULT_RETRY_AFTER = 60.0
MAX_RETRY_AFTER = 24 * 3600.0

# Problem types and v1.1 codes X uses on 403 when the credentials, not the request, are wrong.
_AUTH_PROBLEMS = ("unsupported-authentication", "client-forbidden", "oauth1-permissions", "not-authorized")
_AUTH_CODES = {32, 89, 99, 135, 215, 220, 226, 261, 326, 453}


def retry_after_from_reset(reset: int | float | None, now: float | None = None) -> float:
    """Seconds until `reset` (epoch seconds), at least 1 s; DEFAULT_RETRY_AFTER when unknown."""
    if reset is None:
        return DEFAULT_RETRY_AFTER
    now = time.time() if now is None else now
    return min(max(float(reset) - now, 1.0), MAX_RETRY_AFTER)


def _problem_type(exc: tweepy.HTTPException) -> str:
    try:
        body: Any = exc.response.json()
    except ValueError:
        return ""
    return str(body.get("type", "")) if isinstance(body, dict) else ""


def _describe(exc: tweepy.HTTPException) -> str:
    # tweepy's message is "<status> <reason>\n<api messages>": no headers, no credentials.
    return " ".join(str(exc).split())[:300]


def map_error(exc: BaseException, now: float | None = None) -> ConnectorError:
    """The connector error for a failure of one X API call. Pure."""
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, tweepy.TooManyRequests):
        return RateLimited(retry_after_from_reset(exc.reset_time, now), "X API rate limit")
    if isinstance(exc, tweepy.Unauthorized):
        return AuthFailed(f"X rejected the credentials: {_describe(exc)}")
    if isinstance(exc, tweepy.Forbidden):
        kind = _problem_type(exc)
        if any(p in kind for p in _AUTH_PROBLEMS) or _AUTH_CODES.intersection(exc.api_codes):
            return AuthFailed(f"X refused the credentials: {_describe(exc)}")
        return Permanent(f"X refused the request: {_describe(exc)}")
    if isinstance(exc, tweepy.TwitterServerError):
        return Transient(f"X server error: {_describe(exc)}")
    if isinstance(exc, tweepy.HTTPException):
        return Permanent(f"X refused the request: {_describe(exc)}")
    if isinstance(exc, requests.ReadTimeout):  # sent, no answer: X may have posted it
        return Uncertain(f"X did not answer in time: {type(exc).__name__}")
    if isinstance(exc, requests.RequestException):
        return Transient(f"X unreachable: {type(exc).__name__}")
    if isinstance(exc, tweepy.TweepyException):
        return Permanent(f"X client error: {exc}")
    return Transient(f"unexpected X client failure: {type(exc).__name__}")
