"""Wiring for a process that runs insights: the recorder's worker and the SLA engine loops, and
the inbox's SLA clocks. Built from what it needs (the one Redis client, the conversation store,
the settings), passed by the composition root."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as redis

from helpline.routing.hours import BusinessHours
from helpline.routing.models import Conversation
from helpline.routing.periodic import run_periodically
from helpline.routing.store import ConversationStore

from .escalation import SlaEngine
from .ratings import RatingStore
from .recorder import InsightsRecorder
from .settings import InsightsSettings, SlaPolicy
from .sla import SlaClock, sla_clock
from .worker import InsightsWorker

log = logging.getLogger(__name__)


@dataclass
class Insights:
    recorder: InsightsRecorder
    worker: InsightsWorker
    engine: SlaEngine
    ratings: RatingStore
    clocks: SlaClocks

    @classmethod
    def build(
        cls,
        client: redis.Redis,
        store: ConversationStore,
        partitions: int,
        settings: InsightsSettings,
        policies: Sequence[SlaPolicy],
        hours: Mapping[str, BusinessHours],
    ) -> Insights:
        """`hours`: business hours by team; `store` is where SLA escalations are committed."""
        policies = list(policies)
        recorder = InsightsRecorder(client, settings, policies, hours)
        return cls(
            recorder,
            InsightsWorker(client, partitions, recorder),
            SlaEngine(client, recorder, policies, hours, store),
            RatingStore(client, settings.timezone),
            SlaClocks(policies, hours, recorder),
        )

    async def run(self, stop: asyncio.Event, scan_interval: float, sla_tick: float) -> None:
        """The worker and the SLA engine until `stop`; any number of processes may run this."""
        await asyncio.gather(self.worker.run(stop, scan_interval), self._sla_loop(stop, sla_tick))

    async def _sla_loop(self, stop: asyncio.Event, every: float) -> None:
        # Escalations are idempotent, so a failed tick is simply tried again.
        await run_periodically("sla engine", self.engine.tick, stop, every)


class SlaClocks:
    """`await clocks.clock(conversation)` for the inbox: like `sla.sla_clock`, with the
    next-response wait read from the recorder's state."""

    def __init__(
        self, policies: Sequence[SlaPolicy], hours: Mapping[str, BusinessHours], recorder: InsightsRecorder
    ) -> None:
        self.policies = list(policies)
        self.hours = hours
        self.recorder = recorder

    async def clock(self, conversation: Conversation, now: datetime | None = None) -> SlaClock | None:
        _, state = await self.recorder.state(conversation.id)
        waiting = None if state.waiting_ms is None else datetime.fromtimestamp(state.waiting_ms / 1000, UTC)
        return sla_clock(conversation, policies=self.policies, hours=self.hours, now=now, waiting_since=waiting)


async def run_insights(insights: Insights, settings: InsightsSettings, stop: asyncio.Event) -> None:
    """The `insights` role: count events and run SLA checks until `stop`."""
    await insights.run(stop, settings.scan_interval_seconds, settings.sla_tick_seconds)
