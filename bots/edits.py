"""Edited messages in the routing chain: kept in the history, not answered again (see
`helpline.routing.chain` for the step contract)."""

from __future__ import annotations

from dataclasses import dataclass

from helpline.routing.chain import BaseStep, Turn


@dataclass
class EditedMessageStep(BaseStep):
    """Ends the chain for an edit of a message the conversation already has: the edit is in the
    history (marked edited, for the agents), but no bot, incident or off-hours answer goes out
    again — every edit used to be answered, twice in public in a group. An edit that starts a
    conversation (its original never reached us, e.g. the mention was added by the edit) is a
    new message like any other. Idempotent: it only decides to do nothing."""

    name: str = "edited-messages"

    def check(self, turn: Turn) -> bool | None:
        return True if turn.message.edited and turn.fields.get("message_count") != "1" else None

    async def handle(self, turn: Turn, decision: bool) -> bool:
        return True
