"""The wait clock of a conversation (pure): since when the customer has been waiting for a person.

The same rules as the reports (insights/fold.py): a wait starts at the first customer message
nobody answered yet, or at a bot's handoff; a human agent's reply ends it; a bot's answer ends it
only while no human is involved yet (before a handoff, queueing or assignment); automatic notices
(surveys, off-hours, actor "system") never end it. Only an open conversation waits on us.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from helpline.routing.models import EventType, InboundMessage, Status

HUMAN_EVENTS = {EventType.HANDOFF.value, EventType.QUEUED.value, EventType.ASSIGNED.value}


@dataclass(frozen=True)
class Wait:
    since: datetime | None = None  # the customer's oldest unanswered message, or the handoff
    handoff_at: datetime | None = None  # the last bot handoff (None: never handed off)


def wait_clock(status: Status, messages: Sequence[InboundMessage], events: Sequence[Mapping[str, Any]]) -> Wait:
    """`events` are the conversation's events as stored (JSON objects with type, actor, at)."""
    timeline: list[tuple[datetime, int, str, str, str]] = [
        (m.received_at, 1, "message", "customer", "") for m in messages
    ]
    timeline += [
        (
            datetime.fromisoformat(e["at"]),
            0,
            str(e.get("type")),
            str(e.get("actor") or ""),
            str((e.get("data") or {}).get("status") or ""),
        )
        for e in events
        if e.get("at")
    ]
    timeline.sort(key=lambda t: (t[0], t[1]))
    since: datetime | None = None
    handoff: datetime | None = None
    human = False
    for at, _, kind, actor, new_status in timeline:
        if kind == "message":
            since = since or at
        elif kind == EventType.REPLY_QUEUED.value:
            if actor.startswith("agent:"):
                human, since = True, None
            elif actor.startswith("bot:") and not human:
                since = None
        elif kind in HUMAN_EVENTS:
            human = True
            if kind == EventType.HANDOFF.value:
                handoff = at
                since = since or at
        elif kind == EventType.STATUS.value and new_status in (Status.PENDING.value, Status.RESOLVED.value):
            since = None  # the customer's next message starts a new wait
    return Wait(since=since if status is Status.OPEN else None, handoff_at=handoff)
