"""Files customers send (e-mail attachments and original mails, Telegram photos, documents and
voice notes, X DM media, Mastodon media) and files agents attach, each stored under its SHA-256.

A file is stored once however often it arrives (the name is its hash), in a folder of this
machine (the default) or in an S3-compatible bucket (`[files] backend = "s3"`, s3files.py). Only
types on the allow-list and sizes under the limit are kept; the others are listed as refused. The
console serves them to those who may see the conversation: raster images inline (thumbnails),
audio with its type, anything else as a download, never rendered.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from helpline.routing.models import Attachment

log = logging.getLogger(__name__)

DEFAULT_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "message/rfc822",
    "audio/ogg",
    "audio/mpeg",
    "video/mp4",
)


class FilesSettings(BaseModel):
    """The `[files]` section: where every account's files are kept. `local` (the default): each
    account's `attachments_dir`; `s3`: one bucket of an S3-compatible store (see s3files.py),
    private, read by the console for those who may see the conversation."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "s3"] = "local"
    endpoint: str | None = Field(default=None, pattern=r"^https?://[^/?#]+/?$")  # scheme, host, port only
    bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    region: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,32}$")
    prefix: str = Field(default="attachments/", pattern=r"^([A-Za-z0-9_.-]+/)*$")  # keys: <prefix><aa>/<sha256>
    #: The access key itself, or the variable holding it; the secret key only ever in a variable.
    access_key: str | None = None
    access_key_env: str = "HELPLINE_S3_ACCESS_KEY"
    secret_key_env: str = "HELPLINE_S3_SECRET_KEY"  # noqa: S105 (a variable name)
    #: Documents (not images or audio) are handed out as presigned GETs valid this long, after the
    #: console has checked who asks; 0: the console streams them itself.
    presigned_seconds: int = Field(default=0, ge=0, le=3600)

    @model_validator(mode="after")
    def _complete(self) -> FilesSettings:
        if self.backend == "s3":
            missing = [name for name in ("endpoint", "bucket") if getattr(self, name) is None]
            if missing:
                raise ValueError(f'{" and ".join(missing)} required with backend = "s3"')
        return self


class FileOptions(BaseModel):
    """The options of a connector that stores files (mixed into its options model)."""

    attachments_dir: str = "var/attachments"  # where received and attached files are stored (local backend)
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0, le=1024 * 1024 * 1024)
    #: MIME types kept; others are listed in the message as refused.
    attachment_types: list[str] = Field(default_factory=lambda: list(DEFAULT_TYPES))

    def file_store(self, blobs: Blobs | None = None) -> AttachmentStore:
        """The account's store: in `blobs` (the `[files]` backend) or else its own folder."""
        return AttachmentStore(
            blobs or LocalBlobs(Path(self.attachments_dir)), self.max_attachment_bytes, self.attachment_types
        )


_HEX = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def safe_file_name(name: str, fallback: str) -> str:
    cleaned = _UNSAFE.sub("_", name).strip(" .")[:200]
    return cleaned or fallback


@dataclass(frozen=True)
class Refused:
    file_name: str
    mime_type: str
    reason: str


