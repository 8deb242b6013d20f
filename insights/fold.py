"""One conversation's history folded into metric increments (pure).

The recorder feeds a conversation's new items (customer messages and events, merged in time
order) to `fold` together with the state it saved last time; `fold` returns the increments to
add and leaves the updated state. Processing a history in one call or in many pieces yields the
same increments, which is what makes `recompute()` equal to the incremental recorder.

Definitions (the "why" behind each counter):
- a *wait* starts at the first customer message nobody answered yet, or at a bot's handoff; the
  next reply by a human agent ends it: the first one is the first response time (frt), later ones
  next response (nrt). A bot's answer is not a response by the desk: it is counted apart
  (`bot_replies`, its latency `bot_rt`) and ends the wait only while no human is involved, so
  the clock starts again at the handoff; automatic notices (surveys, off-hours) never end it;
- latency sums are kept in milliseconds, so averages and percentiles come from the same samples;
- resolution time runs from the start of the open period (first message or reopening) to the
  `status` event that resolves it; `_bh` variants count only the team's business hours;
- *deflected*: resolved by a bot (`by_bot`) with no human ever involved (no handoff, queue,
  assignment or agent reply);
- a message older than the last reply already seen (it raced the router) was answered by it;
- *article_helpful* / *article_not_helpful*: the customer's answer to the bot's "Did this solve
  it?", counted under the article's topic (`kb:<key>`), one per answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from helpline.routing.hours import BusinessHours
from helpline.routing.models import ConversationEvent, EventType

from .bizclock import elapsed_seconds
from .buckets import bucket_of, day_key, hour_of
from .cube import HIST, NONE, Increment
from .cube import field as fld
from .settings import SlaPolicy, Target, policy_for

MESSAGE = "message"
KB_PREFIX = "kb:"


@dataclass(frozen=True, slots=True)
class Item:
    at_ms: int
    kind: str  # MESSAGE or an EventType value
    actor: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


def event_item(event: ConversationEvent) -> Item:
    return Item(int(event.at.timestamp() * 1000), event.type.value, event.actor, event.data)


def message_item(history_score: float) -> Item:
    """A customer message, timed by its inbound stream entry (ingest time, Redis clock)."""
    return Item(int(history_score) // 1000, MESSAGE)


def merge(messages: Sequence[Item], events: Sequence[Item]) -> list[Item]:
    """Time order; at the same millisecond a message comes before the events it caused."""
    keyed = [((m.at_ms, 0, i), m) for i, m in enumerate(messages)]
    keyed += [((e.at_ms, 1, i), e) for i, e in enumerate(events)]
    return [item for _, item in sorted(keyed, key=lambda pair: pair[0])]


@dataclass(frozen=True)
class Context:
    """What the fold needs besides the history: fixed attributes and configuration."""

    platform: str
    account: str
    language: str
    zone: ZoneInfo
    policies: Sequence[SlaPolicy] = ()
    hours: Mapping[str, BusinessHours] = field(default_factory=dict)

    def hours_of(self, team: str) -> BusinessHours | None:
        return self.hours.get(team)


@dataclass
class State:
    language: str = ""
    created_ms: int | None = None
    open_ms: int | None = None
    waiting_ms: int | None = None
    first_done: bool = False
    last_reply_ms: int | None = None
    status: str = "open"
    team: str = ""
    agent: str = ""
    bot: bool = False
    human: bool = False
    opened: bool = False
    bot_counted: bool = False
    handoff_counted: bool = False
    labels: list[str] = field(default_factory=list)
    breached: list[str] = field(default_factory=list)  # SLA instances already counted as breached
    backlog: list[Any] | None = None  # the gauge contribution last counted

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | bytes | None) -> State:
        return cls(**json.loads(raw)) if raw else cls()


def instance_key(target: Target, start_ms: int) -> str:
    """Names one SLA target instance (the first response; each wait; each open period)."""
    return target.value if target is Target.FIRST_RESPONSE else f"{target.value}:{start_ms}"


def fold(state: State, items: Sequence[Item], ctx: Context) -> list[Increment]:
    """Apply items (time-ordered) to `state` in place; return the increments they produce."""
    f = _Folder(state, ctx)
    if not state.language:
        state.language = ctx.language or NONE
    for item in items:
        f.step(item)
    f.backlog()
    return f.out


class _Folder:
    def __init__(self, state: State, ctx: Context) -> None:
        self.st = state
        self.ctx = ctx
        self.out: list[Increment] = []

    # emitting -------------------------------------------------------------------------------
    def emit(
        self,
        at_ms: int,
        metric: str,
        *,
        agent: str = "",
        seconds: float | None = None,
        labels: Sequence[str] | None = None,
    ) -> None:
        st, ctx = self.st, self.ctx
        at = datetime.fromtimestamp(at_ms / 1000, UTC)
        day = day_key(at, ctx.zone)
        hour = str(hour_of(at, ctx.zone))
        scope = (ctx.platform, st.team or NONE, st.language or NONE)
        pairs: list[tuple[str, int]]
        if seconds is None:
            pairs = [(metric, 1)]
        else:
            pairs = [(metric + "_n", 1), (metric + "_ms", round(seconds * 1000))]
            self.out.append(Increment(day, *scope, HIST, fld(metric, str(bucket_of(seconds))), 1))
        who = agent or st.agent
        for name, delta in pairs:
            cells = [("all", ""), ("hour", hour), ("account", ctx.account)]
            cells += [("label", label) for label in (st.labels if labels is None else labels)]
            if who:
                cells.append(("agent", who))
            self.out.extend(Increment(day, *scope, dim, fld(name, value), delta) for dim, value in cells)

    def latency(self, at_ms: int, metric: str, start_ms: int, agent: str = "") -> None:
        start = datetime.fromtimestamp(start_ms / 1000, UTC)
        end = datetime.fromtimestamp(at_ms / 1000, UTC)
        hours = self.ctx.hours_of(self.st.team)
        self.emit(at_ms, metric, agent=agent, seconds=elapsed_seconds(None, start, end))
        self.emit(
            at_ms,
            metric + "_bh",
            agent=agent,
            seconds=elapsed_seconds(hours, start, end) if hours else elapsed_seconds(None, start, end),
        )

    def sla_done(self, at_ms: int, target: Target, start_ms: int, agent: str = "") -> None:
        """A target instance completed: count it met, or breached unless already counted."""
        st = self.st
        key = instance_key(target, start_ms)
        if key in st.breached:
            st.breached.remove(key)  # counted when it breached; never seen again
            return
        policy = policy_for(list(self.ctx.policies), st.team, st.labels)
        limit = policy.target_seconds(target) if policy else None
        if policy is None or limit is None:
            return
        hours = self.ctx.hours_of(st.team) if policy.business_hours else None
        spent = elapsed_seconds(
            hours, datetime.fromtimestamp(start_ms / 1000, UTC), datetime.fromtimestamp(at_ms / 1000, UTC)
        )
        self.emit(at_ms, f"sla_{target.value}_{'met' if spent <= limit else 'breached'}", agent=agent)

    # the state machine ----------------------------------------------------------------------
    def step(self, item: Item) -> None:
        st, d, t = self.st, item.data, item.at_ms
        kind = item.kind
        if kind == MESSAGE:
            self.emit(t, "messages")
            if st.created_ms is None:
                st.created_ms = st.open_ms = t
            if st.status == "pending":
                st.status = "open"
            if st.waiting_ms is None and (st.last_reply_ms is None or t > st.last_reply_ms):
                st.waiting_ms = t
        elif kind == EventType.CREATED:
            if st.created_ms is None:
                st.created_ms = st.open_ms = t
        elif kind == EventType.ROUTED:
            st.team = str(d.get("team") or "")
            self.set_labels(t, _labels(d.get("labels")))
            if not st.opened:
                st.opened = True
                self.emit(t, "opened")
        elif kind == EventType.BOT_ASSIGNED:
            st.bot = True
            if not st.bot_counted:
                st.bot_counted = True
                self.emit(t, "bot_handled")
        elif kind == EventType.HANDOFF:
            st.bot, st.human = False, True
            if st.waiting_ms is None:
                st.waiting_ms = t  # the customer now waits for a person
            if not st.handoff_counted:
                st.handoff_counted = True
                self.emit(t, "handoff")
        elif kind == EventType.ASSIGNED:
            st.agent, st.human = f"agent:{d.get('agent')}", True
            self.emit(t, "assigned")
        elif kind == EventType.UNASSIGNED:
            st.agent = ""
        elif kind == EventType.QUEUED:
            st.team = str(d.get("team") or st.team)
            st.human = True
        elif kind == EventType.LABELS:
            self.set_labels(t, _labels(d.get("labels")))
        elif kind == EventType.REPLY_QUEUED:
            self.reply(item)
        elif kind == EventType.STATUS:
            self.status(item)
        elif kind == EventType.REOPENED:
            if st.status == "resolved":
                st.status = "open"
                st.open_ms = t
                self.emit(t, "reopened")
        elif kind in (EventType.PRIORITY, EventType.NOTE):
            self.sla_event(item)
        elif kind == EventType.ARTICLE_FEEDBACK:
            article = d.get("article")
            if isinstance(article, str) and article:
                metric = "article_helpful" if d.get("helpful") else "article_not_helpful"
                self.emit(t, metric, labels=[KB_PREFIX + article])

    def set_labels(self, at_ms: int, labels: list[str]) -> None:
        added = [x for x in labels if x not in self.st.labels]
        self.st.labels = sorted(set(labels))
        for label in added:
            self.emit(at_ms, "tagged", labels=[label])

    def reply(self, item: Item) -> None:
        st, t = self.st, item.at_ms
        actor = item.actor
        human = actor.startswith("agent:")
        if human:
            st.human = True
        self.emit(t, "replies" if human else "bot_replies", agent=actor)
        article = item.data.get("article")
        if isinstance(article, str) and article and KB_PREFIX + article not in st.labels:
            self.emit(t, "tagged", labels=[KB_PREFIX + article])
        if not human:
            if actor.startswith("bot:") and not st.human:  # the bot answered the customer itself
                if st.waiting_ms is not None:
                    self.emit(t, "bot_rt", agent=actor, seconds=(t - st.waiting_ms) / 1000)
                    st.waiting_ms = None
                st.last_reply_ms = t if st.last_reply_ms is None else max(st.last_reply_ms, t)
            return
        if st.waiting_ms is not None:
            start = st.waiting_ms
            target = Target.NEXT_RESPONSE if st.first_done else Target.FIRST_RESPONSE
            self.latency(t, "nrt" if st.first_done else "frt", start, agent=actor)
            self.sla_done(t, target, start, agent=actor)
            st.first_done = True
            st.waiting_ms = None
        st.last_reply_ms = t if st.last_reply_ms is None else max(st.last_reply_ms, t)

    def status(self, item: Item) -> None:
        st, t, d = self.st, item.at_ms, item.data
        new = str(d.get("status") or "")
        if new == "resolved" and st.status != "resolved":
            start = st.open_ms if st.open_ms is not None else t
            self.emit(t, "resolved", agent=item.actor)
            self.latency(t, "res", start, agent=item.actor)
            self.sla_done(t, Target.RESOLUTION, start, agent=item.actor)
            if d.get("by_bot") and not st.human:
                self.emit(t, "deflected", agent=item.actor)
            if st.waiting_ms is not None and not st.first_done:
                # Resolved without a reply: the first-response instance will never complete.
                st.breached = [b for b in st.breached if b != Target.FIRST_RESPONSE.value]
            st.waiting_ms = None
        elif new == "pending":
            st.waiting_ms = None  # the clock waits on the customer now
        if new in ("open", "pending", "resolved"):
            st.status = new

    def sla_event(self, item: Item) -> None:
        d = item.data
        target, level = d.get("sla"), d.get("level")
        if target not in {t.value for t in Target}:
            return
        if level == "warning":
            self.emit(item.at_ms, f"sla_{target}_warned")
        elif level == "breach":
            instance = str(d.get("instance") or target)
            if instance not in self.st.breached:
                self.st.breached.append(instance)
                self.emit(item.at_ms, f"sla_{target}_breached")

    def backlog(self) -> None:
        """Move the live gauges from what was counted to what the state is now."""
        st = self.st
        new: list[Any] | None = None
        if st.opened and st.status != "resolved":
            is_open = st.status == "open"
            flags = [is_open, is_open and not st.agent and not st.bot, st.status == "pending"]
            new = [flags, st.team or NONE, st.language or NONE, st.agent, list(st.labels)]
        if new == st.backlog:
            return
        if st.backlog is not None:
            self._gauges(st.backlog, -1)
        if new is not None:
            self._gauges(new, +1)
        st.backlog = new

    def _gauges(self, contribution: list[Any], delta: int) -> None:
        flags, team, language, agent, labels = contribution
        scope = (self.ctx.platform, team, language)
        for gauge, on in zip(("open", "unassigned", "pending"), flags, strict=True):
            if not on:
                continue
            cells = [("all", ""), ("account", self.ctx.account)] + [("label", x) for x in labels]
            if agent:
                cells.append(("agent", agent))
            self.out.extend(Increment("", *scope, dim, fld(gauge, value), delta) for dim, value in cells)


def _labels(value: Any) -> list[str]:
    return [str(x) for x in value] if isinstance(value, list) else []
