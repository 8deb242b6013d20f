"""Alerts for one open console: a conversation newly assigned to its user, or newly escalated
(for those who see it). Each live stream keeps what it has seen, primed with the recent
conversations when it opens, so only changes after that alert; a conversation that leaves the
state and comes back alerts again. The browser shows them as it is told (a toast, and opt-in a
desktop notification and a sound)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from helpline.routing.models import Conversation

from .roles import Principal

ESCALATED = "escalated"
PRIME_WINDOW = 500  # recent conversations read when a stream opens


@dataclass
class Alerts:
    who: Principal
    mine: set[str] = field(default_factory=set)
    escalated: set[str] = field(default_factory=set)

    def prime(self, convs: Iterable[Conversation]) -> None:
        """What is already so when the stream opens: never alerted."""
        self.changes(convs)

    def changes(self, convs: Iterable[Conversation], by: str | None = None) -> list[dict[str, Any]]:
        """Pure apart from the sets it keeps: alerts for what became so since last seen, none
        when the user caused it themselves (`by`: whose action it was; they know)."""
        out: list[dict[str, Any]] = []
        for c in convs:
            for kind, now_so, seen in (
                ("assigned", c.assignee == self.who.username, self.mine),
                ("escalated", ESCALATED in c.labels, self.escalated),
            ):
                if not now_so:
                    seen.discard(c.id)
                elif c.id not in seen:
                    seen.add(c.id)
                    out.append(
                        {"kind": kind, "conversation_id": c.id, "platform": c.platform, "priority": c.priority.value}
                    )
        return [] if by is not None and by == self.who.username else out
