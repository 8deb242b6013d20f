"""What the sender needs to post a reply, as seen from `routing`: the connectors implement it
and the composition root hands the sender one per account, with the shared rate limiter and the
metrics hook (`Sender(connectors, limiter=..., observe=...)`), so the sender imports neither the
connectors nor the metrics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio.client import Pipeline

from .models import OutboundReply


@dataclass(frozen=True)
class RateLimit:
    """A shared budget a reply spends before it is posted: `rate` per `period` seconds."""

    key: str
    rate: int
    period: float
    burst: int = 1


@dataclass(frozen=True)
class SendResult:
    platform_message_ids: tuple[str, ...]
    url: str | None = None  # a public link to the (first) post, when the platform has one


class SendProgress:
    """Parts of a multi-part reply already posted, kept in Redis by the sender.

    A connector that splits a reply (Telegram's 4096 characters, an X thread) skips the parts in
    `posted` and calls `record()` right after each part is accepted, so a retry after a crash or a
    429 mid-thread continues where it stopped instead of posting the first parts again.
    """

    def __init__(self, posted: Sequence[str] = (), recorder: Callable[[str], Awaitable[None]] | None = None):
        self.posted: list[str] = list(posted)
        self._recorder = recorder

    async def record(self, platform_message_id: str) -> None:
        self.posted.append(platform_message_id)
        if self._recorder is not None:
            await self._recorder(platform_message_id)


class Poster(Protocol):
    """One account's way out (`connectors.base.Connector` is one)."""

    @property
    def idempotent_send(self) -> bool:
        """The platform dedupes posts by a key we send: a post whose outcome is unknown may be
        retried safely."""

    def rate_limits(self, reply: OutboundReply) -> Sequence[RateLimit]:
        """Shared budgets this reply spends before it is posted."""

    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        """Post the reply (skipping `progress.posted`); raises a `routing.errors.ConnectorError`."""


class Limiter(Protocol):
    """Shared budgets (`connectors.ratelimit.SharedRateLimiter`); never sleeps."""

    async def acquire(self, platform: str, account: str, limits: Sequence[RateLimit]) -> float:
        """Spend one unit of every budget, or none. Returns 0.0 if spent, else seconds to wait."""

    async def acquire_on(self, pipe: Pipeline, platform: str, account: str, limits: Sequence[RateLimit]) -> None:
        """`acquire` queued on `pipe` (a budget spent in the round trip of other commands); its
        answer among the pipeline's results is read with `wait_of`."""

    def wait_of(self, answer: Any) -> float:
        """What `acquire` returns, from the answer of a call queued by `acquire_on`."""


class SendObserver(Protocol):
    """Metrics of the sender's posts: the composition root passes the `insights.metrics` module."""

    def observe_send(self, platform: str, account: str, outcome: str, seconds: float) -> None:
        """outcome: "sent", "failed", "deferred" (rate limit), "transient" or "uncertain"."""

    def observe_rate_limited(self, platform: str, account: str) -> None:
        """A reply waits for a shared budget."""
