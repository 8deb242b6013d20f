"""The SLA engine: warns before a target passes and records the breach when it does.

Each tick reads only the conversations whose next checkpoint is due (`keys.insights_sla_due`,
kept by the recorder). Firing is one commit through the conversation store, guarded by a marker
per (checkpoint, target instance) set with the changes it causes (priority raised from the one
read, "sla-warning" label added, an event with the reason). So a warning fires exactly once,
across restarts and with any number of engines running, and never overwrites what an agent or
the router changed meanwhile; only the engine whose commit set the marker publishes the
supervisor notice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.hours import BusinessHours
from helpline.routing.models import ConversationEvent, EventType, Priority
from helpline.routing.scripts import CONFLICT
from helpline.routing.store import ConversationStore, Effects

from . import metrics, scripts
from .recorder import InsightsRecorder
from .settings import SlaPolicy, policy_for
from .sla import SlaClock, clocks, running_from_state

log = logging.getLogger(__name__)

ACTOR = "system:sla"
WARNING_LABEL = "sla-warning"
TICK_LIMIT = 500


@dataclass
class TickResult:
    checked: int = 0
    warned: int = 0
    breached: int = 0


class SlaEngine:
    def __init__(
        self,
        client: redis.Redis,
        recorder: InsightsRecorder,
        policies: Sequence[SlaPolicy],
        hours: Mapping[str, BusinessHours],
        store: ConversationStore | None = None,
    ) -> None:
        self.client = client
        self.store = store or ConversationStore(client, partitions=1)  # only its commit is used
        self.recorder = recorder
        self.policies = list(policies)
        self.hours = dict(hours)
        self._reschedule = client.register_script(scripts.RESCHEDULE)

    async def tick(self, now: datetime | None = None) -> TickResult:
        """Check every conversation whose checkpoint is due. Idempotent (see module)."""
        now = now or datetime.now(UTC)
        now_ms = int(now.timestamp() * 1000)
        due = await self.client.zrangebyscore(keys.insights_sla_due(), "-inf", now_ms, start=0, num=TICK_LIMIT)
        result = TickResult()
        for raw in due:
            cid = raw.decode()
            result.checked += 1
            cursor, state = await self.recorder.state(cid)
            policy = policy_for(self.policies, state.team, state.labels)
            running = clocks(running_from_state(state), policy, self.hours.get(state.team), now)
            for clock in running:
                if clock.warn_at is not None and clock.warn_at <= now and await self._warn(cid, clock, now_ms):
                    result.warned += 1
                if clock.due_at is not None and clock.due_at <= now and await self._breach(cid, clock, now_ms):
                    result.breached += 1
            upcoming = [t for c in running for t in (c.warn_at, c.due_at) if t is not None and t > now]
            nxt = "" if not upcoming else str(int(min(upcoming).timestamp() * 1000))
            await self._reschedule(keys=[keys.insights_prefix()], args=[cid, str(cursor), nxt])
        return result

    async def _warn(self, cid: str, clock: SlaClock, now_ms: int) -> bool:
        for _ in range(5):
            raw = await self.client.hget(keys.conversation(cid), "priority")  # type: ignore[misc]
            current = Priority(raw.decode() if raw else "normal")
            raised = current.raised()
            reason = (
                f"SLA {clock.policy}: {clock.target.value.replace('_', ' ')} at "
                f"{clock.percent_elapsed:.0f}% (due {_iso(clock.due_at)}); priority {current.value} -> "
                f"{raised.value}"
            )
            event = self._event(
                cid,
                EventType.PRIORITY,
                reason,
                now_ms,
                clock,
                "warning",
                priority=raised.value,
                previous=current.value,
                label=WARNING_LABEL,
            )
            effects = (
                Effects(cid)
                .expect_exists()
                .once(f"sla:warn:{clock.instance}")
                .expect_field("priority", raw.decode() if raw else "")
                .set(priority=raised.value)
                .labels(add=[WARNING_LABEL])
                .event(event)
                .touch()
            )
            code = await self._fire(effects, now_ms)
            if code != CONFLICT:
                break
        if code >= 0:
            metrics.SLA_ESCALATIONS.labels(target=clock.target.value).inc()
            await self._notify("sla_warning", cid, clock, reason, raised.value)
        return code >= 0

    async def _breach(self, cid: str, clock: SlaClock, now_ms: int) -> bool:
        reason = f"SLA {clock.policy}: {clock.target.value.replace('_', ' ')} target passed (due {_iso(clock.due_at)})"
        event = self._event(cid, EventType.NOTE, reason, now_ms, clock, "breach")
        code = await self._fire(
            Effects(cid).expect_exists().once(f"sla:breach:{clock.instance}").event(event).touch(), now_ms
        )
        if code >= 0:
            metrics.SLA_BREACHES.labels(target=clock.target.value).inc()
            await self._notify("sla_breach", cid, clock, reason, None)
        return code >= 0

    async def _fire(self, effects: Effects, now_ms: int) -> int:
        """Commit; >= 0 fired now, DONE fired before, MISSING no such conversation, CONFLICT the
        priority changed since it was read."""
        (code,) = await self.store.commit([effects], datetime.fromtimestamp(now_ms / 1000, UTC))
        return code

    @staticmethod
    def _event(
        cid: str, type_: EventType, reason: str, now_ms: int, clock: SlaClock, level: str, **extra: str
    ) -> ConversationEvent:
        return ConversationEvent(
            conversation_id=cid,
            type=type_,
            actor=ACTOR,
            reason=reason,
            data={
                "sla": clock.target.value,
                "level": level,
                "instance": clock.instance,
                "policy": clock.policy,
                **extra,
            },
            at=datetime.fromtimestamp(now_ms / 1000, UTC),
        )

    async def _notify(self, kind: str, cid: str, clock: SlaClock, reason: str, priority: str | None) -> None:
        notice = {
            "kind": kind,
            "conversation_id": cid,
            "target": clock.target.value,
            "policy": clock.policy,
            "due_at": _iso(clock.due_at),
            "percent_elapsed": clock.percent_elapsed,
            "reason": reason,
            "priority": priority,
        }
        await self.client.publish(keys.live_channel(), json.dumps({"notice": notice}))


def _iso(at: datetime | None) -> str:
    return at.isoformat() if at is not None else "never (desk closed)"
