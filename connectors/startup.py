"""Starting a connector when its platform may be down.

A process (connectors, sender, console, publisher) starts every configured account. A platform
that cannot be reached (connection refused, a timeout, a 5xx, a 429) must not take the process
down: a restart during an outage would otherwise stop every other account and role with it. Such
an account is marked unavailable in health and started again in the background, with an
exponential, jittered, capped backoff, until it answers. What retrying cannot fix (a refused token,
a revoked credential, a wrong setting) still fails the start at once with one line naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from .base import Connector
from .errors import AuthFailed, ConfigError, ConnectorError, Permanent, RateLimited

log = logging.getLogger(__name__)

#: Refusals that no retry can fix: the process stops with one line.
FATAL = (AuthFailed, Permanent, ConfigError)


class StartFailed(Exception):
    """An account refused to start for good (credentials, configuration); the message is one line."""


def backoff(attempt: int, first: float = 1.0, cap: float = 60.0) -> float:
    """Seconds before retry `attempt` (1, 2, ...): doubling from `first`, at most `cap`, with full
    jitter in its upper half so many processes restarted together do not retry in step."""
    ceiling = min(cap, first * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


class Startup:
    """One account's start in this process: `ready` is set once `connector.start()` succeeded.

    Idempotent: `start()` of a connector is idempotent, and a started account is not started again.
    """

    def __init__(self, connector: Connector, first_delay: float = 1.0, max_delay: float = 60.0) -> None:
        self.connector = connector
        self.ready = asyncio.Event()
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.attempts = 0
        self.next_wait = first_delay

    def _name(self) -> str:
        return f"accounts.{self.connector.account} ({self.connector.platform})"

    async def _attempt(self) -> ConnectorError | None:
        """Start once; None when started, the (retryable) failure otherwise. Raises `FATAL` ones."""
        self.attempts += 1
        try:
            await self.connector.start()
        except FATAL:
            raise
        except ConnectorError as exc:
            return exc
        self.ready.set()
        if self.connector.health().status in ("starting", "down"):
            self.connector._set_health(status="ok", last_error=None)
        return None

    async def first(self) -> bool:
        """The start at process start. True when started; False when the platform is unreachable
        (the account is marked unavailable: call `retry()` in the background). Raises
        `StartFailed` for what retrying cannot fix."""
        try:
            failure = await self._attempt()
        except FATAL as exc:
            raise StartFailed(f"{self._name()}: could not start: {exc}") from None
        if failure is None:
            return True
        self._unavailable(failure)
        log.warning("%s: unavailable, starting anyway and retrying in the background: %s", self._name(), failure)
        return False

    def _unavailable(self, failure: BaseException) -> None:
        self.next_wait = backoff(self.attempts, self.first_delay, self.max_delay)
        if isinstance(failure, RateLimited):  # the platform said when: not sooner
            self.next_wait = max(self.next_wait, failure.retry_after)
        self.connector._set_health(
            status="down", last_error=f"unavailable: could not start: {failure}; retrying in {self.next_wait:.0f}s"
        )

    async def retry(self, stop: asyncio.Event) -> None:
        """Start again with backoff until it works or `stop` is set. A refusal for good met
        later (the platform is back and rejects the token) is logged once and retried at the cap."""
        refused = False
        while not self.ready.is_set() and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.next_wait)
            if stop.is_set():
                return
            try:
                failure = await self._attempt()
            except FATAL as exc:
                if not refused:
                    log.error("%s: could not start: %s", self._name(), exc)
                refused = True
                self.next_wait = self.max_delay  # keep retrying, at the cap
                self.connector._set_health(status="down", last_error=f"could not start: {exc}")
                continue
            if failure is None:
                log.info("%s: started after %d attempts", self._name(), self.attempts)
                return
            self._unavailable(failure)
