"""A raw mail (RFC 5322 bytes) to what Helpline needs of it, with the standard library's parser.

`email` with `policy.default` decodes encoded headers (RFC 2047, any charset Python knows);
bodies are decoded here from their declared charset, through its superset where mail clients
are known to stretch it (GB2312 mail carries GBK, EUC-KR mail carries CP949), and never fail:
an unknown charset or a bad byte becomes a replacement character, not an exception.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime

from .html_text import html_to_text

# Declared charset -> the codec that decodes what clients really send under that name.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "iso-2022-jp": "iso2022_jp_ext",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "shift-jis": "cp932",
    "big5": "big5hkscs",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
}
_MSGID = re.compile(r"<([^<>\s]{1,998})>")
MAX_ID = 128  # InboundMessage.message_id's limit; longer ids are hashed


@dataclass(frozen=True)
class MailPart:
    """An attached file as found in the mail (not yet checked against the limits)."""

    file_name: str
    mime_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedMail:
    message_id: str  # without angle brackets; a hash of the bytes when the mail has none
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_address: str  # lower-cased
    from_name: str
    recipients: tuple[str, ...]  # To, Cc, Delivered-To, X-Original-To (lower-cased)
    reply_to: str | None
    subject: str
    date: datetime | None
    text: str  # the full body as text (text/plain preferred, else HTML converted)
    attachments: tuple[MailPart, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # the loop/noise headers, lower-cased names
    report: Message | None = None  # a delivery-status report (bounce), when the mail is one

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Every Message-ID this mail answers, nearest first: In-Reply-To, then References from
        the newest. All are tried: clients drop either header, or keep only some ids."""
        seen: dict[str, None] = {}
        for ident in (*self.in_reply_to, *reversed(self.references)):
            seen.setdefault(ident, None)
        return tuple(seen)


def message_ids(value: str | None) -> tuple[str, ...]:
    """Every `<id>` in a header value, in order."""
    return tuple(_MSGID.findall(value or ""))


def short_id(message_id: str) -> str:
    """A Message-ID within InboundMessage's limits (long ones hashed), as the platform id."""
    if len(message_id) <= MAX_ID and message_id.isprintable():
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:64]


def decode_bytes(data: bytes, charset: str | None) -> str:
    name = (charset or "utf-8").strip().strip('"').lower()
    codec = _SUPERSETS.get(name, name)
    try:
        return data.decode(codec, errors="replace")
    except LookupError:  # a charset Python does not know: UTF-8, else Windows-1252
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252", errors="replace")


def part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset())


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except (ValueError, IndexError, TypeError):  # a header the parser cannot make sense of
        raw = msg.get_all(name, failobj=[])
        value = raw[0] if raw else None
    return "" if value is None else " ".join(str(value).split())


def _addresses(msg: Message, *names: str) -> list[tuple[str, str]]:
    values: list[str] = []
    for name in names:
        for value in msg.get_all(name, failobj=[]):
            values.append(str(value))
    return [(n, a.strip().lower()) for n, a in getaddresses(values) if "@" in a]


def _body(msg: EmailMessage) -> str:
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except (KeyError, LookupError, TypeError):
        part = None
    if part is None:
        return ""
    text = part_text(part)
    return html_to_text(text) if part.get_content_subtype() == "html" else text.replace("\r\n", "\n").strip()


def _attachments(msg: EmailMessage) -> tuple[MailPart, ...]:
    found: list[MailPart] = []
    for part in msg.iter_attachments() if msg.is_multipart() else ():
        if part.get_content_maintype() == "multipart" or part.get_content_type() in (
            "message/delivery-status",
            "text/rfc822-headers",
            "message/rfc822",
        ):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        try:
            name = part.get_filename() or ""
        except (ValueError, TypeError):
            name = ""
        found.append(MailPart(file_name=name, mime_type=part.get_content_type(), data=data))
    return tuple(found)


def _report(msg: Message) -> Message | None:
    if msg.get_content_type() == "multipart/report" and msg.get_param("report-type") == "delivery-status":
        return msg
    return None


_NOISE_HEADERS = (
    "auto-submitted",
    "precedence",
    "x-auto-response-suppress",
    "list-id",
    "list-unsubscribe",
    "return-path",
    "x-autoreply",
    "x-autorespond",
    "x-failed-recipients",
)


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse one mail. Pure; never raises on malformed mail (defects are tolerated)."""
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    ids = message_ids(_header(msg, "Message-ID"))
    message_id = ids[0] if ids else "sha256:" + hashlib.sha256(raw).hexdigest()[:64]
    senders = _addresses(msg, "From") or _addresses(msg, "Sender")
    from_name, from_address = senders[0] if senders else ("", "")
    reply_to = _addresses(msg, "Reply-To")
    recipients = [a for _, a in _addresses(msg, "To", "Cc", "Delivered-To", "X-Original-To")]
    try:
        date = parsedate_to_datetime(_header(msg, "Date")) if _header(msg, "Date") else None
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError):
        date = None
    return ParsedMail(
        message_id=message_id,
        in_reply_to=message_ids(_header(msg, "In-Reply-To")),
        references=message_ids(_header(msg, "References")),
        from_address=from_address,
        from_name=from_name.strip(),
        recipients=tuple(dict.fromkeys(recipients)),
        reply_to=reply_to[0][1] if reply_to else None,
        subject=_header(msg, "Subject"),
        date=date,
        text=_body(msg),
        attachments=_attachments(msg),
        headers={name: _header(msg, name) for name in _NOISE_HEADERS if msg.get(name) is not None},
        report=_report(msg),
    )


def format_address(address: str, name: str = "") -> str:
    """`Name <address>`, with the name encoded when it is not ASCII."""
    user, _, domain = address.partition("@")
    return str(Address(display_name=name, username=user, domain=domain))
