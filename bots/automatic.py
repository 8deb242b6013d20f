"""Automatic messages (an out-of-office reply, a mail flagged auto-submitted) in the routing
chain: they get no automatic answer (see `helpline.routing.chain` for the step contract). Messages
an agent split off into a conversation of their own are treated the same way: people took them in
hand, so no bot, off-hours notice or survey answers them."""

from __future__ import annotations

from dataclasses import dataclass

from helpline.routing.chain import BaseStep, Step, Turn
from helpline.routing.models import EventType


@dataclass
class AutomaticMessageStep(BaseStep):
    """Ends the chain for an automatic message, so no bot, subscription or incident answer goes
    back to a machine (two auto-responders would answer each other for ever). A conversation
    such a message starts goes to the humans, through `assign` (the assignment step); in a
    conversation already going, it waits for the customer."""

    assign: Step
    name: str = "automatic-messages"

    def check(self, turn: Turn) -> bool | None:
        return True if turn.message.auto_submitted or turn.message.moved_from else None

    async def handle(self, turn: Turn, decision: bool) -> bool:
        if turn.fields.get("message_count") != "1":
            return True
        moved_from = turn.message.moved_from
        why = f"split off conversation {moved_from} by an agent" if moved_from else "sent automatically"
        if moved_from:
            turn.event(EventType.LINKED, why, conversation=moved_from)
        if turn.conversation.handler:
            turn.set(handler="")
            turn.event(EventType.HANDOFF, f"{why}: no bot answers it")
        turn.wants_agent = why
        if (choice := self.assign.check(turn)) is not None:
            await self.assign.handle(turn, choice)
        return True
