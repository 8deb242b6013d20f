"""The tweepy v2 `Client`, pointed at a configurable base URL, with rate limits learnt from headers.

tweepy hardcodes https://api.twitter.com; `BaseUrlSession` rewrites that prefix to the configured
base *before* the request is prepared, so the OAuth 1.0a signature covers the URL really requested.
tweepy is synchronous (requests): every call runs in a worker thread via `asyncio.to_thread`.
`wait_on_rate_limit` stays False: tweepy would sleep in the client, or retry at once and
recursively when a 429 has no x-rate-limit-reset. We raise instead and the caller schedules.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import tweepy

from helpline.connectors.errors import ConnectorError, RateLimited

from .errors import DEFAULT_RETRY_AFTER, map_error, retry_after_from_reset

TWEEPY_HOST = "https://api.twitter.com"
DEFAULT_BASE_URL = TWEEPY_HOST
DEFAULT_TIMEOUT = 20.0

# Their DEBUG records carry the Authorization header (tweepy prints request headers verbatim).
HTTP_LOGGERS = ("tweepy", "requests", "requests_oauthlib", "oauthlib", "urllib3")


def quiet_http_loggers() -> None:
    """Keep credential-bearing debug logs from ever being emitted. Idempotent.

    Child loggers (tweepy.client, urllib3.connectionpool, ...) inherit the level, so a root
    logger at DEBUG in Helpline's logging config does not bring them back."""
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


quiet_http_loggers()

# Endpoint names used for learnt limits, health and the emulator's rate limits.
_ENDPOINTS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"^/2/users/me$"), "users_me"),
    ("GET", re.compile(r"^/2/users/[^/]+/mentions$"), "mentions"),
    ("GET", re.compile(r"^/2/dm_events$"), "dm_events"),
    ("GET", re.compile(r"^/2/tweets/[^/]+$"), "tweet_lookup"),
    ("POST", re.compile(r"^/2/tweets$"), "tweets_create"),
    ("POST", re.compile(r"^/2/dm_conversations/with/[^/]+/messages$"), "dm_create"),
)


def endpoint_name(method: str, path: str) -> str:
    for m, pattern, name in _ENDPOINTS:
        if m == method.upper() and pattern.match(path):
            return name
    return f"{method.upper()} {path}"


@dataclass(frozen=True)
class Budget:
    limit: int | None
    remaining: int
    reset: float  # epoch seconds


class RateBook:
    """What X last said about each endpoint's window (x-rate-limit-* headers). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._budgets: dict[str, Budget] = {}

    def observe(self, endpoint: str, status: int, headers: Any, now: float) -> None:
        remaining = _int(headers.get("x-rate-limit-remaining"))
        reset = _int(headers.get("x-rate-limit-reset"))
        limit = _int(headers.get("x-rate-limit-limit"))
        if status == 429:
            # No reset header: assume a safe default window rather than retrying at once.
            until = float(reset) if reset is not None and reset > now else now + DEFAULT_RETRY_AFTER
            with self._lock:
                self._budgets[endpoint] = Budget(limit, 0, until)
        elif remaining is not None and reset is not None:
            with self._lock:
                self._budgets[endpoint] = Budget(limit, remaining, float(reset))

    def check(self, endpoint: str, now: float) -> None:
        """Raise RateLimited when the endpoint's window is known to be spent."""
        with self._lock:
            budget = self._budgets.get(endpoint)
        if budget is not None and budget.remaining <= 0 and budget.reset > now:
            raise RateLimited(retry_after_from_reset(budget.reset, now), f"X {endpoint} budget spent")

    def remaining(self, now: float) -> int | None:
        """The smallest budget left in a current window (for health)."""
        with self._lock:
            live = [b.remaining for b in self._budgets.values() if b.reset > now]
        return min(live) if live else None

    def snapshot(self) -> dict[str, Budget]:
        with self._lock:
            return dict(self._budgets)


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


