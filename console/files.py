"""Files in a conversation: what customers sent (stored by their connector) and the images
agents attach to replies. Only those who may see the conversation get them; raster images are
served inline (the timeline's thumbnails), Ogg/MP3 audio and MP4 video with their type (the
timeline's players, which seek with Range requests), anything else as a download of opaque
bytes, so a customer's HTML or SVG never runs in the console's origin."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from urllib.parse import quote

from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from helpline.connectors.capabilities import Capabilities
from helpline.connectors.errors import Transient
from helpline.connectors.files import AttachmentStore, Refused
from helpline.routing.models import Attachment, Conversation, EventType

from .email_copy import email_copy_account
from .errors import Invalid, NotFound, Unavailable
from .schemas import FileRef
from .services import Services

INLINE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})  # never SVG: it can carry script
AUDIO = frozenset({"audio/ogg", "audio/mpeg"})  # played in the page (<audio>), never a document
VIDEO = frozenset({"video/mp4"})  # played in the page (<video>)
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
STORE_RETRY_S = 30  # the Retry-After of a file asked for while the store cannot be reached

log = logging.getLogger(__name__)


def inline(mime_type: str | None) -> bool:
    return (mime_type or "").lower() in INLINE


def audio(mime_type: str | None) -> bool:
    return (mime_type or "").lower() in AUDIO


def video(mime_type: str | None) -> bool:
    return (mime_type or "").lower() in VIDEO


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Pure: the part `bytes=a-b`, `bytes=a-` or `bytes=-n` asks for, as (start, end excluded);
    None (the whole file, 200) without one, or for several ranges, another unit, or a header that
    is not a valid range (`bytes=5-4`, `bytes=a-b`): RFC 9110 section 14.2 lets a server ignore
    those and requires it for a unit it does not know. Raises ValueError when the part lies
    outside the file (unsatisfiable: a 416)."""
    unit, _, spec = (header or "").partition("=")
    first, dash, last = spec.strip().partition("-")
    if unit.strip().lower() != "bytes" or "," in spec or not dash or not (first + last).isdigit():
        return None
    if not first:  # the last n bytes
        if int(last) == 0:
            raise ValueError("an empty suffix")
        return max(size - int(last), 0), size
    start = int(first)
    if last and int(last) < start:
        return None  # an invalid range (section 14.1.1): ignored
    if start >= size:
        raise ValueError(f"bytes {start}- of {size}")
    return start, min(int(last) + 1, size) if last else size


def reply_files(svc: Services, conv: Conversation) -> frozenset[str]:
    """The MIME types a reply in this conversation may attach (its connector's capabilities)."""
    return (svc.capabilities(conv.platform, conv.account) or Capabilities()).reply_files


def _stores(svc: Services, conv: Conversation) -> list[AttachmentStore]:
    """The stores that may hold this conversation's files: its account's, then the one of the
    e-mail account that mails its answers (the customer's answers to those mails, which continue
    the conversation, keep their files there)."""
    accounts = [(conv.platform, conv.account)]
    mailing = email_copy_account(svc, conv)
    if mailing is not None:
        accounts.append(("email", mailing))
    connectors = [svc.connectors.get(a) for a in accounts]
    return [c.files for c in connectors if c is not None and c.files is not None]


async def _stored(svc: Services, conv: Conversation, file_id: str) -> AttachmentStore | None:
    """The store that holds this file of the conversation, if one does."""
    for store in _stores(svc, conv):
        with _reachable():
            if await store.exists(file_id):
                return store
    return None


class _reachable:
    """Turns the store's Transient into a 503 with a Retry-After, logged once (the error's class
    and code, never the request, which carries the store's signature)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: object) -> None:
        if isinstance(exc, Transient):
            log.warning("file store unreachable: %s", exc)
            raise Unavailable("the file store cannot be reached; try again shortly", STORE_RETRY_S) from None


async def _primed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`chunks` with its first piece already read, so a store that cannot be reached is a 503
    before the answer starts, not a broken 200."""
    with _reachable():
        first = await anext(chunks, b"")

    async def rest() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return rest()


async def find(svc: Services, conv: Conversation, file_id: str) -> tuple[Attachment, AttachmentStore]:
    """A file of this conversation: sent by the customer, or attached to a reply by an agent."""
    store = svc.store
    found = next(
        (a for m in await store.messages(conv.id) for a in m.attachments if a.platform_file_id == file_id), None
    )
    if found is None:
        found = next(
            (
                a
                for e in await store.events(conv.id)
                if e.type is EventType.REPLY_QUEUED
                for a in reply_attachments(e.data)
                if a.platform_file_id == file_id
            ),
            None,
        )
    stored = await _stored(svc, conv, file_id) if found is not None else None
    if found is None or stored is None:
        raise NotFound(f"attachment {file_id!r} not found in conversation {conv.id}")
    return found, stored


