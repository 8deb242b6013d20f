"""Raw mails to inbound messages: threading, attachments, loop signs, bounces, own mail.

Idempotent: reading the same mail again yields the same message (its id is the Message-ID, so
the ingest dedupe absorbs a mail delivered twice or read again after a crash), stores the same
files (named by their hash) and marks a bounced reply failed once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from helpline.connectors.files import AttachmentStore, Refused
from helpline.routing.delivery_reports import mark_reply_failed
from helpline.routing.models import Attachment, Author, InboundMessage, MessageKind, ThreadRef

from .noise import automated_reason, bounce_of, is_bounce
from .parse import ParsedMail, parse_mail, short_id
from .threads import MailIndex, new_thread_key
from .trim import trim_reply

log = logging.getLogger(__name__)
MAX_TEXT = 65536


@dataclass(frozen=True)
class Outcome:
    message: InboundMessage | None  # None: nothing to ingest (own mail, a bounce)
    why: str = ""


class MailReader:
    def __init__(
        self, platform: str, account: str, own_address: str, index: MailIndex, files: AttachmentStore, redis: Any
    ) -> None:
        self.platform = platform
        self.account = account
        self.own_address = own_address.lower()
        self.index = index
        self.files = files
        self.redis = redis

    async def read(self, raw: bytes, received: datetime | None = None) -> Outcome:
        mail = parse_mail(raw)
        if await self.index.sent(mail.message_id) is not None or mail.from_address == self.own_address:
            return Outcome(None, "our own mail")
        if is_bounce(mail):
            return Outcome(None, await self._bounce(mail))
        thread_key = await self.index.find_thread(mail, self.own_address) or new_thread_key(mail.message_id)
        attachments, notes = await self._files(mail, raw)
        await self.index.remember_received(mail, thread_key)
        reason = automated_reason(mail)
        message = InboundMessage(
            platform=self.platform,
            account=self.account,
            kind=MessageKind.DIRECT,
            message_id=short_id(mail.message_id),
            thread_key=thread_key,
            author=Author(
                user_id=short_id(mail.from_address or "unknown@invalid"),
                handle=mail.from_address[:256],
                display_name=mail.from_name[:256],
            ),
            text=_text(mail, thread_key == new_thread_key(mail.message_id), notes),
            attachments=tuple(attachments),
            in_reply_to=(mail.thread_ids or (None,))[0],
            auto_submitted=reason is not None,
            platform_time=mail.date or received or datetime.now(UTC),
        )
        info = await self.index.thread(thread_key)
        if info is not None and info.answers_to is not None:
            message = _answering(message, info.answers_to)
        return Outcome(message, reason or "")

    async def _files(self, mail: ParsedMail, raw: bytes) -> tuple[list[Attachment], list[str]]:
        kept: list[Attachment] = [await self.files.keep_original(raw)]
        notes: list[str] = []
        for number, part in enumerate(mail.attachments, 1):
            result = await self.files.keep(part.data, part.file_name, part.mime_type, f"attachment-{number}")
            if isinstance(result, Refused):
                notes.append(f"[attachment not kept: {result.file_name} ({result.mime_type}): {result.reason}]")
            else:
                kept.append(result)
        return kept, notes

    async def _bounce(self, mail: ParsedMail) -> str:
        """Mark the reply that bounced as failed, with the server's reason."""
        bounce = bounce_of(mail)
        for ident in bounce.original_ids:
            sent = await self.index.sent(ident)
            if sent is not None:
                await mark_reply_failed(self.redis, sent.conversation_id, sent.reply_id, bounce.reason)
                return f"bounce of reply {sent.reply_id}"
        log.info("email %s: a bounce for a mail Helpline did not send was skipped", self.account)
        return "bounce of an unknown mail"


def _answering(message: InboundMessage, ref: ThreadRef) -> InboundMessage:
    """The mail answers a mailed copy of a reply in another channel's conversation (a web chat):
    it continues that conversation, from the customer there, with its files (kept in this
    account's store, where the console finds them: `console.files`). The connector of that
    channel shows it to the customer (`connectors.crossings`)."""
    return message.model_copy(
        update={
            "platform": ref.platform,
            "account": ref.account,
            "thread_key": ref.thread_key,
            "author": message.author.model_copy(update={"user_id": ref.user_id}),
        }
    )


def _text(mail: ParsedMail, new_thread: bool, notes: list[str]) -> str:
    body = trim_reply(mail.text) if mail.text else ""
    parts = [mail.subject] if new_thread and mail.subject else []
    parts += [body, *notes]
    text = "\n\n".join(p for p in parts if p).strip()
    return text[:MAX_TEXT] or "(empty mail)"
