"""Wiring for a process that runs insights: the recorder's worker and the SLA engine loops, and
the inbox's SLA clocks. Built from `Parts` (settings + the one Redis client)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from helpline.routing.models import Conversation
from helpline.routing.periodic import run_periodically

from .config import insights_settings, sla_policies
from .escalation import SlaEngine
from .ratings import RatingStore
from .recorder import InsightsRecorder
from .sla import SlaClock, sla_clock
from .worker import InsightsWorker

if TYPE_CHECKING:
    from helpline.runtime import Parts

log = logging.getLogger(__name__)


@dataclass
class Insights:
    recorder: InsightsRecorder
    worker: InsightsWorker
    engine: SlaEngine
    ratings: RatingStore
    clocks: SlaClocks

    @classmethod
    def build(cls, parts: Parts) -> Insights:
        s = insights_settings(parts.settings)
        policies, hours = sla_policies(parts.settings), parts.settings.hours
        recorder = InsightsRecorder(parts.client, s, policies, hours)
        return cls(recorder, InsightsWorker(parts.client, parts.settings.redis.partitions, recorder),
                   SlaEngine(parts.client, recorder, policies, hours, parts.store),
                   RatingStore(parts.client, s.timezone),
                   SlaClocks(parts, recorder))

    async def run(self, stop: asyncio.Event, scan_interval: float, sla_tick: float) -> None:
        """The worker and the SLA engine until `stop`; any number of processes may run this."""
        await asyncio.gather(self.worker.run(stop, scan_interval), self._sla_loop(stop, sla_tick))


    async def _sla_loop(self, stop: asyncio.Event, every: float) -> None:
        # Escalations are idempotent, so a failed tick is simply tried again.
        await run_periodically("sla engine", self.engine.tick, stop, every)


class SlaClocks:
    """`await clocks.clock(conversation)` for the inbox: like `sla.sla_clock`, with the
    next-response wait read from the recorder's state."""

    def __init__(self, parts: Parts, recorder: InsightsRecorder) -> None:
        self.policies = sla_policies(parts.settings)
        self.hours = parts.settings.hours
        self.recorder = recorder

    async def clock(self, conversation: Conversation, now: datetime | None = None) -> SlaClock | None:
        _, state = await self.recorder.state(conversation.id)
        waiting = None if state.waiting_ms is None else datetime.fromtimestamp(state.waiting_ms / 1000, UTC)
        return sla_clock(conversation, policies=self.policies, hours=self.hours, now=now, waiting_since=waiting)


async def run_insights(parts: Parts, stop: asyncio.Event) -> None:
    """The `insights` role: count events and run SLA checks until `stop`."""
    s = insights_settings(parts.settings)
    await Insights.build(parts).run(stop, s.scan_interval_seconds, s.sla_tick_seconds)
