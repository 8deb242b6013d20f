"""Redis outages in the log: one warning per role when Redis stops answering, one line when it
answers again, and silence in between.

Every loop of a role (consumers, pollers, periodic work) retries about once a second while Redis
is away; logging each failure printed hundreds of identical lines a minute and buried the one that
said when the outage began. Loops call `redis_failed(exc)` on a connection error or timeout and
`redis_ok()` after a round that reached Redis; the role comes from `role_context`, which the
process sets once per role it runs.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("helpline.redis")

T = TypeVar("T")

#: The role a task works for ("router", "sender", ...); tasks inherit it from where they start.
current_role: contextvars.ContextVar[str] = contextvars.ContextVar("helpline_role", default="process")

#: A role whose loops failed again this soon after "back" is still in the same outage (a loop
#: that was waiting on a dead socket reports its timeout only after the others recovered).
SETTLE_SECONDS = 10.0


@dataclass
class _Outage:
    since: float
    announced: bool  # the warning was printed (a reopened outage stays quiet)


@dataclass
class RedisOutages:
    """Per-role outage state of one process."""

    down: dict[str, _Outage] = field(default_factory=dict)
    back_at: dict[str, float] = field(default_factory=dict)

    def failed(self, exc: BaseException, role: str | None = None) -> None:
        role = role or current_role.get()
        if role in self.down:
            return
        now = time.monotonic()
        if now - self.back_at.get(role, -SETTLE_SECONDS) < SETTLE_SECONDS:
            self.down[role] = _Outage(now, announced=False)
            return
        self.down[role] = _Outage(now, announced=True)
        log.warning("%s: redis unavailable (%s: %s); retrying quietly until it answers", role, type(exc).__name__, exc)

    def ok(self, role: str | None = None) -> None:
        role = role or current_role.get()
        outage = self.down.pop(role, None)
        if outage is None:
            return
        now = time.monotonic()
        if outage.announced:
            log.info("%s: redis is back after %.1f s", role, now - outage.since)
            self.back_at[role] = now
        elif role not in self.back_at:
            self.back_at[role] = now

    def is_down(self, role: str | None = None) -> bool:
        return (role or current_role.get()) in self.down


#: The process's outage state: the log is per process, and so is this.
OUTAGES = RedisOutages()


def redis_failed(exc: BaseException) -> None:
    OUTAGES.failed(exc)


def redis_ok() -> None:
    if OUTAGES.down:  # the common case costs one attribute read
        OUTAGES.ok()


async def role_context(role: str, work: Awaitable[T]) -> T:
    """Run `work` (and every task it starts) as `role`, for the outage log."""
    current_role.set(role)  # this coroutine runs in its own task's context copy
    return await work


async def through_outage(write: Callable[[], Awaitable[T]], within: float = 60.0) -> T:
    """Run `write`, retrying it (backoff 0.1 s doubling to 2 s) while Redis does not answer, for
    at most `within` seconds. For the few writes that must not be lost to a short outage (a Redis
    restart): a reply known not to be posted whose record would otherwise stay "sending", which
    the next attempt must take for "uncertain"."""
    deadline = time.monotonic() + within
    delay = 0.1
    while True:
        try:
            return await write()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            redis_failed(exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def best_effort(write: Callable[[], Awaitable[T]], within: float = 60.0) -> T | None:
    """`through_outage`, then None instead of the error: for a write whose loss costs only time
    (an account's block tells other processes to wait; the caller waits all the same), so that an
    outage longer than `within` cannot stop the caller from recording what it must."""
    try:
        return await through_outage(write, within)
    except (RedisConnectionError, RedisTimeoutError):
        return None
