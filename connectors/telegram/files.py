"""Telegram files: a customer's photo, document, voice note or audio file is fetched once, when its update is read
(getFile, then the download the Bot API serves at /file/bot<token>/<file_path>), and kept in the
account's file store under its hash; the message then names the stored file. A file of a type
the store refuses, or larger than its limit, stays listed with its Telegram id and is not fetched.
An agent's image goes out with sendPhoto."""

from __future__ import annotations

import logging

from telegram import error as tg
from telegram.ext import ExtBot

from helpline.connectors.errors import Transient
from helpline.connectors.files import AttachmentStore
from helpline.routing.models import Attachment, InboundMessage

log = logging.getLogger(__name__)

# Telegram sends photos re-encoded as JPEG and voice notes as Ogg/Opus; the others say their type.
IMPLIED_TYPES = {"photo": "image/jpeg", "voice": "audio/ogg", "sticker": "image/webp"}
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "application/pdf": "pdf",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
}


async def fetch_files(bot: ExtBot[None], store: AttachmentStore, message: InboundMessage) -> InboundMessage:
    """The message with its files stored (each fetched once per delivery of the update; stored
    once however often). Raises Transient when Telegram cannot be reached: the update is read
    again later."""
    if not message.attachments:
        return message
    kept = tuple([await _fetch(bot, store, a) for a in message.attachments])
    return message.model_copy(update={"attachments": kept})


async def _fetch(bot: ExtBot[None], store: AttachmentStore, a: Attachment) -> Attachment:
    mime = (a.mime_type or IMPLIED_TYPES.get(a.kind) or "").lower()
    if mime not in store.allowed or (a.size_bytes or 0) > store.max_bytes:
        return a  # listed, never fetched
    try:
        found = await bot.get_file(a.platform_file_id)
        data = bytes(await found.download_as_bytearray())
    except tg.BadRequest as exc:  # "file is too big", an expired id: it will not get better
        log.warning("telegram: a %s was not fetched: %s", a.kind, exc.message)
        return a
    except tg.TelegramError as exc:
        raise Transient(f"telegram getFile: {type(exc).__name__}") from None
    name = a.file_name or f"{a.kind}.{EXTENSIONS.get(mime, 'bin')}"
    stored = await store.keep(data, name, mime, name, kind=a.kind)
    return stored if isinstance(stored, Attachment) else a
