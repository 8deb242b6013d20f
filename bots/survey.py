"""The satisfaction survey: asked once when a conversation is resolved, answered 1–5."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from helpline.routing import keys
from helpline.routing.chain import BaseStep, Turn
from helpline.routing.models import Conversation, ConversationEvent, EventType, ReplyButton, Status
from helpline.routing.outbound import reply_to
from helpline.routing.store import Effects

from .base import BotReply
from .catalog import Catalog

_RATING = re.compile(
    r"^\s*([1-5])(?:\s*(?:/\s*5|점|分|点|stars?|⭐+))?(?:[\s,.:;!-]+(.*))?$", re.IGNORECASE | re.DOTALL
)


def survey_request(language: str, catalog: Catalog) -> BotReply:
    """The question, with 1–5 buttons where the platform has them (plain text elsewhere)."""
    buttons = tuple(ReplyButton(label=str(n), data=str(n)) for n in range(1, 6))
    return BotReply(catalog.text(language, "survey_ask"), buttons)


def queue_survey(
    effects: Effects,
    conv: Conversation,
    *,
    language: str,
    catalog: Catalog,
    in_reply_to: str | None,
    recipient_id: str | None,
    now: datetime,
) -> None:
    """Ask for a rating in the conversation's own thread, once per conversation: the reply id is
    fixed, so asking twice queues one message. Used by the router (a bot resolved it) and the
    console (an agent resolved it)."""
    ask = survey_request(language, catalog)
    reply_id = f"{conv.id}:survey"
    effects.set(survey="asked")
    effects.reply(
        reply_to(
            conv,
            reply_id=reply_id,
            text=ask.text,
            sender="system",
            in_reply_to=in_reply_to,
            recipient_id=recipient_id,
            buttons=ask.buttons,
        ),
        keys.conversation_partition(conv.id),
    )
    effects.event(
        ConversationEvent(
            conversation_id=conv.id,
            type=EventType.REPLY_QUEUED,
            actor="system",
            reason="resolved: satisfaction survey",
            at=now,
            data={"reply_id": reply_id, "text": ask.text},
        )
    )


def parse_rating(text: str) -> tuple[int, str] | None:
    """(score, comment) from "5", "4 slow but fine", "３점", "5/5"; None if it is not a rating."""
    normalized = unicodedata.normalize("NFKC", text)
    match = _RATING.match(normalized)
    if match is None:
        return None
    return int(match.group(1)), (match.group(2) or "").strip()


@dataclass
class RatingStep(BaseStep):
    """The customer answers the survey: the rating is stored (in the conversation and in the
    ratings sink, whose recording is idempotent), the customer thanked; the chain ends."""

    catalog: Catalog
    ratings: RatingSink | None = None
    name: str = "survey-rating"

    def check(self, turn: Turn) -> tuple[int, str] | None:
        if turn.fields.get("survey") != "asked" or turn.message.auto_submitted:
            return None
        return parse_rating(turn.message.text)

    async def handle(self, turn: Turn, decision: tuple[int, str]) -> bool:
        score, comment = decision[0], decision[1][:500]
        conv = turn.conversation
        agent = turn.fields.get("assignee") or turn.fields.get("resolved_by") or ""
        if self.ratings is not None:
            await self.ratings.record_rating(conv.id, score, comment, agent or None, conv.team)
        turn.set(status=Status.RESOLVED.value, survey="done", csat=str(score))
        turn.event(
            EventType.RATING,
            f"customer rated {score}/5",
            actor="customer",
            score=score,
            comment=comment,
            agent=agent,
            team=conv.team,
        )
        turn.system_reply(
            "survey-thanks", self.catalog.text(turn.language, "survey_thanks"), "thanked the customer for the rating"
        )
        return True


@dataclass
class SurveyStep(BaseStep):
    """A conversation resolved in this turn (by a bot) asks for a rating, once."""

    catalog: Catalog
    name: str = "survey"

    def check(self, turn: Turn) -> bool | None:
        return True if turn.resolved and not turn.fields.get("survey") else None

    async def handle(self, turn: Turn, decision: bool) -> bool:
        turn.note(survey="asked")
        queue_survey(
            turn.effects,
            turn.conversation,
            language=turn.language,
            catalog=self.catalog,
            in_reply_to=turn.message.message_id,
            recipient_id=turn.message.author.user_id,
            now=turn.now,
        )
        return False


class RatingSink(Protocol):
    """Where satisfaction ratings are counted (the insights rating store)."""

    async def record_rating(
        self, conversation_id: str, score: int, comment: str = "", agent: str | None = None, team: str | None = None
    ) -> object: ...
