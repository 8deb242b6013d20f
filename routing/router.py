"""The router: threads inbound messages into conversations and decides who answers.

For each batch read from the inbound partitions it (1) threads every message into its
conversation (one Lua call each, pipelined), (2) decides, in Python, from data only: rules for a
new conversation, the bot's answer, a handoff, an assignment, and (3) commits each message's
effects atomically, acknowledging its inbound entry in the same call.

Idempotent: a message whose effects were committed is acknowledged, so it is not delivered
again (if a second router claimed it meanwhile, threading reports it "handled" and it is
skipped); one whose effects were not committed (a crash between (1) and (3)) is decided again
from the same state, and its replies keep their deterministic ids, so the customer never gets
two answers.

One router at a time: given `fences` (the tokens of the partitions it holds, see
`ownership.py`), the router handles only entries of those partitions and both scripts refuse a
token that is no longer current, so a router that lost a partition mid-batch writes nothing.
Optimistic: each conversation's commit expects the version its decision read; if a console
action, an SLA escalation or an assignment changed the conversation meanwhile, the commit is
refused for it and its messages are decided again from the new state.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import redis.asyncio as redis
from pydantic import ValidationError

from helpline.announcements.incident_flow import apply_incident, incident_action
from helpline.announcements.incidents import Incident, IncidentStore
from helpline.announcements.subscribers import SubscriberStore, apply_subscription
from helpline.bots.base import LABEL_MOVED_TO_PRIVATE, Bot, BotContext, BotDecision, BotReply
from helpline.bots.catalog import Catalog, default_catalog
from helpline.bots.language import script_contradicts
from helpline.bots.offhours import offhours_notice
from helpline.bots.survey import parse_rating, queue_survey
from helpline.insights.metrics import observe_route

from . import keys
from .assignment import AgentLoad, AssignmentStore, choose_agent
from .bus import Entry, EntryKey, Failure
from .hours import BusinessHours
from .models import (
    Conversation,
    ConversationEvent,
    EventType,
    InboundMessage,
    MessageKind,
    Status,
    utcnow,
)
from .outbound import private_followup, reply_to
from .rules import Decision, Rule, decide
from .scripts import CONFLICT
from .store import (
    Applied,
    ConversationStore,
    Effects,
    Fenced,
    Routing,
    contact_id,
    conversation_from_view,
    to_ms,
)

log = logging.getLogger(__name__)

ACTOR = "router"
REDECIDE = 5  # times a conversation changed by another writer is decided again in one batch


@dataclass
class RouterSettings:
    rules: Sequence[Rule] = ()
    hours: Mapping[str, BusinessHours] = field(default_factory=dict)  # per team
    default_team: str | None = None
    account_languages: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (platform, account)
    default_language: str = "en"
    catalog: Catalog = field(default_factory=default_catalog)  # customer-facing texts
    survey: bool = True  # ask for a 1-5 rating when a conversation is resolved


class RatingSink(Protocol):
    """Where satisfaction ratings are counted (the insights rating store)."""

    async def record_rating(self, conversation_id: str, score: int, comment: str = "", agent: str | None = None,
                            team: str | None = None) -> object: ...


class Router:
    def __init__(self, client: redis.Redis, store: ConversationStore, assignments: AssignmentStore,
                 settings: RouterSettings, bots: Mapping[str, Bot],
                 detect_language: Callable[[str], str | None] | None = None,
                 ratings: RatingSink | None = None,
                 fences: Callable[[], Mapping[int, str]] | None = None) -> None:
        self.client = client
        self.store = store
        self.assignments = assignments
        self.settings = settings
        self.bots = bots
        self.detect_language = detect_language
        self.ratings = ratings
        self.fences = fences  # the partitions this router holds, and their tokens (None: not fenced)
        self.subscribers = SubscriberStore(client)
        self.incidents = IncidentStore(client)
        self.handled = 0

    async def handle_batch(self, entries: list[Entry]) -> dict[EntryKey, Failure]:
        """Batch handler for the inbound consumer group. Idempotent (see module docstring)."""
        started = time.perf_counter()
        failures = await self._handle(entries)
        observe_route(len(entries), time.perf_counter() - started, len(failures))
        return failures

    async def _handle(self, entries: list[Entry]) -> dict[EntryKey, Failure]:
        failures: dict[EntryKey, Failure] = {}
        fences = None if self.fences is None else dict(self.fences())
        if fences is not None:  # another router's entries stay pending: theirs to decide, or to claim
            entries = [e for e in entries if keys.stream_partition(e.stream) in fences]
        parsed: list[tuple[Entry, InboundMessage, bytes]] = []
        for entry in entries:
            try:
                original = InboundMessage.model_validate_json(entry.payload)
            except ValidationError as exc:
                failures[entry.key] = Failure(f"invalid inbound message: {_first_error(exc)}", permanent=True)
                continue
            message = self._with_language(original)
            # The history stores exactly this text; it must be the same on every redelivery.
            raw = entry.payload if message is original else message.wire_json()
            parsed.append((entry, message, raw))
        for _ in range(REDECIDE):
            if not parsed:
                break
            try:
                parsed = await self._route(parsed, failures, fences)
            except Fenced as lost:
                # Those partitions' entries are their new owner's; the others are decided again
                # at once (both scripts are idempotent), not left pending until a claim.
                log.warning("router lost partitions %s during a batch: their new owner decides them",
                            sorted(lost.partitions))
                fences = {p: t for p, t in (fences or {}).items() if p not in lost.partitions}
                parsed = [item for item in parsed if keys.stream_partition(item[0].stream) not in lost.partitions]
        for entry, _, _ in parsed:  # still changing under us: leave them for the retry
            failures[entry.key] = Failure("the conversation kept changing while it was decided")
        return failures

    async def _route(self, parsed: list[tuple[Entry, InboundMessage, bytes]], failures: dict[EntryKey, Failure],
                     fences: Mapping[int, str] | None) -> list[tuple[Entry, InboundMessage, bytes]]:
        """Thread, decide and commit; returns the messages whose conversation another writer
        changed meanwhile (nothing of theirs was written: decide them again)."""
        now = utcnow()
        decisions = {m.dedupe_id: self.decide_rules(m, now) for _, m, _ in parsed}
        applied = await self.store.apply_messages(
            [(m, e.id, raw, _routing(decisions[m.dedupe_id])) for e, m, raw in parsed], now, fences)
        # A contact's profile is refreshed by each new conversation (not by every message).
        await self.store.upsert_contacts([m for (_, m, _), a in zip(parsed, applied, strict=True)
                                          if a.outcome != "handled" and a.fields.get("message_count") == "1"])
        batch = _Batch(self, now, decisions, await self._private_moves(parsed, applied))
        versions: dict[str, int] = {}  # the version each conversation's decisions read
        for a in applied:
            if a.outcome != "handled":
                versions[a.conversation_id] = max(versions.get(a.conversation_id, 0), int(a.fields.get("version", 0)))
        decided: list[tuple[tuple[Entry, InboundMessage, bytes], Effects]] = []
        committed_before: list[Entry] = []
        for item, result in zip(parsed, applied, strict=True):
            entry, message, _ = item
            if result.outcome == "handled":
                committed_before.append(entry)
                continue
            try:
                effects = await batch.decide(entry.id, message, result)
            except Exception as exc:  # a bug or a bot failure must not block the partition
                log.exception("routing failed for entry %s", entry.id)
                failures[entry.key] = Failure(f"{type(exc).__name__}: {exc}")
                batch.forget(result.conversation_id)
                continue
            if (version := versions.pop(effects.conversation_id, None)) is not None:
                effects.expect_version(version)  # the first item of a conversation carries its guard
            decided.append((item, effects))
        if self.ratings is not None:  # before the commit: recording twice is a no-op, missing one is not
            for rating in batch.ratings:
                await self.ratings.record_rating(*rating)
        results = await self.store.commit([*(e for _, e in decided), *batch.linked], now, fences)
        conflicted = {e.conversation_id for (_, e), code in zip(decided, results, strict=False) if code == CONFLICT}
        await self._acknowledge(committed_before)
        moved = [contact for contact, cid in batch.moved if cid not in conflicted]
        if moved:
            await self.client.delete(*(keys.private_move(c) for c in moved))
        touched = sorted({e.conversation_id for _, e in decided} - conflicted)
        if touched:
            await self.client.publish(keys.live_channel(), json.dumps({"conversations": touched}))
        again = [item for item, e in decided if e.conversation_id in conflicted]
        self.handled += len(decided) - len(again) + len(committed_before)
        return again

    async def _acknowledge(self, entries: Sequence[Entry]) -> None:
        """Entries whose effects were committed earlier (the commit acknowledges the others)."""
        if entries:
            async with self.client.pipeline(transaction=False) as pipe:
                for e in entries:
                    pipe.xack(e.stream, keys.ROUTER_GROUP, e.id)
                await pipe.execute()

    async def _private_moves(self, parsed: Sequence[tuple[Entry, InboundMessage, bytes]],
                             applied: Sequence[Applied]) -> dict[str, str]:
        """Invitations to write privately, for the customers who start a private conversation
        in this batch: read in one round trip."""
        contacts = sorted({a.fields.get("contact_id", "") for (_, m, _), a in zip(parsed, applied, strict=True)
                           if m.kind is MessageKind.DIRECT and a.outcome != "handled"
                           and a.fields.get("routed") != "1"} - {""})
        if not contacts:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:  # keys in many slots: no MGET
            for c in contacts:
                pipe.get(keys.private_move(c))
            values = await pipe.execute()
        return {c: v.decode() for c, v in zip(contacts, values, strict=True) if v is not None}

    def _with_language(self, message: InboundMessage) -> InboundMessage:
        """Detect the language when the platform gave none, or gave one the text contradicts."""
        if self.detect_language is None or not message.text:
            return message
        if message.language is None or script_contradicts(message.language, message.text):
            language = self.detect_language(message.text)
            if language is not None and language != message.language:
                return message.model_copy(update={"language": language})
        return message

    def decide_rules(self, message: InboundMessage, now: datetime) -> Decision:
        """The rules' verdict, used if the message starts a conversation (decided before threading,
        so the conversation is created with its team)."""
        return decide(self.settings.rules, message, now, self.settings.hours, self.settings.default_team)

    def language_of(self, message: InboundMessage, conversation: Conversation) -> str:
        return (message.language or conversation.language
                or self.settings.account_languages.get((message.platform, message.account))
                or self.settings.default_language)


class _Batch:
    """Decisions for one batch; keeps conversations changed earlier in the batch up to date."""

    def __init__(self, router: Router, now: datetime, decisions: dict[str, Decision],
                 private_moves: dict[str, str]) -> None:
        self.router = router
        self.now = now
        self.decisions = decisions  # the rules' verdict on each message of the batch, by dedupe id
        self.private_moves = private_moves  # contact id -> public conversation it was invited from
        self.moved: list[tuple[str, str]] = []  # (contact, conversation) whose invitation this batch used
        self.fields: dict[str, dict[str, str]] = {}
        self.convs: dict[str, Conversation] = {}  # built from `fields`, until they change
        self.bot_states: dict[str, dict[str, str]] = {}
        self.linked: list[Effects] = []  # effects on other conversations (links), committed with the batch
        self.ratings: list[tuple[str, int, str, str | None, str | None]] = []  # counted before the commit
        self._incidents: list[Incident] | None = None  # open incidents, read once per batch
        self._roster: list[AgentLoad] | None = None

    async def decide(self, entry_id: str, message: InboundMessage, applied: Applied) -> Effects:
        cid = applied.conversation_id
        fields = self.fields.setdefault(cid, dict(applied.fields))
        self.bot_states.setdefault(cid, dict(applied.bot_state))
        conv = self._conv(cid, message)
        effects = Effects(cid)
        if (fields.get("survey") == "asked" and not message.auto_submitted
                and (rating := parse_rating(message.text)) is not None):
            self._record_rating(conv, message, rating, effects)
            return effects.acknowledge(entry_id)
        if fields.get("routed") != "1":
            await self._route_new(conv, message, effects)
            conv = self._conv(cid, message)
        elif applied.reopened:
            effects.event(self._event(cid, EventType.REOPENED, "customer wrote after it was resolved"))
            if not conv.handler and not conv.assignee:
                await self._assign(conv, message, effects, "reopened")
                conv = self._conv(cid, message)
        if message.auto_submitted:
            await self._machine_wrote(conv, message, effects)
        elif await self._announcements(conv, message, effects):
            pass  # a subscription command or an incident answer: the customer has their reply
        elif conv.handler and conv.handler.startswith("bot:"):
            await self._ask_bot(conv, message, effects)
        elif fields.get("routed") == "1" and not conv.assignee and not fields.get("queued_team"):
            await self._assign(conv, message, effects, "needs an agent")
        return effects.acknowledge(entry_id)

    async def _machine_wrote(self, conv: Conversation, message: InboundMessage, effects: Effects) -> None:
        """An automatic message gets no automatic answer. A conversation it starts goes to the
        humans (a bot would answer it); in a bot's conversation it waits for the customer."""
        if self.fields[conv.id].get("message_count") != "1":
            return
        if conv.handler:
            self._set(conv.id, effects, handler="")
            effects.event(self._event(conv.id, EventType.HANDOFF, "sent automatically: no bot answers it"))
        if not conv.assignee and not self.fields[conv.id].get("queued_team"):
            await self._assign(self._conv(conv.id, message), message, effects, "sent automatically")

    def forget(self, conv_id: str) -> None:
        """Drop uncommitted changes of a conversation whose decision failed."""
        self.fields.pop(conv_id, None)
        self.convs.pop(conv_id, None)
        self.bot_states.pop(conv_id, None)

    def _conv(self, conv_id: str, message: InboundMessage) -> Conversation:
        conv = self.convs.get(conv_id)
        if conv is None:
            conv = self.convs[conv_id] = conversation_from_view(self.fields[conv_id], message, conv_id)
        return conv

    def _set(self, conv_id: str, effects: Effects, **values: str) -> None:
        self._update(conv_id, **values)
        effects.set(**values)

    def _update(self, conv_id: str, **values: str) -> None:
        self.fields[conv_id].update(values)
        self.convs.pop(conv_id, None)

    def _event(self, conv_id: str, type_: EventType, reason: str, actor: str = ACTOR,
               **data: str | int | float | bool | list[str] | None) -> ConversationEvent:
        return ConversationEvent(conversation_id=conv_id, type=type_, actor=actor, reason=reason, data=data,
                                 at=self.now)

    async def _route_new(self, conv: Conversation, message: InboundMessage, effects: Effects) -> None:
        d = self.decisions[message.dedupe_id]
        effects.event(self._event(conv.id, EventType.CREATED, f"first {message.kind.value} message in thread",
                                  platform=message.platform, account=message.account))
        effects.event(self._event(conv.id, EventType.ROUTED, d.reason, priority=d.priority.value,
                                  team=d.team, labels=list(d.labels), bot=d.bot))
        self._set(conv.id, effects, routed="1")
        if message.kind is MessageKind.DIRECT:
            self._link_private_move(conv, effects)
        if d.bot and d.bot in self.router.bots:
            self._set(conv.id, effects, handler=f"bot:{d.bot}")
            effects.event(self._event(conv.id, EventType.BOT_ASSIGNED, f"rule sent it to bot {d.bot}", bot=d.bot))
        elif d.bot:
            self._set(conv.id, effects, handler="")
            effects.event(self._event(conv.id, EventType.HANDOFF, f"bot {d.bot} is not configured"))

    async def _ask_bot(self, conv: Conversation, message: InboundMessage, effects: Effects) -> None:
        assert conv.handler is not None
        name = conv.handler.removeprefix("bot:")
        bot = self.router.bots.get(name)
        if bot is None:
            self._set(conv.id, effects, handler="")
            effects.event(self._event(conv.id, EventType.HANDOFF, f"bot {name} is not configured"))
            await self._assign(conv, message, effects, "bot unavailable")
            return
        contact = await self.router.store.contact(contact_id(message)) if _needs_contact(bot) else None
        ctx = BotContext(conversation=conv, message=message, contact=contact,
                         state=self.bot_states[conv.id], now=self.now,
                         language=self.router.language_of(message, conv))
        decision = await bot.handle(ctx)
        self._apply_bot(conv, message, name, decision, effects)
        if LABEL_MOVED_TO_PRIVATE in decision.labels:
            # Remember the invitation: the customer's private conversation will be linked to this one.
            await self.router.client.set(keys.private_move(conv.contact_id), conv.id, ex=7 * 86400)
        if decision.handoff is not None:
            await self._assign(self._conv(conv.id, message), message, effects,
                               f"handoff from bot {name}")

    def _apply_bot(self, conv: Conversation, message: InboundMessage, name: str, decision: BotDecision,
                   effects: Effects) -> None:
        actor = f"bot:{name}"
        partition = keys.conversation_partition(conv.id)
        for i, r in enumerate(decision.replies):
            reply_id = f"{conv.id}:{message.message_id}:{name}:{i}"
            if r.private and conv.visibility.value == "public":
                reply = private_followup(conv, reply_id=reply_id, text=r.text, sender=actor,
                                         recipient_id=message.author.user_id)
            else:
                reply = reply_to(conv, reply_id=reply_id, text=r.text, sender=actor,
                                 in_reply_to=message.message_id, recipient_id=message.author.user_id,
                                 buttons=r.buttons)
            effects.reply(reply, partition)
            effects.event(self._event(conv.id, EventType.REPLY_QUEUED, decision.note or "bot answer",
                                      actor=actor, reply_id=reply_id, private=reply.visibility.value == "private",
                                      text=r.text))
        if decision.replies and not self.fields[conv.id].get("first_response_at"):
            self._set(conv.id, effects, first_response_at=str(to_ms(self.now)))
        if dict(decision.state) != self.bot_states[conv.id]:
            self.bot_states[conv.id] = dict(decision.state)
            effects.bot_state(decision.state)
        if decision.priority is not None and decision.priority.rank > conv.priority.rank:
            self._set(conv.id, effects, priority=decision.priority.value)
            effects.event(self._event(conv.id, EventType.PRIORITY, decision.note or "bot raised the priority",
                                      actor=actor, priority=decision.priority.value))
        if decision.labels:
            labels = sorted(set(conv.labels) | set(decision.labels))
            self._update(conv.id, labels=json.dumps(labels))
            effects.labels(add=decision.labels)
            effects.event(self._event(conv.id, EventType.LABELS, decision.note or "bot labelled", actor=actor,
                                      labels=labels))
        if decision.handoff is not None:
            self._set(conv.id, effects, handler="")
            effects.event(self._event(conv.id, EventType.HANDOFF, decision.handoff.reason, actor=actor,
                                      summary=decision.handoff.summary))
        elif decision.resolve:
            self._set(conv.id, effects, status=Status.RESOLVED.value, resolved_at=str(to_ms(self.now)),
                      resolved_by=actor)
            effects.event(self._event(conv.id, EventType.STATUS, decision.note or "resolved by the bot",
                                      actor=actor, status="resolved", by_bot=True))
            self._ask_survey(conv, message, effects)
        elif decision.pending:
            self._set(conv.id, effects, status=Status.PENDING.value)
            effects.event(self._event(conv.id, EventType.STATUS, decision.note or "waiting on the customer",
                                      actor=actor, status="pending"))

    async def _assign(self, conv: Conversation, message: InboundMessage, effects: Effects, why: str) -> None:
        """Give the conversation to an online agent of its team, or queue it. Idempotent: an
        earlier claim for this conversation is found and reused."""
        assignments = self.router.assignments
        agent_id = await assignments.assigned_to(conv.id)
        reason = f"{why}; already claimed"
        if agent_id is None:
            roster = await self._load_roster()
            contact = await self.router.store.contact(conv.contact_id)
            language = self.router.language_of(message, conv)
            choice = choose_agent(roster, conv.team, language, contact.last_agent if contact else None)
            reason = f"{why}; {choice.reason}"
            if choice.agent_id is not None:
                agent_id = await assignments.claim(conv.id, choice.agent_id)
                self._roster = None  # loads changed
            if agent_id is None:
                team = conv.team or "default"
                await assignments.enqueue(team, conv.id, language, conv.priority, to_ms(conv.created_at))
                self._set(conv.id, effects, queued_team=team)
                effects.event(self._event(conv.id, EventType.QUEUED, reason, team=team,
                                          priority=conv.priority.value))
                self._offhours(conv, message, team, effects)
                return
        self._set(conv.id, effects, assignee=agent_id, queued_team="")
        effects.event(self._event(conv.id, EventType.ASSIGNED, reason, agent=agent_id))
        await self.router.client.hset(keys.contact(conv.contact_id), "last_agent", agent_id)  # type: ignore[misc]

    async def _announcements(self, conv: Conversation, message: InboundMessage, effects: Effects) -> bool:
        """Subscription commands (/subscribe, /unsubscribe) and incident mode. True if answered.
        Idempotent: the store changes are set operations and the reply ids are deterministic."""
        language = self.router.language_of(message, conv)
        subscription = await apply_subscription(self.router.subscribers, message, language)
        if subscription is not None:
            self._system_reply(conv, message, "subscription", BotReply(subscription.text, subscription.buttons),
                               effects, f"announcements: {subscription.command}")
            return True
        if self._incidents is None:
            self._incidents = await self.router.incidents.open_incidents()
        action = incident_action(self._incidents, message, conv, language) if self._incidents else None
        if action is None:
            return False
        await self.router.incidents.link(action.incident_id, conv.id)
        apply_incident(effects, action, conv, message)
        self._update(conv.id, labels=json.dumps(sorted({*conv.labels, action.label})))
        return True

    def _system_reply(self, conv: Conversation, message: InboundMessage, what: str, reply: BotReply,
                      effects: Effects, reason: str) -> None:
        """A reply from Helpline itself (not a bot or agent), in the conversation's own thread."""
        reply_id = f"{conv.id}:{message.message_id}:{what}"
        reply_out = reply_to(conv, reply_id=reply_id, text=reply.text, sender="system",
                             in_reply_to=message.message_id, recipient_id=message.author.user_id, buttons=reply.buttons)
        effects.reply(reply_out, keys.conversation_partition(conv.id))
        effects.event(self._event(conv.id, EventType.REPLY_QUEUED, reason, actor="system", reply_id=reply_id,
                                  text=reply.text))

    def _offhours(self, conv: Conversation, message: InboundMessage, team: str, effects: Effects) -> None:
        """Tell the customer when a human will answer, once per conversation per day."""
        hours = self.router.settings.hours.get(team)
        if hours is None or message.auto_submitted:
            return
        language = self.router.language_of(message, conv)
        notice = offhours_notice(hours, self.now, language, self.router.settings.catalog,
                                 self.fields[conv.id].get("offhours_day"))
        if notice is None:
            return
        text, day = notice
        self._set(conv.id, effects, offhours_day=day)
        self._system_reply(conv, message, f"offhours-{day}", BotReply(text), effects,
                           f"team {team} is closed: told the customer when it opens")
        effects.event(self._event(conv.id, EventType.OFFHOURS, f"team {team} is closed", team=team))

    def _ask_survey(self, conv: Conversation, message: InboundMessage, effects: Effects) -> None:
        if not self.router.settings.survey or self.fields[conv.id].get("survey"):
            return  # asked once per conversation
        self._update(conv.id, survey="asked")
        queue_survey(effects, conv, language=self.router.language_of(message, conv),
                     catalog=self.router.settings.catalog, in_reply_to=message.message_id,
                     recipient_id=message.author.user_id, now=self.now)

    def _record_rating(self, conv: Conversation, message: InboundMessage, rating: tuple[int, str],
                       effects: Effects) -> None:
        """The customer answered the survey: store the rating; the conversation stays resolved."""
        score, comment = rating
        fields = self.fields[conv.id]
        agent = fields.get("assignee") or fields.get("resolved_by") or ""
        self._set(conv.id, effects, status=Status.RESOLVED.value, survey="done", csat=str(score))
        self.ratings.append((conv.id, score, comment[:500], agent or None, conv.team))
        effects.event(self._event(conv.id, EventType.RATING, f"customer rated {score}/5", actor="customer",
                                  score=score, comment=comment[:500], agent=agent, team=conv.team))
        language = self.router.language_of(message, conv)
        self._system_reply(conv, message, "survey-thanks",
                           BotReply(self.router.settings.catalog.text(language, "survey_thanks")), effects,
                           "thanked the customer for the rating")

    def _link_private_move(self, conv: Conversation, effects: Effects) -> None:
        """The customer the bot moved from a public thread writes privately: link both ways.
        (The invitations were read for the whole batch; they are removed after the commit.)"""
        other = self.private_moves.get(conv.contact_id)
        if other is None:
            return
        self.moved.append((conv.contact_id, conv.id))
        self._set(conv.id, effects, linked=other)
        effects.event(self._event(conv.id, EventType.LINKED, "the customer came over from a public thread",
                                  conversation=other))
        self.linked.append(Effects(other).once(f"linked:{conv.id}").set(linked=conv.id).event(
            self._event(other, EventType.LINKED, "the customer continued in a private conversation",
                        conversation=conv.id)))

    async def _load_roster(self) -> list[AgentLoad]:
        if self._roster is None:
            self._roster = await self.router.assignments.roster()
        return self._roster


def _routing(d: Decision) -> Routing:
    return Routing(d.priority.value, d.team or "", f"bot:{d.bot}" if d.bot else "",
                   json.dumps(list(d.labels)) if d.labels else "[]")


def _needs_contact(bot: Bot) -> bool:
    return bool(getattr(bot, "needs_contact", False))


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "payload"
    return f"{where}: {err.get('msg', 'invalid')}"

