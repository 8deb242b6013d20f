"""Wire models: the only things that cross a process boundary.

Every model is frozen and forbids unknown fields, so a payload written by a newer or broken
producer fails validation loudly (and is dead-lettered) instead of being half understood.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# A platform name is open-ended: third-party connectors bring their own.
PlatformName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
AccountName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")]
# A platform's id for a user, message or thread: printable (control characters never occur in
# real ids, and the routing scripts use one as a separator).
PlatformId = Annotated[str, StringConstraints(min_length=1, pattern=r"^[^\x00-\x1f\x7f]+$")]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def wire_json(self) -> bytes:
        """The model's JSON, as `model_dump_json` gives it, without its per-call option handling
        (serialized per message on the hot path)."""
        return self.__pydantic_serializer__.to_json(self)


class MessageKind(StrEnum):
    MENTION = "mention"  # the account was mentioned in a public post
    REPLY = "reply"  # a public reply in a thread the account takes part in
    DIRECT = "direct"  # a private one-to-one message
    GROUP = "group"  # a message in a group chat that addresses the account

    @property
    def visibility(self) -> Visibility:
        return _VISIBILITY[self]


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


# Looked up per reply (the enum members' own attribute lookups cost more than the dict).
_VISIBILITY = {kind: Visibility.PRIVATE if kind == "direct" else Visibility.PUBLIC for kind in MessageKind}


class Status(StrEnum):
    OPEN = "open"
    PENDING = "pending"  # waiting on the customer
    RESOLVED = "resolved"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]

    def raised(self) -> Priority:
        return _PRIORITIES[min(self.rank + 1, len(_PRIORITIES) - 1)]


_PRIORITIES = [Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT]
_PRIORITY_RANK = {p: i for i, p in enumerate(_PRIORITIES)}


class Presence(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


#: Embedding, override and isolate controls (U+202A-202E, U+2066-2069): in a name they reverse
#: the text around it wherever it is shown. Names lose them; message texts are isolated instead.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def strip_bidi_controls(text: str) -> str:
    return _BIDI_CONTROLS.sub("", text)


#: A name or handle as a platform gave it, without bidi controls.
Name = Annotated[str, AfterValidator(strip_bidi_controls)]


class Author(Wire):
    user_id: PlatformId = Field(max_length=128)
    handle: Name = Field(default="", max_length=256)
    display_name: Name = Field(default="", max_length=256)
    is_bot: bool = False


class Attachment(Wire):
    kind: str = Field(max_length=32)  # photo, document, video, ...
    platform_file_id: str = Field(max_length=512)
    mime_type: str | None = None
    file_name: str | None = None
    size_bytes: int | None = Field(default=None, ge=0)
    url: str | None = None


class InboundMessage(Wire):
    """One customer message as a connector saw it on the platform."""

    platform: PlatformName
    account: AccountName
    kind: MessageKind
    message_id: PlatformId = Field(max_length=128)
    thread_key: PlatformId = Field(max_length=256)
    author: Author
    text: str = Field(default="", max_length=65536)
    language: LanguageCode | None = None
    attachments: tuple[Attachment, ...] = ()
    in_reply_to: str | None = None
    edited: bool = False
    #: Sent by a machine (an auto-responder, a mailing list, a bounce): nothing answers it
    #: automatically, neither a bot nor an off-hours notice nor a survey, so two robots never loop.
    auto_submitted: bool = False
    #: An agent split this message off that conversation into a thread of its own: it starts (or
    #: continues) the new conversation and, answered or not, gets no automatic answer there.
    moved_from: str | None = Field(default=None, max_length=64)
    platform_time: datetime
    received_at: datetime = Field(default_factory=utcnow)

    @property
    def dedupe_id(self) -> str:
        """Identity of this platform message; a redelivery has the same one."""
        return f"{self.platform}:{self.account}:{self.message_id}"

    @property
    def visibility(self) -> Visibility:
        return self.kind.visibility


class ThreadRef(Wire):
    """A conversation's thread on its platform, and the customer in it."""

    platform: PlatformName
    account: AccountName
    thread_key: PlatformId = Field(max_length=256)
    user_id: PlatformId = Field(max_length=128)


class ReplyButton(Wire):
    label: str = Field(min_length=1, max_length=64)
    data: str = Field(min_length=1, max_length=64)


#: What a system notice tells the customer (see `OutboundReply.notice`).
Notice = Literal["waiting", "offhours"]


