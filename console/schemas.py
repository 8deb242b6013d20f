"""Response and request bodies of the console API (they shape /openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from helpline.routing.models import Contact, Conversation, Name, Presence, Priority

from .canned import ID_PATTERN, CannedTexts
from .roles import Role
from .users import Preferences


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Summary(BaseModel):
    """A conversation as the inbox lists it."""

    conversation: Conversation
    visibility: str
    contact_name: Name = ""
    contact_handle: Name = ""
    preview: str = ""
    unread: bool = False
    waiting_since: datetime | None = None  # the customer's oldest unanswered message, or the handoff
    handoff_at: datetime | None = None  # when a bot last handed the conversation to people
    sla_due: datetime | None = None  # when the most urgent running SLA target is due (no policy: None)
    snoozed_until: datetime | None = None
    failed_sends: int = 0  # replies the platform refused for good (still not resent)
    uncertain_sends: int = 0  # replies that may or may not be on the platform (a post cut short)


class Page(BaseModel):
    items: list[Summary]
    next_cursor: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)


class TimelineItem(BaseModel):
    kind: Literal["message", "reply", "note", "event"]
    at: datetime
    conversation_id: str
    platform: str
    visibility: str = ""
    author: str = ""  # display name / handle of the customer, or the actor ("agent:amy")
    text: str = ""
    reply_id: str | None = None
    delivery: str | None = None  # queued / sending / sent / failed / uncertain
    platform_message_ids: list[str] = Field(default_factory=list)
    error: str | None = None
    event: str | None = None
    reason: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    current: bool = True  # False: from another conversation of the same person


class Detail(BaseModel):
    summary: Summary
    contact: Contact | None
    linked_contacts: list[Contact]
    related: list[Summary]  # the person's other conversations, on any channel
    timeline: list[TimelineItem]
    char_limit: int  # what one post holds, as the platform counts (POST .../count measures a draft)
    char_counting: str = "characters"  # how the platform counts, in a few words
    snoozed_until: datetime | None = None


class FileRef(Body):
    """A file uploaded for a reply (POST .../files returns it)."""

    id: str = Field(pattern=r"^[0-9a-f]{64}$")
    name: str = Field(default="", max_length=200)
    mime_type: str = Field(max_length=100)
    size: int = Field(default=0, ge=0)


class ReplyIn(Body):
    text: str = Field(min_length=1, max_length=65536)
    attachments: list[FileRef] = Field(default_factory=list, max_length=4)  # images, where the platform takes them
    # When the writer opened the conversation: if another agent replied since, the reply is
    # refused (409) unless `confirm` says the writer saw the warning and sends anyway.
    opened_at: datetime | None = None
    confirm: bool = False
    #: The canned response the reply started from: one tied to an article makes the customer's
    #: question an example of that article (pending a supervisor's approval).
    canned_id: str | None = Field(default=None, pattern=ID_PATTERN)


class WatchingIn(Body):
    typing: bool = False
    #: Typing a reply (not a note): the customer may be shown that someone is writing to them.
    replying: bool = False


class WatchersOut(BaseModel):
    conversation_id: str
    viewing: list[dict[str, str]]
    typing: list[dict[str, str]]


class CountIn(Body):
    text: str = Field(max_length=65536)


class CountOut(BaseModel):
    """A draft reply as the conversation's platform counts it (its connector's rules)."""

    length: int
    limit: int
    parts: int  # posts it would go out as (a thread, several messages)
    counting: str


class ReplyOut(BaseModel):
    reply_id: str
    delivery: str
    duplicate: bool = False
    visibility: str


class NoteIn(Body):
    text: str = Field(min_length=1, max_length=10000)


class AssignIn(Body):
    agent_id: str | None = None  # None: to me
    reason: str = Field(default="", max_length=500)


class TeamIn(Body):
    team: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=500)


class ReasonIn(Body):
    reason: str = Field(default="", max_length=500)


class SplitIn(Body):
    message_ids: list[str] = Field(min_length=1, max_length=50)  # the messages' `message_id`s


class SplitOut(BaseModel):
    thread_key: str
    #: The new conversation, or None if the router has not created it within a few seconds
    #: (it will: find it by `thread_key` or in the inbox).
    conversation_id: str | None


class LabelsIn(Body):
    add: list[str] = Field(default_factory=list, max_length=20)
    remove: list[str] = Field(default_factory=list, max_length=20)
    reason: str = Field(default="", max_length=500)


class SnoozeIn(Body):
    until: datetime
    reason: str = Field(default="", max_length=500)


class BulkIn(Body):
    ids: list[str] = Field(min_length=1, max_length=100)
    action: Literal["assign", "resolve", "label"]
    label: str = Field(default="", max_length=32)  # for "label"
    agent_id: str | None = None  # for "assign" (default: the caller)


class BulkResult(BaseModel):
    id: str
    ok: bool
    changed: bool = False
    status: int = 200
    error: str | None = None


class BulkOut(BaseModel):
    results: list[BulkResult]


class ActionOut(BaseModel):
    conversation: Conversation
    changed: bool = True


class CannedIn(Body):
    id: str | None = Field(default=None, pattern=ID_PATTERN)
    title: str = Field(min_length=1, max_length=80)
    texts: CannedTexts
    article: str | None = Field(default=None, min_length=1, max_length=200)  # the article key it gives


class RenderedCanned(BaseModel):
    id: str
    title: str
    language: str
    text: str


class AgentOut(BaseModel):
    id: str
    name: str
    teams: list[str]
    languages: list[str]
    capacity: int
    presence: Presence
    load: int


class PresenceIn(Body):
    presence: Presence


class AgentPatch(Body):
    capacity: int | None = Field(default=None, ge=0, le=1000)
    languages: list[str] | None = None
    teams: list[str] | None = None


class ContactOut(BaseModel):
    contact: Contact
    linked: list[Contact]
    conversations: list[Summary]


class LinkIn(Body):
    other: str = Field(min_length=1, max_length=300)


class UserIn(Body):
    username: str
    password: str
    role: Role
    name: str = ""
    teams: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    capacity: int = Field(default=5, ge=0, le=1000)


class UserPatch(Body):
    role: Role | None = None
    name: str | None = None
    teams: list[str] | None = None
    languages: list[str] | None = None
    capacity: int | None = Field(default=None, ge=0, le=1000)
    disabled: bool | None = None
    password: str | None = None


class TokenIn(Body):
    name: str = Field(min_length=1, max_length=128)
    role: Role | None = None  # default: the owner's role
    username: str | None = None  # admins may create tokens for others


class TokenOut(BaseModel):
    id: str
    name: str
    username: str
    role: Role
    created_at: datetime | None = None
    last_used_at: datetime | None = None  # when it last authenticated a request; None: never
    token: str | None = None  # present only in the response that created it


class Me(BaseModel):
    username: str
    name: str
    role: Role
    teams: list[str]
    via: str
    presence: Presence | None = None
    preferences: Preferences = Preferences()


PRIORITIES = [p.value for p in Priority]
