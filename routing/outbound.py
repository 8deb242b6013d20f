"""Building replies that go back to the thread they answer, with its visibility.

This is where "a direct message is never answered in public, and a public thread never gets a
private answer" is enforced: a reply takes its kind and visibility from the conversation, never
from the caller. The one exception is explicit: `private_followup` opens a private reply to the
author of a public message (the bot moving a customer to a private channel).
"""

from __future__ import annotations

from .models import Attachment, Conversation, MessageKind, Notice, OutboundReply, ReplyButton


def reply_to(
    conversation: Conversation,
    *,
    reply_id: str,
    text: str,
    sender: str,
    in_reply_to: str | None,
    recipient_id: str | None,
    buttons: tuple[ReplyButton, ...] = (),
    attachments: tuple[Attachment, ...] = (),
    notice: Notice | None = None,
) -> OutboundReply:
    """A reply in the conversation's own thread, with the thread's visibility."""
    return OutboundReply(
        reply_id=reply_id,
        conversation_id=conversation.id,
        platform=conversation.platform,
        account=conversation.account,
        kind=conversation.kind,
        thread_key=conversation.thread_key,
        visibility=conversation.visibility,
        text=text,
        in_reply_to=in_reply_to,
        recipient_id=recipient_id,
        sender=sender,
        buttons=buttons,
        attachments=attachments,
        notice=notice,
    )


def private_followup(
    conversation: Conversation, *, reply_id: str, text: str, sender: str, recipient_id: str
) -> OutboundReply:
    """A private message to the author of a public conversation (the explicit move to private).

    The thread key `user:<id>` asks the connector to open (or reuse) its private channel with
    that user; connectors that cannot reach a user privately fail it with a clear error.
    """
    return OutboundReply(
        reply_id=reply_id,
        conversation_id=conversation.id,
        platform=conversation.platform,
        account=conversation.account,
        kind=MessageKind.DIRECT,
        thread_key=f"user:{recipient_id}",
        visibility=MessageKind.DIRECT.visibility,
        text=text,
        in_reply_to=None,
        recipient_id=recipient_id,
        sender=sender,
    )
