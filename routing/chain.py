"""The step protocol: what the router runs on every message after threading it.

The router threads a message into its conversation, then runs the ordered chain of steps it was
given (assembled by the composition root, `helpline/assembly.py`, from the configuration). A step
is split the way a handler is in python-telegram-bot: `check` is pure (does this message concern
me, and with what?) and returns decision data or None; `handle` turns that decision into
changes recorded on the `Turn` — fields, label operations, events, replies — which are data:
the router's commit writes them, all or none, together with the entry's acknowledgement. A step
returns True from `handle` to end the chain for this message (e.g. a subscription command that
was answered needs no agent).

Every step must be idempotent: a message is decided again after a crash, a takeover or a
conflicting write (see `router.py`), so reply ids are derived from the message, and any store a
step writes outside the commit (a claim, a subscriber set) takes set-like operations.

Adding a feature adds a step (and a line in the composition root), not an edit to the router.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from . import keys
from .models import Conversation, ConversationEvent, EventType, InboundMessage, Notice, ReplyButton
from .outbound import reply_to
from .store import Applied, Effects, conversation_from_view

ROUTER_ACTOR = "router"


class Step(Protocol):
    """One feature of routing. See the module docstring for the contract."""

    name: str

    async def prepare(self, turn: Turn) -> None:
        """Read what `check` needs and the turn does not carry, once per batch (`turn.cache`)."""
        ...

    def check(self, turn: Turn) -> Any | None:
        """Pure: the decision data if this step acts on the message, else None."""
        ...

    async def handle(self, turn: Turn, decision: Any) -> bool:
        """Record the decision's changes on `turn` (written by the commit). True ends the chain."""
        ...


class BaseStep:
    """A step that needs nothing read before `check`."""

    async def prepare(self, turn: Turn) -> None:
        return None


@dataclass
class Turn:
    """One message being decided, and the changes decided so far for its conversation.

    `fields` is the router's view of the conversation (kept current within a batch: a later
    message of the same conversation sees what an earlier one decided); `effects` collects the
    changes the commit will write for this message; `cache` is shared by every turn of a batch,
    for what a step reads once per batch (the roster, the open incidents)."""

    message: InboundMessage
    applied: Applied
    fields: dict[str, str]
    bot_state: dict[str, str]
    effects: Effects
    now: datetime
    language: str
    cache: dict[str, Any] = field(default_factory=dict)
    wants_agent: str | None = None  # a step asked for a human, with this reason (assignment acts on it)
    queued_team: str | None = None  # assignment queued it in this turn (off-hours acts on it)
    resolved: bool = False  # resolved in this turn (the survey acts on it)
    _conversation: Conversation | None = None

    @property
    def conversation(self) -> Conversation:
        """The conversation as decided so far (rebuilt after a change)."""
        if self._conversation is None:
            self._conversation = conversation_from_view(self.fields, self.message, self.applied.conversation_id)
        return self._conversation

    @property
    def conversation_id(self) -> str:
        return self.applied.conversation_id

    def set(self, **values: str) -> None:
        """Change fields: in the view now, in Redis with the commit."""
        self.note(**values)
        self.effects.set(**values)

    def note(self, **values: str) -> None:
        """Change the view only (the change itself is written by another operation)."""
        self.fields.update(values)
        self._conversation = None

    def event(
        self,
        type_: EventType,
        reason: str,
        actor: str = ROUTER_ACTOR,
        **data: str | int | float | bool | list[str] | None,
    ) -> ConversationEvent:
        event = ConversationEvent(
            conversation_id=self.conversation_id, type=type_, actor=actor, reason=reason, data=data, at=self.now
        )
        self.effects.event(event)
        return event

    def system_reply(
        self, what: str, text: str, reason: str, buttons: tuple[ReplyButton, ...] = (), notice: Notice | None = None
    ) -> None:
        """A reply from Helpline itself (not a bot or agent), in the conversation's own thread;
        its id is derived from the message and `what`, so it is queued once. `notice` names what
        it tells (see `OutboundReply.notice`)."""
        conv, message = self.conversation, self.message
        reply_id = f"{conv.id}:{message.message_id}:{what}"
        out = reply_to(
            conv,
            reply_id=reply_id,
            text=text,
            sender="system",
            in_reply_to=message.message_id,
            recipient_id=message.author.user_id,
            buttons=buttons,
            notice=notice,
        )
        self.effects.reply(out, keys.conversation_partition(conv.id))
        self.event(EventType.REPLY_QUEUED, reason, actor="system", reply_id=reply_id, text=text)


#: How the router finds a message's language for the steps: (message, conversation) -> code.
LanguageOf = Callable[[InboundMessage, Conversation], str]