class OutboundReply(Wire):
    """A reply on its way to a platform thread.

    `reply_id` is deterministic (derived from what caused the reply), so producing the same reply
    twice yields the same id, and the sender posts it once.
    """

    reply_id: Annotated[PlatformId, Field(max_length=200)]  # (the sender's scripts pack ids with a separator)
    conversation_id: PlatformId
    platform: PlatformName
    account: AccountName
    kind: MessageKind
    thread_key: str = Field(min_length=1, max_length=256)
    visibility: Visibility
    text: str = Field(min_length=1, max_length=65536)
    in_reply_to: str | None = None
    recipient_id: str | None = None  # the customer's platform user id (needed for direct messages)
    sender: str  # "bot:<name>" or "agent:<id>"
    buttons: tuple[ReplyButton, ...] = ()
    #: Files stored by the connector (`platform_file_id` is the store's id), posted before the text
    #: where the connector's capabilities accept their type (`Capabilities.reply_files`).
    attachments: tuple[Attachment, ...] = Field(default=(), max_length=4)
    #: What a system notice tells ("waiting": the usual wait for a person; "offhours": when the team
    #: opens), so a connector may show more than the text (the web chat asks for an e-mail address).
    notice: Notice | None = None
    #: A reply agents do not see as one (the e-mail copy of a web chat answer): its outcome, sent
    #: too, becomes an event of the conversation whose reason begins with this label.
    report: str | None = Field(default=None, max_length=300)
    #: Where the customer's answer to this reply belongs when it comes back on this reply's channel
    #: (an answer to the e-mail copy of a web chat reply continues the web chat conversation).
    answers_to: ThreadRef | None = None
    created_at: datetime = Field(default_factory=utcnow)

    def model_post_init(self, _context: Any) -> None:
        if self.visibility is not self.kind.visibility:
            raise ValueError(
                f"a {self.kind.value} thread is {self.kind.visibility.value}; "
                f"a {self.visibility.value} reply to it is refused"
            )


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # the process died while posting; see README "residual window"


class Delivery(Wire):
    reply_id: str
    state: DeliveryState
    platform_message_ids: tuple[str, ...] = ()
    error: str | None = None
    attempts: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class EventType(StrEnum):
    CREATED = "created"
    REOPENED = "reopened"
    ROUTED = "routed"
    BOT_ASSIGNED = "bot_assigned"
    HANDOFF = "handoff"
    ASSIGNED = "assigned"
    QUEUED = "queued"
    UNASSIGNED = "unassigned"
    STATUS = "status"
    PRIORITY = "priority"
    LABELS = "labels"
    REPLY_QUEUED = "reply_queued"
    REPLY_SENT = "reply_sent"
    REPLY_FAILED = "reply_failed"
    NOTE = "note"
    LINKED = "linked"
    RATING = "rating"  # data: score (1-5), comment, agent, team
    OFFHOURS = "offhours"  # the off-hours notice went out
    ARTICLE_FEEDBACK = "article_feedback"  # data: article, language, helpful ("Did this solve it?")


class ConversationEvent(Wire):
    """Something that happened to a conversation, and why."""

    conversation_id: str
    type: EventType
    actor: str  # "router", "bot:<name>", "agent:<id>", "sender", "system"
    reason: str = ""
    data: dict[str, str | int | float | bool | list[str] | None] = Field(default_factory=dict)
    at: datetime = Field(default_factory=utcnow)


class Conversation(Wire):
    id: str
    platform: PlatformName
    account: AccountName
    kind: MessageKind
    thread_key: str
    contact_id: str
    status: Status = Status.OPEN
    priority: Priority = Priority.NORMAL
    team: str | None = None
    assignee: str | None = None
    handler: str | None = None  # "bot:<name>" while a bot has the conversation
    labels: tuple[str, ...] = ()
    language: str | None = None
    created_at: datetime
    updated_at: datetime
    last_customer_at: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    message_count: int = 0
    version: int = 0  # goes up with every write; a change decided on a read expects it (see store)

    @property
    def visibility(self) -> Visibility:
        return self.kind.visibility


class Contact(Wire):
    id: str
    platform: PlatformName
    account: AccountName
    user_id: str
    handle: Name = ""
    display_name: Name = ""
    language: str | None = None
    last_agent: str | None = None
    #: An address the customer left for our answer (a web chat visitor off hours).
    email: str | None = Field(default=None, max_length=254)


class Agent(Wire):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str
    teams: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()  # empty: any language
    capacity: int = Field(default=5, ge=0, le=1000)
    presence: Presence = Presence.OFFLINE

    def speaks(self, language: str | None) -> bool:
        return not self.languages or language is None or language in self.languages


class Team(Wire):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str
    timezone: str = "UTC"
