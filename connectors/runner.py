"""Drive a connector's polling: one poller per account across all processes, cursors that move
only after ingest is durable, polls that spend the account's shared API budget (the one replies
spend too, where the platform counts them together), and retry scheduling on the connector's
errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Literal

import redis.asyncio as redis

from helpline.routing.outage import redis_failed, redis_ok

from .base import Connector
from .cursors import CursorStore
from .errors import AuthFailed, ConnectorError, RateLimited
from .lease import Lease
from .ratelimit import SharedRateLimiter

log = logging.getLogger(__name__)


class PollRunner:
    """Polls one account while holding its lease.

    Idempotent by construction: a batch is ingested (dedupe by platform message id) before the
    cursor is stored, so a crash between the two re-fetches and re-ingests harmlessly.
    """

    def __init__(
        self, client: redis.Redis, connector: Connector, lease_ttl: float = 15.0, ready: asyncio.Event | None = None
    ) -> None:
        self.connector = connector
        #: Set once the account started (see `connectors.startup`); until then another process
        #: whose platform answers may poll it, so the lease is not taken.
        self.ready = ready
        self.cursors = CursorStore(client)
        self.limiter = SharedRateLimiter(client)
        self.lease = Lease(client, f"poll:{connector.platform}:{connector.account}", ttl=lease_ttl)
        self.lease_ttl = lease_ttl
        self.idle_interval = connector.settings.poll_interval
        self.polls = 0  # successful fetches by this runner (tests and health)
        self.holding = False  # this runner holds the account's lease: it is the account's poller
        self.refused = False  # the credentials were refused (said once until they work again)

    async def poll_once(self) -> float:
        """One step. Returns how long to wait before the next one."""
        c = self.connector
        if self.ready is not None and not self.ready.is_set():
            self.holding = False
            return 1.0
        self.holding = await self.lease.keep()
        if not self.holding:
            return min(self.idle_interval, 5.0)  # another process polls this account
        wait = await self.limiter.acquire(c.platform, c.account, c.poll_rate_limits())
        if wait > 0:  # the account's API budget is spent: poll when it allows (renewing the lease)
            return min(wait, self.lease_ttl / 3)
        cursor = await self.cursors.get(c.platform, c.account)
        try:
            batch = await c.fetch(cursor)
        except RateLimited as exc:
            c._set_health(status="degraded", last_error=str(exc))
            return exc.retry_after
        except AuthFailed as exc:  # revoked at run time: said once, tried again every minute
            c._set_health(status="down", last_error=str(exc))
            if not self.refused:
                log.error("%s/%s: authentication failed: %s; polling again every 60 s", c.platform, c.account, exc)
            self.refused = True
            return 60.0
        except ConnectorError as exc:
            c._set_health(status="degraded", last_error=str(exc))
            log.warning("%s/%s: poll failed: %s", c.platform, c.account, exc)
            return min(self.idle_interval * 5, 30.0)
        if self.refused:
            self.refused = False
            log.warning("%s/%s: the platform accepts the credentials again", c.platform, c.account)
        await c.context.ingest(batch.messages)
        if batch.cursor is not None and batch.cursor != cursor:
            await self.cursors.set(c.platform, c.account, batch.cursor)
        self.polls += 1
        now = datetime.now(UTC)
        lag = max((now - m.platform_time).total_seconds() for m in batch.messages) if batch.messages else 0.0
        c._set_health(
            status="degraded" if batch.warning else "ok", last_poll_at=now, lag_seconds=lag, last_error=batch.warning
        )
        return 0.0 if batch.more else self.idle_interval

    def activity(self) -> Literal["polling", "standby"]:
        return "polling" if self.holding else "standby"

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    wait = await self.poll_once()
                    redis_ok()
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    redis_failed(exc)
                    wait = 1.0
                except Exception as exc:  # a parser bug must not stop the account's polling for good
                    log.exception("%s/%s: poll failed", self.connector.platform, self.connector.account)
                    self.connector._set_health(status="degraded", last_error=f"{type(exc).__name__}: {exc}")
                    wait = min(self.idle_interval * 5, 30.0)
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=wait)
        finally:
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                await self.lease.release()
