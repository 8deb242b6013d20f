"""The scheduler: moves due announcements to publishing and dispatches them. Idempotent.

Due times are a sorted set (`keys.announcements_due`); `start_publishing` moves one announcement
scheduled → publishing in one Lua call, so of several schedulers exactly one starts it. An
announcement left "publishing" but not fully dispatched (its scheduler died) is dispatched again
on the next tick; dispatch creates nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from helpline.routing.models import utcnow
from helpline.routing.periodic import run_periodically

from .dispatch import Dispatcher

log = logging.getLogger(__name__)


async def tick(dispatcher: Dispatcher, now: datetime | None = None) -> list[str]:
    """One pass; returns the ids it started or finished dispatching."""
    now = now or utcnow()
    store = dispatcher.store
    touched = []
    for announcement_id in await store.due(now):
        if await store.start_publishing(announcement_id, now):
            log.info("announcement %s: publishing", announcement_id)
    for announcement_id in await store.publishing():
        if not (await store.progress(announcement_id)).dispatched:
            await dispatcher.dispatch(announcement_id)
            touched.append(announcement_id)
    return touched


async def run_scheduler(dispatcher: Dispatcher, stop: asyncio.Event, interval: float = 1.0) -> None:
    """Move due announcements to publishing (idempotent, so a failed tick is simply tried again)."""
    await run_periodically("announcement scheduler", lambda: tick(dispatcher), stop, interval)
