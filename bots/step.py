"""Bots in the routing chain: the conversation's bot answers the message (see
`helpline.routing.chain` for the step contract).

The bot decides from data (`Bot.handle` returns a `BotDecision`); this step turns the decision
into the turn's changes: replies (a private follow-up where a public thread must not get the
answer), bot state, priority, labels, handoff, resolution. A handoff asks the assignment step
for an agent; a resolution lets the survey step ask for a rating.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.chain import BaseStep, Turn
from helpline.routing.models import EventType, Status
from helpline.routing.outbound import private_followup, reply_to
from helpline.routing.store import ConversationStore, contact_id, to_ms

from .base import LABEL_MOVED_TO_PRIVATE, Bot, BotContext, BotDecision
from .examples import ExampleStore, Source

PRIVATE_MOVE_TTL_S = 7 * 86400


@dataclass
class BotStep(BaseStep):
    """The bot that has the conversation answers. Idempotent: reply ids are derived from the
    message, the bot name and the reply's position."""

    bots: Mapping[str, Bot]
    store: ConversationStore
    client: redis.Redis
    name: str = "bots"

    async def prepare(self, turn: Turn) -> None:
        # Once per batch: bots that learn (approved examples) pick up what changed.
        if turn.cache.setdefault("bots.refreshed", False):
            return
        turn.cache["bots.refreshed"] = True
        for bot in self.bots.values():
            refresh = getattr(bot, "refresh", None)
            if refresh is not None:
                await refresh(self.client)

    def check(self, turn: Turn) -> str | None:
        handler = turn.conversation.handler
        return handler.removeprefix("bot:") if handler and handler.startswith("bot:") else None

    async def handle(self, turn: Turn, decision: str) -> bool:
        name = decision
        bot = self.bots.get(name)
        if bot is None:
            turn.set(handler="")
            turn.event(EventType.HANDOFF, f"bot {name} is not configured")
            turn.wants_agent = "bot unavailable"
            return False
        conv, message = turn.conversation, turn.message
        contact = await self.store.contact(contact_id(message)) if getattr(bot, "needs_contact", False) else None
        ctx = BotContext(
            conversation=conv,
            message=message,
            contact=contact,
            state=turn.bot_state,
            now=turn.now,
            language=turn.language,
        )
        answer = await bot.handle(ctx)
        self._apply(turn, name, answer)
        if answer.example is not None:  # outside the commit, so idempotent: one example per phrasing
            key, question = answer.example
            await ExampleStore(self.client).propose(
                key, turn.language, question, Source.CLARIFIED, conversation_id=conv.id, who=f"bot:{name}"
            )
        if LABEL_MOVED_TO_PRIVATE in answer.labels:
            # Remember the invitation: the customer's private conversation will be linked to this one.
            await self.client.set(keys.private_move(conv.contact_id), conv.id, ex=PRIVATE_MOVE_TTL_S)
        if answer.handoff is not None:
            turn.wants_agent = f"handoff from bot {name}"
        return False

    @staticmethod
    def _apply(turn: Turn, name: str, decision: BotDecision) -> None:
        conv, message = turn.conversation, turn.message
        actor = f"bot:{name}"
        partition = keys.conversation_partition(conv.id)
        last = len(decision.replies) - 1
        for i, r in enumerate(decision.replies):
            reply_id = f"{conv.id}:{message.message_id}:{name}:{i}"
            article = {"article": decision.article} if decision.article and i == last else {}
            if r.private and conv.visibility.value == "public":
                reply = private_followup(
                    conv, reply_id=reply_id, text=r.text, sender=actor, recipient_id=message.author.user_id
                )
            else:
                reply = reply_to(
                    conv,
                    reply_id=reply_id,
                    text=r.text,
                    sender=actor,
                    in_reply_to=message.message_id,
                    recipient_id=message.author.user_id,
                    buttons=r.buttons,
                )
            turn.effects.reply(reply, partition)
            turn.event(
                EventType.REPLY_QUEUED,
                decision.note or "bot answer",
                actor=actor,
                reply_id=reply_id,
                private=reply.visibility.value == "private",
                text=r.text,
                **article,
            )
        if decision.feedback is not None:
            said = "helped" if decision.feedback.helpful else "did not help"
            turn.event(
                EventType.ARTICLE_FEEDBACK,
                f"the customer said article {decision.feedback.key!r} {said}",
                actor=actor,
                article=decision.feedback.key,
                language=turn.language,
                helpful=decision.feedback.helpful,
            )
        if decision.replies and not turn.fields.get("first_response_at"):
            turn.set(first_response_at=str(to_ms(turn.now)))
        if dict(decision.state) != turn.bot_state:
            turn.bot_state.clear()
            turn.bot_state.update(decision.state)
            turn.effects.bot_state(decision.state)
        if decision.priority is not None and decision.priority.rank > conv.priority.rank:
            turn.set(priority=decision.priority.value)
            turn.event(
                EventType.PRIORITY,
                decision.note or "bot raised the priority",
                actor=actor,
                priority=decision.priority.value,
            )
        if decision.labels:
            labels = sorted(set(conv.labels) | set(decision.labels))
            turn.note(labels=json.dumps(labels))
            turn.effects.labels(add=decision.labels)
            turn.event(EventType.LABELS, decision.note or "bot labelled", actor=actor, labels=labels)
        if decision.handoff is not None:
            turn.set(handler="")
            gap: dict[str, str | bool] = (
                {"unanswered": True, "question": decision.handoff.question, "language": turn.language}
                if decision.handoff.unanswered
                else {}
            )
            turn.event(EventType.HANDOFF, decision.handoff.reason, actor=actor, summary=decision.handoff.summary, **gap)
        elif decision.resolve:
            turn.set(status=Status.RESOLVED.value, resolved_at=str(to_ms(turn.now)), resolved_by=actor)
            turn.event(
                EventType.STATUS, decision.note or "resolved by the bot", actor=actor, status="resolved", by_bot=True
            )
            turn.resolved = True
        elif decision.pending:
            turn.set(status=Status.PENDING.value)
            turn.event(EventType.STATUS, decision.note or "waiting on the customer", actor=actor, status="pending")
