"""The S3-compatible file store, against a real S3 wire-protocol server on loopback: files kept
by hash under the prefix, read back whole and in pieces; an unreachable store is Transient; a
missing bucket or key is named by its field."""

from __future__ import annotations

import hashlib

import pytest

from helpline.connectors.errors import ConfigError, Transient
from helpline.connectors.files import AttachmentStore, FilesSettings
from helpline.connectors.s3files import build_blobs, check_bucket, s3_blobs
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server

ENV = {"HELPLINE_S3_ACCESS_KEY": ACCESS_KEY, "HELPLINE_S3_SECRET_KEY": SECRET_KEY}


def settings(server: S3Server, bucket: str, **extra: object) -> FilesSettings:
    return FilesSettings.model_validate(
        {"backend": "s3", "endpoint": server.endpoint, "bucket": bucket, "region": "us-east-1", **extra}
    )


async def test_files_are_kept_by_hash_in_the_bucket_and_read_back(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    blobs = s3_blobs(settings(s3_server, bucket, prefix="desk/"), ENV)
    await check_bucket(blobs)
    store = AttachmentStore(blobs, 1024 * 1024, ["image/png", "application/pdf"])
    data = b"%PDF-1.4 " + bytes(range(256)) * 2000  # 512 KB: read back in several pieces
    kept = await store.keep(data, "statement.pdf", "application/pdf", "file")
    again = await store.keep(data, "copy.pdf", "application/pdf", "file")
    sha = hashlib.sha256(data).hexdigest()
    assert not isinstance(kept, tuple) and kept.platform_file_id == again.platform_file_id == sha  # type: ignore[union-attr]
    assert s3_server.keys(bucket) == [f"desk/{sha[:2]}/{sha}"]  # once
    assert await store.exists(sha) and await store.read(sha) == data
    pieces = [chunk async for chunk in blobs.chunks(sha)]
    assert len(pieces) > 1 and b"".join(pieces) == data
    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not await store.exists(missing) and await store.read(missing) is None
    assert await store.read("../../etc/passwd") is None and store.local_path(sha) is None
    refused = await store.keep(b"<svg/>", "x.svg", "image/svg+xml", "file")
    assert not hasattr(refused, "platform_file_id") and len(s3_server.keys(bucket)) == 1


async def test_an_unreachable_store_is_transient_and_a_missing_bucket_or_key_is_named(s3_server: S3Server) -> None:
    down = s3_blobs(FilesSettings(backend="s3", endpoint="http://127.0.0.1:9", bucket="files", region="us-east-1"), ENV)
    with pytest.raises(Transient):
        await AttachmentStore(down, 100, ["image/png"]).save(b"x")
    with pytest.raises(ConfigError, match=r"^files\.bucket: no bucket 'nothing-here'"):
        await check_bucket(s3_blobs(settings(s3_server, "nothing-here"), ENV))
    with pytest.raises(ConfigError, match=r"^files\.secret_key_env: the variable HELPLINE_S3_SECRET_KEY"):
        s3_blobs(settings(s3_server, "files"), {"HELPLINE_S3_ACCESS_KEY": ACCESS_KEY})
    with pytest.raises(ConfigError, match=r"^files\.access_key: "):
        s3_blobs(settings(s3_server, "files"), {})
    assert build_blobs(FilesSettings()) is None  # local: each account's folder
