"""The satisfaction survey: asked once when a conversation is resolved, answered 1–5."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from helpline.routing import keys
from helpline.routing.models import Conversation, ConversationEvent, EventType, ReplyButton
from helpline.routing.outbound import reply_to
from helpline.routing.store import Effects

from .base import BotReply
from .catalog import Catalog

_RATING = re.compile(r"^\s*([1-5])(?:\s*(?:/\s*5|점|分|点|stars?|⭐+))?(?:[\s,.:;!-]+(.*))?$",
                     re.IGNORECASE | re.DOTALL)


def survey_request(language: str, catalog: Catalog) -> BotReply:
    """The question, with 1–5 buttons where the platform has them (plain text elsewhere)."""
    buttons = tuple(ReplyButton(label=str(n), data=str(n)) for n in range(1, 6))
    return BotReply(catalog.text(language, "survey_ask"), buttons)


def queue_survey(effects: Effects, conv: Conversation, *, language: str, catalog: Catalog, in_reply_to: str | None,
                 recipient_id: str | None, now: datetime) -> None:
    """Ask for a rating in the conversation's own thread, once per conversation: the reply id is
    fixed, so asking twice queues one message. Used by the router (a bot resolved it) and the
    console (an agent resolved it)."""
    ask = survey_request(language, catalog)
    reply_id = f"{conv.id}:survey"
    effects.set(survey="asked")
    effects.reply(reply_to(conv, reply_id=reply_id, text=ask.text, sender="system", in_reply_to=in_reply_to,
                           recipient_id=recipient_id, buttons=ask.buttons), keys.conversation_partition(conv.id))
    effects.event(ConversationEvent(conversation_id=conv.id, type=EventType.REPLY_QUEUED, actor="system",
                                    reason="resolved: satisfaction survey", at=now,
                                    data={"reply_id": reply_id, "text": ask.text}))


def parse_rating(text: str) -> tuple[int, str] | None:
    """(score, comment) from "5", "4 slow but fine", "３점", "5/5"; None if it is not a rating."""
    normalized = unicodedata.normalize("NFKC", text)
    match = _RATING.match(normalized)
    if match is None:
        return None
    return int(match.group(1)), (match.group(2) or "").strip()