class Blobs(abc.ABC):
    """Where files are kept, each under its SHA-256 (`file_id`, already checked to be one)."""

    @abc.abstractmethod
    async def put(self, file_id: str, data: bytes) -> None:
        """Keep the bytes; idempotent. Raises Transient when the store cannot be reached."""

    async def exists(self, file_id: str) -> bool:
        return await self.size(file_id) is not None

    @abc.abstractmethod
    async def size(self, file_id: str) -> int | None:
        """The file's length in bytes; None when it is not stored."""

    @abc.abstractmethod
    async def read(self, file_id: str) -> bytes | None: ...

    @abc.abstractmethod
    def chunks(self, file_id: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The file's bytes from `start` up to `end` (excluded; None: its end) in pieces, for a
        response that streams them (a Range request asks for a part)."""

    def local_path(self, file_id: str) -> Path | None:
        """The file on this machine's disk, when the backend keeps it there."""
        return None

    def presigned_url(self, file_id: str, file_name: str) -> str | None:
        """A short-lived link that downloads the file as an attachment, where the backend gives them."""
        return None


class LocalBlobs(Blobs):
    """A folder: `<root>/<first two hex digits>/<sha256>`, written atomically (a temporary file
    renamed), so a crash never leaves half a file under a real name."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def local_path(self, file_id: str) -> Path | None:
        path = self.root / file_id[:2] / file_id
        return path if path.is_file() else None

    async def put(self, file_id: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, file_id, data)

    def _write(self, file_id: str, data: bytes) -> None:
        folder = self.root / file_id[:2]
        target = folder / file_id
        if target.exists():
            return
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{file_id}.{os.getpid()}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, target)

    async def size(self, file_id: str) -> int | None:
        path = self.local_path(file_id)
        return None if path is None else path.stat().st_size

    async def read(self, file_id: str) -> bytes | None:
        path = self.local_path(file_id)
        return None if path is None else await asyncio.to_thread(path.read_bytes)

    async def chunks(self, file_id: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        data = await self.read(file_id)
        if data is not None:
            yield data[start:end]


class AttachmentStore:
    """An account's files: type and size limits over a backend that keeps them by hash."""

    def __init__(self, blobs: Blobs, max_bytes: int, allowed_types: Sequence[str]) -> None:
        self.blobs = blobs
        self.max_bytes = max_bytes
        self.allowed = {t.lower() for t in allowed_types}

    async def exists(self, file_id: str) -> bool:
        """Whether `file_id` names a stored file (anything but a SHA-256 in hex never does)."""
        return bool(_HEX.match(file_id)) and await self.blobs.exists(file_id)

    async def read(self, file_id: str) -> bytes | None:
        return await self.blobs.read(file_id) if _HEX.match(file_id) else None

    def local_path(self, file_id: str) -> Path | None:
        return self.blobs.local_path(file_id) if _HEX.match(file_id) else None

    async def save(self, data: bytes) -> str:
        """Store bytes; returns their id. Idempotent."""
        file_id = hashlib.sha256(data).hexdigest()
        await self.blobs.put(file_id, data)
        return file_id

    async def keep(
        self, data: bytes, file_name: str, mime_type: str, fallback_name: str, kind: str | None = None
    ) -> Attachment | Refused:
        """Store a file if its type is allowed and its size under the limit. Idempotent."""
        name = safe_file_name(file_name, fallback_name)
        mime = mime_type.lower()
        if mime not in self.allowed:
            return Refused(name, mime, "type not allowed")
        if len(data) > self.max_bytes:
            return Refused(name, mime, f"larger than {self.max_bytes} bytes")
        file_id = await self.save(data)
        kind = kind or ("photo" if mime.startswith("image/") else "document")
        return Attachment(kind=kind, platform_file_id=file_id, mime_type=mime, file_name=name, size_bytes=len(data))

    async def keep_original(self, raw: bytes) -> Attachment:
        """The whole mail as received, for agents to open when trimming hid something."""
        file_id = await self.save(raw)
        return Attachment(
            kind="original",
            platform_file_id=file_id,
            mime_type="message/rfc822",
            file_name="original.eml",
            size_bytes=len(raw),
        )


async def download(
    http: httpx.AsyncClient,
    store: AttachmentStore,
    a: Attachment,
    *,
    platform: str,
    headers: Mapping[str, str] | None = None,
) -> Attachment:
    """Fetch `a.url` into the store: the stored file (its type from the answer's Content-Type, its
    name from the URL's last segment, the URL kept), or `a` as it was when the answer is not 200 or
    the download fails, with its type when that type is refused or the file is over the limit
    (listed, never stored: the link stays for the agent). Idempotent."""
    assert a.url is not None
    try:
        async with http.stream("GET", a.url, headers=headers) as response:
            if response.status_code != 200:
                log.warning("%s: a %s was not fetched: HTTP %d", platform, a.kind, response.status_code)
                return a
            mime = response.headers.get("content-type", "").partition(";")[0].strip().lower()
            declared = response.headers.get("content-length", "")
            if mime not in store.allowed or (declared.isdigit() and int(declared) > store.max_bytes):
                return a.model_copy(update={"mime_type": mime or None})
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > store.max_bytes:
                    return a.model_copy(update={"mime_type": mime})
    except httpx.HTTPError as exc:  # the message is not held back for its file
        log.warning("%s: a %s was not fetched: %s", platform, a.kind, type(exc).__name__)
        return a
    name = PurePosixPath(httpx.URL(a.url).path).name or a.kind
    stored = await store.keep(bytes(data), name, mime, a.kind, kind=a.kind)
    return stored.model_copy(update={"url": a.url}) if isinstance(stored, Attachment) else a
