"""SLA clocks (pure): which targets are running for a conversation, when each is due, how much
of it has elapsed. Used by the recorder (to schedule checks), the engine and the inbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from helpline.routing.hours import BusinessHours
from helpline.routing.models import Conversation, Status

from .bizclock import add_open_seconds, elapsed_seconds
from .fold import State, instance_key
from .settings import SlaPolicy, Target, policy_for


class SlaClock(BaseModel):
    """The most urgent running target of a conversation, for the inbox."""

    policy: str
    target: Target
    instance: str
    started_at: datetime
    due_at: datetime | None  # None: business hours never reopen within the search window
    warn_at: datetime | None
    percent_elapsed: float
    breached: bool
    business_hours: bool


@dataclass(frozen=True)
class Running:
    target: Target
    started_ms: int


def running_from_state(state: State) -> list[Running]:
    """Targets running per the recorder's state of the conversation."""
    if not state.opened or state.status == "resolved" or state.open_ms is None:
        return []
    out = [Running(Target.RESOLUTION, state.open_ms)]
    if state.waiting_ms is not None:
        out.append(Running(Target.NEXT_RESPONSE if state.first_done else Target.FIRST_RESPONSE, state.waiting_ms))
    return out


def running_from_conversation(conv: Conversation, waiting_since: datetime | None = None) -> list[Running]:
    """Targets running per the conversation's own fields (the inbox's view)."""
    if conv.status is Status.RESOLVED:
        return []
    out = [Running(Target.RESOLUTION, _ms(conv.created_at))]
    if conv.first_response_at is None:
        out.append(Running(Target.FIRST_RESPONSE, _ms(conv.created_at)))
    elif waiting_since is not None and conv.status is Status.OPEN:
        out.append(Running(Target.NEXT_RESPONSE, _ms(waiting_since)))
    return out


def clocks(
    running: Sequence[Running], policy: SlaPolicy | None, hours: BusinessHours | None, now: datetime
) -> list[SlaClock]:
    if policy is None:
        return []
    counted = hours if policy.business_hours else None
    out = []
    for r in running:
        limit = policy.target_seconds(r.target)
        if limit is None:
            continue
        start = datetime.fromtimestamp(r.started_ms / 1000, UTC)
        due, warn = _due(counted, start, limit), _due(counted, start, limit * policy.warn_at_percent / 100)
        spent = elapsed_seconds(counted, start, now)
        out.append(
            SlaClock(
                policy=policy.name,
                target=r.target,
                instance=instance_key(r.target, r.started_ms),
                started_at=start,
                due_at=due,
                warn_at=warn,
                percent_elapsed=round(100 * spent / limit, 1),
                breached=spent > limit,
                business_hours=policy.business_hours,
            )
        )
    return out


def most_urgent(found: Sequence[SlaClock]) -> SlaClock | None:
    far = datetime.max.replace(tzinfo=UTC)
    return min(found, key=lambda c: (c.due_at or far, -c.percent_elapsed), default=None)


def sla_clock(
    conversation: Conversation,
    *,
    policies: Sequence[SlaPolicy],
    hours: Mapping[str, BusinessHours],
    now: datetime | None = None,
    waiting_since: datetime | None = None,
) -> SlaClock | None:
    """The inbox's SLA clock: the running target due first, or None (no policy, resolved).
    `waiting_since` (the first unanswered customer message after a reply; `SlaClocks` reads it
    from the recorder) enables the next-response target."""
    policy = policy_for(list(policies), conversation.team, conversation.labels)
    team_hours = hours.get(conversation.team or "")
    found = clocks(running_from_conversation(conversation, waiting_since), policy, team_hours, now or datetime.now(UTC))
    return most_urgent(found)


def next_check_ms(state: State, policies: Sequence[SlaPolicy], hours: Mapping[str, BusinessHours]) -> int | None:
    """When the engine should first look at the conversation: its earliest warning time."""
    policy = policy_for(list(policies), state.team, state.labels)
    found = clocks(running_from_state(state), policy, hours.get(state.team), datetime.now(UTC))
    times = [c.warn_at or c.due_at for c in found if (c.warn_at or c.due_at) is not None]
    return min(_ms(t) for t in times if t is not None) if times else None


def _due(hours: BusinessHours | None, start: datetime, seconds: float) -> datetime | None:
    if hours is None:
        return start + timedelta(seconds=seconds)
    return add_open_seconds(hours, start, seconds)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
