"""Mail that a machine sent: never answered automatically (mail loops), and bounces.

RFC 3834 asks automatic responders not to answer `Auto-Submitted` mail; the other signs are
what real auto-responders, lists and MTAs send instead or as well. Pure functions of a parsed mail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from .parse import ParsedMail, message_ids, part_text

_DAEMONS = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status notification \(failure\)|returned mail|"
    r"delivery (?:has )?failed|mail delivery failed|failure notice",
    re.IGNORECASE,
)


def automated_reason(mail: ParsedMail) -> str | None:
    """Why this mail must get no automatic answer (bot, off-hours notice, survey), or None."""
    h = mail.headers
    auto = h.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = h.get("precedence", "").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return f"Precedence: {precedence}"
    if "x-auto-response-suppress" in h:
        return "X-Auto-Response-Suppress"
    if "x-autoreply" in h or "x-autorespond" in h:
        return "X-Autoreply"
    if "list-id" in h or "list-unsubscribe" in h:
        return "mailing list (List-Id/List-Unsubscribe)"
    if is_bounce(mail):
        return "bounce"
    return None


def is_bounce(mail: ParsedMail) -> bool:
    """A delivery failure report from a mail server."""
    if mail.report is not None:
        return True
    daemon = bool(_DAEMONS.match(mail.from_address)) or mail.headers.get("return-path", "").strip() == "<>"
    return daemon and (bool(_BOUNCE_SUBJECT.search(mail.subject)) or "x-failed-recipients" in mail.headers)


@dataclass(frozen=True)
class Bounce:
    original_ids: tuple[str, ...]  # Message-IDs of the mail that failed (ours, if we sent it)
    reason: str


_FIELD = re.compile(r"^(Status|Diagnostic-Code|Action|Final-Recipient)\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def bounce_of(mail: ParsedMail) -> Bounce:
    """What failed and why, read from the DSN parts (RFC 3464) or, for the many servers that send
    plain-text bounces, from the quoted headers and the first lines of the text."""
    ids: list[str] = []
    reason = ""
    if mail.report is not None:
        for part in mail.report.walk():
            ctype = part.get_content_type()
            if ctype == "message/delivery-status":
                fields = _delivery_status(part)
                diagnostic = fields.get("diagnostic-code", "").split(";", 1)[-1].strip()
                status = fields.get("status", "")
                reason = "; ".join(x for x in (f"status {status}" if status else "", diagnostic) if x)
            elif ctype in ("message/rfc822", "text/rfc822-headers"):
                ids += _quoted_ids(part)
    if not ids:
        for ident in (*mail.in_reply_to, *mail.references):
            ids.append(ident)
        ids += [m for m in message_ids(_original_message_ids(mail.text))]
    if not reason:
        first = next((ln.strip() for ln in mail.text.splitlines() if ln.strip()), "")
        reason = first[:300] or mail.subject
    return Bounce(tuple(dict.fromkeys(ids)), f"bounced: {reason}"[:500])


def _delivery_status(part: Message) -> dict[str, str]:
    found: dict[str, str] = {}
    payload = part.get_payload()
    blocks = payload if isinstance(payload, list) else []
    text = "\n".join(str(b) for b in blocks) if blocks else part_text(part)
    for name, value in _FIELD.findall(text):
        found.setdefault(name.lower(), " ".join(value.split()))
    return found


def _quoted_ids(part: Message) -> list[str]:
    payload = part.get_payload()
    if isinstance(payload, list):  # message/rfc822: the parsed original
        inner = [m for m in payload if isinstance(m, Message)]
        return [i for m in inner for i in message_ids(str(m.get("Message-ID", "")))]
    return list(message_ids(_original_message_ids(part_text(part))))


def _original_message_ids(text: str) -> str:
    return " ".join(ln.split(":", 1)[1] for ln in text.splitlines() if ln.lower().startswith("message-id:"))