class BaseUrlSession(requests.Session):
    """A requests session that sends tweepy's requests to `base_url` and records rate limits."""

    def __init__(self, base_url: str, book: RateBook, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self._prefix = re.sub(r"^[a-z]+://[^/]+", "", self.base_url)  # path prefix, e.g. /x-api
        self.book = book
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        url = url.decode() if isinstance(url, bytes) else url
        method = method.decode() if isinstance(method, bytes) else method
        if url.startswith(TWEEPY_HOST):
            url = self.base_url + url[len(TWEEPY_HOST) :]
        path = re.sub(r"^[a-z]+://[^/]+", "", url).split("?", 1)[0]
        if self._prefix and path.startswith(self._prefix):
            path = path[len(self._prefix) :]
        endpoint = endpoint_name(method, path)
        self.book.check(endpoint, time.time())
        kwargs.setdefault("timeout", self.timeout)
        response = super().request(method, url, *args, **kwargs)
        self.book.observe(endpoint, response.status_code, response.headers, time.time())
        if response.status_code == 429 and _int(response.headers.get("x-rate-limit-reset")) is None:
            # tweepy does int() on it: a malformed value must not become a ValueError
            response.headers.pop("x-rate-limit-reset", None)
        return response


@dataclass(frozen=True)
class Credentials:
    consumer_key: str | None = None
    consumer_secret: str | None = None
    access_token: str | None = None
    access_token_secret: str | None = None
    bearer_token: str | None = None

    @property
    def user_context(self) -> bool:
        return all((self.consumer_key, self.consumer_secret, self.access_token, self.access_token_secret))

    def __repr__(self) -> str:  # never print secrets by accident
        return f"Credentials(user_context={self.user_context}, bearer={self.bearer_token is not None})"


class XApi:
    """Async facade over one tweepy `Client`; every failure leaves as a `ConnectorError`."""

    def __init__(self, credentials: Credentials, base_url: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.book = RateBook()
        self.credentials = credentials
        self.client = tweepy.Client(
            bearer_token=credentials.bearer_token,
            consumer_key=credentials.consumer_key,
            consumer_secret=credentials.consumer_secret,
            access_token=credentials.access_token,
            access_token_secret=credentials.access_token_secret,
            return_type=dict,
            wait_on_rate_limit=False,
        )
        self.client.session = BaseUrlSession(base_url or DEFAULT_BASE_URL, self.book, timeout)
        self.user_auth = credentials.user_context

    async def call(self, method: Callable[..., Any], /, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            result = await asyncio.to_thread(method, *args, **kwargs)
        except (tweepy.TweepyException, requests.RequestException, ConnectorError) as exc:
            raise map_error(exc) from exc
        return result if isinstance(result, dict) else {}

    async def me(self) -> dict[str, Any]:
        return await self.call(self.client.get_me, user_auth=self.user_auth, user_fields=["username", "name"])

    async def mentions(
        self, user_id: str, *, since_id: str | None, token: str | None, max_results: int
    ) -> dict[str, Any]:
        return await self.call(
            self.client.get_users_mentions,
            user_id,
            since_id=since_id,
            pagination_token=token,
            max_results=max_results,
            expansions=["author_id", "attachments.media_keys"],
            tweet_fields=[
                "conversation_id",
                "created_at",
                "in_reply_to_user_id",
                "referenced_tweets",
                "entities",
                "attachments",
                "author_id",
            ],
            user_fields=["username", "name"],
            media_fields=["media_key", "type", "url", "variants"],
            user_auth=self.user_auth,
        )

    async def dm_events(self, *, token: str | None, max_results: int) -> dict[str, Any]:
        return await self.call(
            self.client.get_direct_message_events,
            dm_event_fields=[
                "id",
                "text",
                "event_type",
                "dm_conversation_id",
                "sender_id",
                "participant_ids",
                "created_at",
                "attachments",
                "entities",
            ],
            event_types="MessageCreate",
            expansions=["sender_id", "attachments.media_keys"],
            user_fields=["username", "name"],
            media_fields=["media_key", "type", "url", "variants"],
            max_results=max_results,
            pagination_token=token,
            user_auth=True,
        )

    async def tweet(self, tweet_id: str) -> dict[str, Any]:
        return await self.call(
            self.client.get_tweet, tweet_id, tweet_fields=["conversation_id", "author_id"], user_auth=self.user_auth
        )

    async def create_tweet(self, text: str, in_reply_to: str | None) -> dict[str, Any]:
        return await self.call(self.client.create_tweet, text=text, in_reply_to_tweet_id=in_reply_to, user_auth=True)

    async def create_dm(self, participant_id: str, text: str) -> dict[str, Any]:
        return await self.call(
            self.client.create_direct_message, participant_id=participant_id, text=text, user_auth=True
        )

    def close(self) -> None:
        self.client.session.close()
