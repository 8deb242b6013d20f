"""The seam between the router and automated agents.

The router gives a bot the conversation, the new customer message and the bot's saved state for
that conversation; the bot answers with a decision (pure data). The router turns the decision
into effects: replies with deterministic ids, state saved, a handoff to humans, a resolution.
Because the decision is data and the router's effects are idempotent, a bot may be asked twice
about the same message (after a crash) without the customer seeing two answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from helpline.routing.models import Contact, Conversation, InboundMessage, Priority, ReplyButton

#: A bot that invites a customer from a public thread to a private channel labels the public
#: conversation with this; the router links the private conversation to it when it arrives.
LABEL_MOVED_TO_PRIVATE = "moved-to-private"


@dataclass(frozen=True)
class BotContext:
    conversation: Conversation
    message: InboundMessage
    contact: Contact | None
    state: Mapping[str, str]  # what this bot saved for this conversation last time
    now: datetime
    language: str  # the customer's language, already resolved (message, contact, account)


@dataclass(frozen=True)
class BotReply:
    text: str
    buttons: tuple[ReplyButton, ...] = ()
    private: bool = False  # send to the customer privately (only where the flow allows it)


@dataclass(frozen=True)
class Handoff:
    reason: str  # why humans take over, e.g. "customer asked for a human"
    summary: str = ""  # what was asked and what was tried, for the agent
    #: No article could answer `question` (not a request for a person, not an emergency): the KB
    #: gaps report clusters these questions to show what to write next.
    unanswered: bool = False
    question: str = ""


@dataclass(frozen=True)
class ArticleFeedback:
    """The customer's answer to "Did this solve it?" about an article (the reports count it)."""

    key: str
    helpful: bool


@dataclass(frozen=True)
class BotDecision:
    replies: tuple[BotReply, ...] = ()
    handoff: Handoff | None = None
    resolve: bool = False  # the bot solved it
    pending: bool = False  # waiting on the customer (e.g. "did this solve it?")
    state: Mapping[str, str] = field(default_factory=dict)  # replaces the saved state
    labels: tuple[str, ...] = ()
    priority: Priority | None = None  # e.g. urgent for a possible account takeover
    note: str = ""  # why the bot decided this (becomes the event's reason)
    article: str | None = None  # the article key the last reply answers with (the reports' topics)
    feedback: ArticleFeedback | None = None
    #: (article key, question): the customer picked this article for this question among the
    #: bot's choices; proposed as an example phrasing of it (`bots.examples`), pending approval.
    example: tuple[str, str] | None = None


class Bot(Protocol):
    name: str

    async def handle(self, ctx: BotContext) -> BotDecision:
        """Decide what to do with one customer message. Must not perform I/O effects itself."""
        ...