async def response(found: Attachment, store: AttachmentStore, range_header: str | None = None) -> Response:
    """The file for an agent already allowed to see it: from this machine's disk, streamed from
    the store, or (a document, where the store gives them) a redirect to a short-lived link. A
    Range request gets the part it asks for (206), 416 when that part is not in the file, or the
    whole file (200) for a Range header it ignores (`byte_range`), from every store alike."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    file_id, name = found.platform_file_id, found.file_name or found.platform_file_id
    shown = inline(found.mime_type) or audio(found.mime_type) or video(found.mime_type)
    mime = (found.mime_type or "").lower() if shown else "application/octet-stream"
    disposition = "inline" if shown else "attachment"
    path = store.local_path(file_id)
    if path is not None and range_header is None:  # the whole file from this disk (sendfile)
        # A Range request takes the path below for every store, so both answer it alike
        # (Starlette's FileResponse answers 400 to a range header it cannot parse, where RFC 9110
        # says to ignore it).
        return FileResponse(path, media_type=mime, filename=name, content_disposition_type=disposition, headers=headers)
    link = None if shown else store.blobs.presigned_url(file_id, name)
    if link is not None:  # never for what the page shows: its CSP allows only the console's origin
        return RedirectResponse(link, status_code=303, headers={"Cache-Control": "private, no-store"})
    headers["Content-Disposition"] = f"{disposition}; filename*=utf-8''{quote(name)}"
    headers["Accept-Ranges"] = "bytes"
    with _reachable():
        size = await store.blobs.size(file_id)
    if size is None:
        raise NotFound(f"attachment {file_id!r} not found")
    try:
        part = byte_range(range_header, size)
    except ValueError:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = part or (0, size)
    headers["Content-Length"] = str(end - start)
    if part is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    chunks = await _primed(store.blobs.chunks(file_id, start, end if part is not None else None))
    return StreamingResponse(chunks, status_code=206 if part is not None else 200, media_type=mime, headers=headers)


async def upload(svc: Services, conv: Conversation, data: bytes, file_name: str, mime_type: str) -> Attachment:
    """Store an image for a reply, if the conversation's platform takes that type. Idempotent."""
    allowed = reply_files(svc, conv)
    if mime_type.lower() not in allowed:
        kinds = ", ".join(sorted(allowed)) or "none"
        raise Invalid(f"file: {conv.platform} replies take {kinds}, not {mime_type or 'this type'}")
    if not data or len(data) > MAX_UPLOAD_BYTES:
        raise Invalid(f"file: empty or larger than {MAX_UPLOAD_BYTES} bytes")
    connector = svc.connectors.get((conv.platform, conv.account))
    if connector is None:
        raise Invalid(f"file: the {conv.platform} account {conv.account!r} is not configured here")
    kept = await connector.keep_file(data, file_name, mime_type)
    if isinstance(kept, Refused):
        raise Invalid(f"file: {kept.file_name}: {kept.reason}")
    return kept


async def for_reply(svc: Services, conv: Conversation, refs: Sequence[FileRef]) -> tuple[Attachment, ...]:
    """The uploaded files a reply names, checked to be stored and of a type its platform takes."""
    out = []
    for ref in refs:
        if await _stored(svc, conv, ref.id) is None or ref.mime_type.lower() not in reply_files(svc, conv):
            raise Invalid(f"attachments: {ref.id[:16]!r} is not an image uploaded for this conversation")
        out.append(
            Attachment(
                kind="photo",
                platform_file_id=ref.id,
                file_name=ref.name,
                mime_type=ref.mime_type.lower(),
                size_bytes=ref.size,
            )
        )
    return tuple(out)


def event_data(attachments: tuple[Attachment, ...]) -> dict[str, list[str]]:
    """How a reply's files are recorded in its event (event data holds flat values only)."""
    if not attachments:
        return {}
    return {
        "files": [a.platform_file_id for a in attachments],
        "file_names": [a.file_name or "" for a in attachments],
        "file_types": [a.mime_type or "" for a in attachments],
        "file_sizes": [str(a.size_bytes or 0) for a in attachments],
    }


def reply_attachments(data: Mapping[str, object]) -> list[Attachment]:
    ids, names, types, sizes = (data.get(k) or [] for k in ("files", "file_names", "file_types", "file_sizes"))
    if not (isinstance(ids, list) and isinstance(names, list) and isinstance(types, list) and isinstance(sizes, list)):
        return []
    return [
        Attachment(
            kind="photo" if inline(t) else "document",
            platform_file_id=i,
            file_name=n or None,
            mime_type=t or None,
            size_bytes=int(s or 0),
        )
        for i, n, t, s in zip(ids, names, types, sizes, strict=False)
    ]
