"""Background work that runs every few seconds for the life of a process (promoters, schedulers,
the janitor, SLA checks): a failed round is logged and the next one runs anyway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as redis

from .outage import redis_failed, redis_ok

log = logging.getLogger(__name__)


async def run_periodically(
    name: str, step: Callable[[], Awaitable[object]], stop: asyncio.Event, interval: float
) -> None:
    """Call `step` every `interval` seconds until `stop` is set. A Redis outage is a warning and a
    bug a logged exception, never the end of the loop: each step must be safe to repeat."""
    while not stop.is_set():
        try:
            await step()
            redis_ok()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            redis_failed(exc)
        except Exception:
            log.exception("%s: a round failed; trying again", name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
