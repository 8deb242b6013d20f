"""Dispatch: turn an announcement that started publishing into publish jobs, one per delivery.

A delivery is (target) or, for a broadcast, (target, subscriber). Records are created "queued"
and jobs added to the account's publish stream; a record that already exists keeps its state, so
dispatching again after a crash creates nothing twice, and re-queues only what is still queued
(an extra job for a queued delivery is harmless: the publisher claims a record before posting).
The subscriber list is read when dispatch runs: who unsubscribes later still gets this one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as redis

from helpline.connectors.capabilities import CapabilityLookup
from helpline.connectors.publishing import Destination, OutboundPost
from helpline.connectors.registry import capabilities_lookup
from helpline.routing import keys
from helpline.routing.bus import PAYLOAD
from helpline.routing.models import DeliveryState

from .deliveries import DeliveryStore, PublishJob
from .models import Announcement, Target, TargetKind
from .render import Rendering, render_target
from .settings import AnnouncementSettings
from .store import AnnouncementStore
from .subscribers import SubscriberStore, button

log = logging.getLogger(__name__)

#: Called once when an announcement reaches a final state: (announcement id, final state).
OnComplete = Callable[[str, str], Awaitable[None]]


class Dispatcher:
    def __init__(
        self,
        client: redis.Redis,
        settings: AnnouncementSettings | None = None,
        capabilities: CapabilityLookup | None = None,
        on_complete: OnComplete | None = None,
    ) -> None:
        self.client = client
        self.store = AnnouncementStore(client)
        self.deliveries = DeliveryStore(client)
        self.subscribers = SubscriberStore(client)
        self.settings = settings or AnnouncementSettings()
        self.capabilities = capabilities or capabilities_lookup(())
        self.on_complete = on_complete

    async def dispatch(self, announcement_id: str) -> str:
        """Create every delivery and queue its job. Idempotent. Returns the final state if the
        announcement completed here (e.g. every target refused), else ""."""
        announcement = await self.store.get(announcement_id)
        for index, target in enumerate(announcement.targets):
            rendering = render_target(announcement, target, self.capabilities)
            if not rendering.ok:  # compose refuses these; the text or a limit changed meanwhile
                await self._refuse(announcement, f"t{index}", target, rendering.refused or "refused")
            elif target.kind is TargetKind.TELEGRAM_SUBSCRIBERS:
                async for chats in self.subscribers.scan(target.account, batch=500):
                    await self._queue(
                        announcement, target, rendering, [(f"t{index}:{chat}", str(chat)) for chat in chats]
                    )
            else:
                await self._queue(announcement, target, rendering, [(f"t{index}", str(target.chat_id or ""))])
        final = await self.deliveries.mark_dispatched(announcement_id)
        if final and self.on_complete is not None:
            await self.on_complete(announcement_id, final)
        return final

    async def _refuse(self, announcement: Announcement, delivery_id: str, target: Target, reason: str) -> None:
        await self.deliveries.enqueue(announcement.id, [(delivery_id, target.key, "")])
        await self.deliveries.record(announcement.id, delivery_id, DeliveryState.FAILED, error=reason)

    async def _queue(
        self, announcement: Announcement, target: Target, rendering: Rendering, items: list[tuple[str, str]]
    ) -> None:
        states = await self.deliveries.enqueue(announcement.id, [(d, target.key, r) for d, r in items])
        destination = target.destination
        buttons = (button("unsubscribe", None),) if destination is Destination.SUBSCRIBER else ()
        stream = keys.publish_stream(target.platform, target.account)
        async with self.client.pipeline(transaction=False) as pipe:
            for (delivery_id, recipient), state in zip(items, states, strict=True):
                if state != DeliveryState.QUEUED.value:
                    continue
                post = OutboundPost(
                    post_id=f"{announcement.id}:{delivery_id}",
                    platform=target.platform,
                    account=target.account,
                    destination=destination,
                    chat_id=recipient or None,
                    parts=rendering.texts(),
                    parse_mode=rendering.parse_mode,
                    buttons=buttons,
                )
                job = PublishJob(announcement_id=announcement.id, delivery_id=delivery_id, post=post)
                pipe.xadd(stream, {PAYLOAD: job.model_dump_json()})
            await pipe.execute()
