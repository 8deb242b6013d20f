"""An account whose platform is down or refuses our credentials waits, shared by every sender and
publisher process: replies and announcements are kept in order, never dead-lettered for it.

A failure (connection refused, a timeout, a 5xx) blocks the account (`keys.blocked_until`, the
key a 429's retry-after sets too) for 1 s doubling per failure in a row up to a cap, jittered so
the processes of one account do not retry in step; a success ends the series. A refused
credential (a token revoked at run time) blocks the account for the cap each time: it is tried
again that often, and said once (one line, the account down in health) until it is accepted.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from functools import partial

import redis.asyncio as redis

from . import keys
from .outage import best_effort, redis_failed

log = logging.getLogger(__name__)

#: Back-off of an account whose platform is down: 1 s doubling per failure up to 60 s, jittered.
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0

Account = tuple[str, str]
#: Told when an account's credentials are refused (the reason) and when they work again (None):
#: the composition root shows it in the account's health.
CredentialsReport = Callable[[str, str, str | None], None]


class AccountBackoff:
    """Per-account waits of one process; the counts and blocks are in Redis, shared."""

    def __init__(
        self,
        client: redis.Redis,
        base: float = BACKOFF_BASE_SECONDS,
        cap: float = BACKOFF_CAP_SECONDS,
        what: str = "replies",
        report: CredentialsReport | None = None,
    ) -> None:
        self.client = client
        self.base = base
        self.cap = cap
        self.what = what  # in the log lines: "replies", "announcements"
        self.report = report
        self._failing: set[Account] = set()  # accounts whose series a success ends
        self._refused: set[Account] = set()  # accounts whose credentials were refused (said once)

    def note_blocked(self, account: Account) -> None:
        """The account was found blocked (by any process): its next success ends the series."""
        self._failing.add(account)

    async def failed(self, account: Account, reason: str) -> float:
        """The platform failed: block the account for the next step of its series; returns it."""

        async def count() -> int:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.incr(keys.send_backoff(*account))
                pipe.expire(keys.send_backoff(*account), max(1, int(self.cap * 10)))
                return int((await pipe.execute())[0])

        failures = await best_effort(count)  # not counted (Redis away too): the longest step
        wait = float(self.cap if failures is None else min(self.cap, self.base * 2 ** min(failures - 1, 16)))
        wait *= random.uniform(0.5, 1.0)
        await self._block(account, wait)
        log.warning("%s/%s: the platform failed (%s); its %s wait %.1f s", *account, reason, self.what, wait)
        return wait

    async def refused(self, account: Account, reason: str) -> float:
        """The platform refused the credentials: block the account for the cap; said once."""
        await self._block(account, self.cap)
        if account not in self._refused:
            self._refused.add(account)
            log.error(
                "%s/%s: the platform refused the credentials (%s); its %s wait, tried again every %g s",
                *account,
                reason,
                self.what,
                self.cap,
            )
            if self.report is not None:
                self.report(*account, f"credentials refused: {reason}")
        return self.cap

    async def succeeded(self, account: Account) -> None:
        """A post went through: the account's series ends, refused credentials work again."""
        if account in self._refused:
            self._refused.discard(account)
            log.warning("%s/%s: the platform accepts the credentials again", *account)
            if self.report is not None:
                self.report(*account, None)
        if account in self._failing:
            try:
                await self.client.delete(keys.send_backoff(*account))
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                # The post's outcome must still be recorded: the series ends at the next success.
                redis_failed(exc)
                return
            self._failing.discard(account)

    async def _block(self, account: Account, seconds: float) -> None:
        await best_effort(partial(self.client.set, keys.blocked_until(*account), "1", px=max(1, int(seconds * 1000))))
        self._failing.add(account)
