"""An answer as a mail: threading headers, the subject token, plain text plus simple HTML.

Pure: the same reply and thread always give the same mail, Message-ID included (it is derived
from the reply id), so a mail that is sent again is recognisably the same mail.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime

from helpline.routing.models import OutboundReply

from .parse import format_address
from .threads import ThreadInfo, plus_address

_RE = re.compile(r"^\s*(?:(?:re|aw|sv|fw|fwd|답장|回复|回覆|答复)\s*(?:\[\d+\])?\s*[:：]\s*)+", re.IGNORECASE)
_TOKEN = re.compile(r"\s*\[#[0-9]{1,6}-[0-9]{1,12}\]")
_URL = re.compile(r"(https?://[^\s<>\"]+)")


def is_automatic(reply: OutboundReply) -> bool:
    """Written by a bot or by Helpline itself (off-hours notice, survey), not by an agent."""
    return not reply.sender.startswith("agent:")


def reply_message_id(reply: OutboundReply, own_address: str) -> str:
    digest = hashlib.sha256(reply.reply_id.encode()).hexdigest()[:32]
    return f"hl.{digest}@{own_address.partition('@')[2]}"


def reply_subject(original: str, token: str) -> str:
    """`Re: <subject> [#token]`: one Re:, one token, whatever the customer's client did."""
    base = _TOKEN.sub("", _RE.sub("", original)).strip() or "Your request"
    return f"Re: {base} [#{token}]"


def compose(
    reply: OutboundReply,
    thread: ThreadInfo,
    *,
    own_address: str,
    display_name: str,
    links: Callable[[str], str] | None = None,
) -> EmailMessage:
    """The mail for `reply` in `thread`. `links(value)` gives the signed answer link for a button."""
    message_id = reply_message_id(reply, own_address)
    msg = EmailMessage()
    msg["From"] = format_address(own_address, display_name)
    msg["To"] = format_address(thread.customer, thread.customer_name)
    msg["Reply-To"] = format_address(plus_address(own_address, reply.conversation_id), display_name)
    msg["Subject"] = reply_subject(thread.subject, reply.conversation_id)
    msg["Date"] = format_datetime(reply.created_at)
    msg["Message-ID"] = f"<{message_id}>"
    answered = (
        reply.in_reply_to
        if reply.in_reply_to and reply.in_reply_to in thread.references
        else (thread.references[-1] if thread.references else None)
    )
    if answered:
        msg["In-Reply-To"] = f"<{answered}>"
    references = [r for r in thread.references if r != message_id]
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    if is_automatic(reply):
        msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: auto-responders must not answer it
        msg["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office answer to it
    text, body_html = _bodies(reply, links)
    msg.set_content(text)
    msg.add_alternative(body_html, subtype="html")
    return msg


def _bodies(reply: OutboundReply, links: Callable[[str], str] | None) -> tuple[str, str]:
    text = reply.text
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    rendered = "".join(f"<p>{_linkify(html.escape(p)).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    if reply.buttons:
        if links is not None:
            text += "\n\n" + "\n".join(f"{b.label}: {links(b.data)}" for b in reply.buttons)
            rendered += (
                "<p>"
                + " ".join(
                    f'<a href="{html.escape(links(b.data))}" style="display:inline-block;padding:6px 12px;'
                    f'margin:2px;border:1px solid #888;border-radius:4px;text-decoration:none">'
                    f"{html.escape(b.label)}</a>"
                    for b in reply.buttons
                )
                + "</p>"
            )
        else:
            text += "\n\n" + "\n".join(
                f"{b.data} — {b.label}" if b.data != b.label else f"[{b.label}]" for b in reply.buttons
            )
            rendered += (
                "<p>"
                + "<br>".join(
                    html.escape(f"{b.data} — {b.label}" if b.data != b.label else f"[{b.label}]") for b in reply.buttons
                )
                + "</p>"
            )
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        f'<body style="font-family:sans-serif;line-height:1.4">{rendered}</body></html>'
    )
    return text + "\n", page


def _linkify(escaped: str) -> str:
    return _URL.sub(lambda m: f'<a href="{m.group(1)}">{m.group(1)}</a>', escaped)
