"""An agent's answer also by e-mail, to a customer who left an address for it (a web chat visitor
off hours): sent through the e-mail account their channel names (`Capabilities.email_copies`),
in the same commit as the reply, with a reply id derived from it (so it is mailed once); whether
it went (sent, or failed with the reason) is an event of the conversation, and the customer's
answer to the mail comes back into the conversation (`OutboundReply.answers_to`). Without
such an account nothing is mailed, and the conversation page tells the agent so, next to the address.
"""

from __future__ import annotations

from helpline.routing.models import Contact, Conversation, MessageKind, OutboundReply, ThreadRef, Visibility

from .services import Services


def email_copy_account(svc: Services, conv: Conversation) -> str | None:
    """The configured e-mail account that mails this conversation's answers, if any."""
    caps = svc.capabilities(conv.platform, conv.account)
    name = caps.email_copies if caps is not None else None
    configured = any(a.platform == "email" and a.name == name for a in svc.settings.accounts)
    return name if name and configured else None


def email_copy(
    svc: Services, conv: Conversation, contact: Contact | None, reply: OutboundReply
) -> OutboundReply | None:
    """The e-mail carrying `reply` to the address the customer left; None when none is to be sent."""
    account = email_copy_account(svc, conv)
    if account is None or contact is None or not contact.email:
        return None
    return OutboundReply(
        reply_id=f"{reply.reply_id}:email",
        conversation_id=conv.id,
        platform="email",
        account=account,
        kind=MessageKind.DIRECT,
        thread_key=f"copy:{conv.id}",
        visibility=Visibility.PRIVATE,
        text=reply.text,
        recipient_id=contact.email,
        sender=reply.sender,
        report=f"e-mail copy to {contact.email}",
        answers_to=ThreadRef(
            platform=conv.platform, account=conv.account, thread_key=conv.thread_key, user_id=contact.user_id
        ),
    )
