"""The router: threads inbound messages into conversations and runs the chain of steps.

For each batch read from the inbound partitions it (1) threads every message into its
conversation (one Lua call per partition, pipelined; the rules' verdict gives a new conversation
its team and bot), (2) runs the ordered chain of steps it was given (`chain.py`: surveys,
subscriptions, incidents, bots, assignment, off-hours... assembled by the composition root),
which record their decisions as data, and (3) commits each message's effects atomically,
acknowledging its inbound entry in the same call. The router knows no feature: it imports
nothing above `routing`; metrics are observed through the `observe` hook.

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
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import redis.asyncio as redis
from pydantic import ValidationError

from . import keys
from .bus import Entry, EntryKey, Failure
from .chain import ROUTER_ACTOR, Step, Turn
from .hours import BusinessHours
from .models import (
    Conversation,
    ConversationEvent,
    EventType,
    InboundMessage,
    MessageKind,
    utcnow,
)
from .rules import Decision, Rule, decide
from .scripts import CONFLICT
from .store import (
    Applied,
    ConversationStore,
    Effects,
    Fenced,
    Routing,
)

log = logging.getLogger(__name__)

REDECIDE = 5  # times a conversation changed by another writer is decided again in one batch


@dataclass
class RouterSettings:
    rules: Sequence[Rule] = ()
    hours: Mapping[str, BusinessHours] = field(default_factory=dict)  # per team
    default_team: str | None = None
    account_languages: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (platform, account)
    default_language: str = "en"


#: Observes each batch: (entries, seconds, failures). Metrics hook in here (the composition root).
BatchObserver = Callable[[int, float, int], None]


class Router:
    def __init__(
        self,
        client: redis.Redis,
        store: ConversationStore,
        settings: RouterSettings,
        steps: Sequence[Step],
        bot_names: Collection[str] = (),
        normalize: Callable[[InboundMessage], InboundMessage] | None = None,
        fences: Callable[[], Mapping[int, str]] | None = None,
        observe: BatchObserver | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.steps = list(steps)
        self.bot_names = frozenset(bot_names)  # a rule may send a new conversation to one of them
        self.normalize = normalize  # e.g. language detection, before the message is threaded
        self.fences = fences  # the partitions this router holds, and their tokens (None: not fenced)
        self.observe = observe
        self.handled = 0

    async def handle_batch(self, entries: list[Entry]) -> dict[EntryKey, Failure]:
        """Batch handler for the inbound consumer group. Idempotent (see module docstring)."""
        started = time.perf_counter()
        failures = await self._handle(entries)
        if self.observe is not None:
            self.observe(len(entries), time.perf_counter() - started, len(failures))
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
            message = self.normalize(original) if self.normalize is not None else original
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
                log.warning(
                    "router lost partitions %s during a batch: their new owner decides them", sorted(lost.partitions)
                )
                fences = {p: t for p, t in (fences or {}).items() if p not in lost.partitions}
                parsed = [item for item in parsed if keys.stream_partition(item[0].stream) not in lost.partitions]
        for entry, _, _ in parsed:  # still changing under us: leave them for the retry
            failures[entry.key] = Failure("the conversation kept changing while it was decided")
        return failures

    async def _route(
        self,
        parsed: list[tuple[Entry, InboundMessage, bytes]],
        failures: dict[EntryKey, Failure],
        fences: Mapping[int, str] | None,
    ) -> list[tuple[Entry, InboundMessage, bytes]]:
        """Thread, decide and commit; returns the messages whose conversation another writer
        changed meanwhile (nothing of theirs was written: decide them again)."""
        now = utcnow()
        decisions = {m.dedupe_id: self.decide_rules(m, now) for _, m, _ in parsed}
        applied = await self.store.apply_messages(
            [(m, e.id, raw, _routing(decisions[m.dedupe_id])) for e, m, raw in parsed], now, fences
        )
        # A contact's profile is refreshed by each new conversation (not by every message).
        await self.store.upsert_contacts(
            [
                m
                for (_, m, _), a in zip(parsed, applied, strict=True)
                if a.outcome != "handled" and a.fields.get("message_count") == "1"
            ]
        )
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

    async def _private_moves(
        self, parsed: Sequence[tuple[Entry, InboundMessage, bytes]], applied: Sequence[Applied]
    ) -> dict[str, str]:
        """Invitations to write privately, for the customers who start a private conversation
        in this batch: read in one round trip."""
        contacts = sorted(
            {
                a.fields.get("contact_id", "")
                for (_, m, _), a in zip(parsed, applied, strict=True)
                if m.kind is MessageKind.DIRECT and a.outcome != "handled" and a.fields.get("routed") != "1"
            }
            - {""}
        )
        if not contacts:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:  # keys in many slots: no MGET
            for c in contacts:
                pipe.get(keys.private_move(c))
            values = await pipe.execute()
        return {c: v.decode() for c, v in zip(contacts, values, strict=True) if v is not None}

    def decide_rules(self, message: InboundMessage, now: datetime) -> Decision:
        """The rules' verdict, used if the message starts a conversation (decided before threading,
        so the conversation is created with its team)."""
        return decide(self.settings.rules, message, now, self.settings.hours, self.settings.default_team)

    def language_of(self, message: InboundMessage, conversation: Conversation) -> str:
        return (
            message.language
            or conversation.language
            or self.settings.account_languages.get((message.platform, message.account))
            or self.settings.default_language
        )


class _Batch:
    """Decisions for one batch; keeps conversations changed earlier in the batch up to date."""

    def __init__(
        self, router: Router, now: datetime, decisions: dict[str, Decision], private_moves: dict[str, str]
    ) -> None:
        self.router = router
        self.now = now
        self.decisions = decisions  # the rules' verdict on each message of the batch, by dedupe id
        self.private_moves = private_moves  # contact id -> public conversation it was invited from
        self.moved: list[tuple[str, str]] = []  # (contact, conversation) whose invitation this batch used
        self.fields: dict[str, dict[str, str]] = {}
        self.bot_states: dict[str, dict[str, str]] = {}
        self.linked: list[Effects] = []  # effects on other conversations (links), committed with the batch
        self.cache: dict[str, object] = {}  # what steps read once per batch

    async def decide(self, entry_id: str, message: InboundMessage, applied: Applied) -> Effects:
        cid = applied.conversation_id
        fields = self.fields.setdefault(cid, dict(applied.fields))
        state = self.bot_states.setdefault(cid, dict(applied.bot_state))
        effects = Effects(cid)
        turn = Turn(message, applied, fields, state, effects, self.now, "", self.cache)
        turn.language = self.router.language_of(message, turn.conversation)
        if fields.get("routed") != "1":
            self._route_new(turn)
        for step in self.router.steps:
            await step.prepare(turn)
            decision = step.check(turn)
            if decision is not None and await step.handle(turn, decision):
                break
        return effects.acknowledge(entry_id)

    def forget(self, conv_id: str) -> None:
        """Drop uncommitted changes of a conversation whose decision failed."""
        self.fields.pop(conv_id, None)
        self.bot_states.pop(conv_id, None)

    def _route_new(self, turn: Turn) -> None:
        message = turn.message
        d = self.decisions[message.dedupe_id]
        turn.event(
            EventType.CREATED,
            f"first {message.kind.value} message in thread",
            platform=message.platform,
            account=message.account,
        )
        turn.event(EventType.ROUTED, d.reason, priority=d.priority.value, team=d.team, labels=list(d.labels), bot=d.bot)
        turn.set(routed="1")
        if message.kind is MessageKind.DIRECT:
            self._link_private_move(turn)
        if d.bot and d.bot in self.router.bot_names:
            turn.set(handler=f"bot:{d.bot}")
            turn.event(EventType.BOT_ASSIGNED, f"rule sent it to bot {d.bot}", bot=d.bot)
        elif d.bot:
            turn.set(handler="")
            turn.event(EventType.HANDOFF, f"bot {d.bot} is not configured")

    def _link_private_move(self, turn: Turn) -> None:
        """The customer the bot moved from a public thread writes privately: link both ways.
        (The invitations were read for the whole batch; they are removed after the commit.)"""
        conv = turn.conversation
        other = self.private_moves.get(conv.contact_id)
        if other is None:
            return
        self.moved.append((conv.contact_id, conv.id))
        turn.set(linked=other)
        turn.event(EventType.LINKED, "the customer came over from a public thread", conversation=other)
        self.linked.append(
            Effects(other)
            .once(f"linked:{conv.id}")
            .set(linked=conv.id)
            .event(
                ConversationEvent(
                    conversation_id=other,
                    type=EventType.LINKED,
                    actor=ROUTER_ACTOR,
                    reason="the customer continued in a private conversation",
                    data={"conversation": conv.id},
                    at=self.now,
                )
            )
        )


class ReopenedStep:
    """A resolved conversation the customer wrote to again: say so in its events."""

    name = "reopened"

    async def prepare(self, turn: Turn) -> None:
        return None

    def check(self, turn: Turn) -> bool | None:
        return True if turn.applied.reopened and turn.fields.get("routed") == "1" else None

    async def handle(self, turn: Turn, decision: bool) -> bool:
        turn.event(EventType.REOPENED, "customer wrote after it was resolved")
        return False


def _routing(d: Decision) -> Routing:
    return Routing(
        d.priority.value,
        d.team or "",
        f"bot:{d.bot}" if d.bot else "",
        json.dumps(list(d.labels)) if d.labels else "[]",
    )


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "payload"
    return f"{where}: {err.get('msg', 'invalid')}"
