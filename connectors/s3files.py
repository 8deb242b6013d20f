"""The S3-compatible file store (`[files] backend = "s3"`): every account's files in one private
bucket, under `<prefix><first two hex digits>/<sha256>`, through the MinIO client (any
S3-compatible service: AWS S3, MinIO, Ceph, R2...). The bucket is never made public: the console
reads a file for an agent after checking they may see its conversation, or (documents only, when
`presigned_seconds` is set) hands them a presigned GET that expires within that many seconds.

The client is synchronous (urllib3): each call runs in a worker thread. A store that cannot be
reached raises Transient, so the update whose file it was is read again later."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import urllib3

from .errors import ConfigError, Transient
from .files import Blobs, FilesSettings

_MISSING = {"NoSuchKey", "NoSuchObject", "NotFound"}


def _minio() -> Any:
    try:
        import minio
    except ImportError:
        raise ConfigError('files.backend: "s3" needs the minio package (pip install "helpline[s3]")') from None
    return minio


class S3Blobs(Blobs):
    def __init__(self, client: Any, bucket: str, prefix: str, presigned_seconds: int = 0) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.presigned_seconds = presigned_seconds
        self.errors = (_minio().error.S3Error, urllib3.exceptions.HTTPError, OSError)

    def key(self, file_id: str) -> str:
        return f"{self.prefix}{file_id[:2]}/{file_id}"

    async def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except self.errors as exc:
            if getattr(exc, "code", None) in _MISSING:
                raise FileNotFoundError(what) from None
            # Names only (the error's class, its cause's, the store's code): never the request.
            cause = type(getattr(exc, "reason", None) or exc).__name__
            raise Transient(f"file store {what}: {type(exc).__name__}: {getattr(exc, 'code', '') or cause}") from None

    async def put(self, file_id: str, data: bytes) -> None:
        # The key is the content's hash: writing it again writes the same bytes.
        await self._call(
            "put",
            self.client.put_object,
            self.bucket,
            self.key(file_id),
            io.BytesIO(data),
            len(data),
            content_type="application/octet-stream",
        )

    async def size(self, file_id: str) -> int | None:
        try:
            found = await self._call("stat", self.client.stat_object, self.bucket, self.key(file_id))
        except FileNotFoundError:
            return None
        return int(found.size)

    async def read(self, file_id: str) -> bytes | None:
        try:
            return b"".join([chunk async for chunk in self.chunks(file_id)])
        except FileNotFoundError:
            return None

    async def chunks(self, file_id: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        length = 0 if end is None else end - start  # 0: to the end (the client's convention)
        response = await self._call(
            "get", self.client.get_object, self.bucket, self.key(file_id), offset=start, length=length
        )
        try:
            while chunk := await self._call("read", response.read, 256 * 1024):
                yield chunk
        finally:
            response.close()
            response.release_conn()

    def presigned_url(self, file_id: str, file_name: str) -> str | None:
        seconds = self.presigned_seconds
        if seconds <= 0:
            return None
        headers = {
            "response-content-type": "application/octet-stream",
            "response-content-disposition": f"attachment; filename*=utf-8''{quote(file_name)}",
        }
        return str(
            self.client.presigned_get_object(
                self.bucket, self.key(file_id), expires=timedelta(seconds=seconds), response_headers=headers
            )
        )


def s3_blobs(settings: FilesSettings, environ: Mapping[str, str] | None = None) -> S3Blobs:
    """The bucket `[files]` names, its keys read from the environment. Raises ConfigError naming
    the field when a key is missing. Makes no request."""
    env = os.environ if environ is None else environ
    assert settings.endpoint is not None and settings.bucket is not None  # FilesSettings checks them
    access = settings.access_key or env.get(settings.access_key_env)
    if not access:
        raise ConfigError(f"files.access_key: set it, or the variable {settings.access_key_env}")
    secret = env.get(settings.secret_key_env)
    if not secret:
        raise ConfigError(f"files.secret_key_env: the variable {settings.secret_key_env} is not set")
    endpoint = urllib3.util.parse_url(settings.endpoint)
    # A store that refuses connections is down: Transient at once (the update is read again later,
    # an agent gets a 503) rather than a warning from urllib3 for every retry of every request.
    retries = urllib3.Retry(total=2, connect=0, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504))
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5.0, read=30.0), maxsize=8, retries=retries)
    client = _minio().Minio(
        endpoint.netloc,
        access_key=access,
        secret_key=secret,
        secure=endpoint.scheme == "https",
        region=settings.region,
        http_client=http,
    )
    return S3Blobs(client, settings.bucket, settings.prefix, settings.presigned_seconds)


async def check_bucket(blobs: S3Blobs) -> None:
    """Raises ConfigError when the bucket does not exist or the keys may not use it."""
    try:
        found = await asyncio.to_thread(blobs.client.bucket_exists, blobs.bucket)
    except blobs.errors as exc:
        raise ConfigError(
            f"files.bucket: {blobs.bucket!r} cannot be reached: {getattr(exc, 'code', '') or type(exc).__name__}"
        ) from None
    if not found:
        raise ConfigError(f"files.bucket: no bucket {blobs.bucket!r} at the endpoint")


def build_blobs(settings: FilesSettings, environ: Mapping[str, str] | None = None) -> Blobs | None:
    """The `[files]` backend every account shares; None: each account's own folder."""
    return s3_blobs(settings, environ) if settings.backend == "s3" else None
