"""Files customers send (e-mail attachments, voice notes): listed in the conversation, downloaded
only by those who may see it, as a download never rendered; images and audio with their type."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis

from helpline.connectors.email.connector import EmailConnector
from helpline.connectors.files import FileOptions, Refused
from helpline.connectors.x.connector import XConnector
from helpline.console.files import byte_range
from helpline.routing.models import Attachment
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server

from .helpers import Desk, make_desk

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4


async def test_an_attachment_downloads_for_agents_who_see_the_conversation_only(
    r: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAIL_USER", "support")
    monkeypatch.setenv("MAIL_PASSWORD", "secret")
    account = {
        "platform": "email",
        "name": "support",
        "secrets": {"username": "MAIL_USER", "password": "MAIL_PASSWORD"},
        "options": {
            "address": "support@helpline.test",
            "imap_host": "127.0.0.1",
            "smtp_host": "127.0.0.1",
            "attachments_dir": str(tmp_path / "files"),
        },
    }
    desk = await make_desk(r, accounts=[{"platform": "null", "name": "main"}, account])
    desk.parts.make_connectors()
    email = desk.parts.connectors[("email", "support")]
    assert isinstance(email, EmailConnector)
    page = b"<html><script>alert(document.cookie)</script></html>"
    file_id = await email.files.save(page)
    other_id = await email.files.save(b"someone else's file")
    cid = await desk.conversation(
        "see the attached page",
        thread="mail:1",
        user="ann@example.com",
        platform="email",
        account="support",
        attachments=(
            Attachment(
                kind="document",
                platform_file_id=file_id,
                mime_type="text/html",
                file_name="statement.html",
                size_bytes=len(page),
            ),
        ),
    )
    amy = await desk.token("amy")
    c = desk.client()
    detail = (await c.get(f"/api/v1/conversations/{cid}", headers=amy)).json()
    [message] = [i for i in detail["timeline"] if i["kind"] == "message"]
    assert message["data"]["attachments"] == [
        {
            "id": file_id,
            "name": "statement.html",
            "kind": "document",
            "size": len(page),
            "image": False,
            "audio": False,
            "video": False,
        }
    ]  # never a thumbnail
    got = await c.get(f"/api/v1/conversations/{cid}/attachments/{file_id}", headers=amy)
    assert got.status_code == 200 and got.content == page
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    bob = await desk.token("bob")  # another team: may not see the conversation
    assert (await c.get(f"/api/v1/conversations/{cid}/attachments/{file_id}", headers=bob)).status_code == 403
    # A stored file that is not this conversation's, or a path, is not found.
    assert (await c.get(f"/api/v1/conversations/{cid}/attachments/{other_id}", headers=amy)).status_code == 404
    assert (await c.get(f"/api/v1/conversations/{cid}/attachments/..%2F..%2Fetc", headers=amy)).status_code == 404
    assert (await c.get(f"/api/v1/conversations/{cid}/attachments/{file_id}")).status_code == 401


async def _x_desk(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch, files: dict[str, object], options: dict[str, object] | None = None
) -> tuple[Desk, XConnector]:
    """A desk with an X account beside the null one (its files kept as `files` says), and its connector."""
    for name in ("KEY", "SECRET", "TOKEN", "TOKEN_SECRET"):
        monkeypatch.setenv(f"X_{name}", "x")
    account = {
        "platform": "x",
        "name": "support",
        "secrets": {
            "consumer_key": "X_KEY",
            "consumer_secret": "X_SECRET",
            "access_token": "X_TOKEN",
            "access_token_secret": "X_TOKEN_SECRET",
        },
        "options": {"user_id": "1000", **(options or {})},
    }
    desk = await make_desk(r, accounts=[{"platform": "null", "name": "main"}, account], files=files)
    desk.parts.make_connectors()
    connector = desk.parts.connectors[("x", "support")]
    assert isinstance(connector, XConnector)
    return desk, connector


async def test_an_x_dm_photo_is_shown_inline_to_agents_who_see_the_conversation(
    r: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk, cid, file_id = await _x_photo_desk(r, monkeypatch, {}, {"attachments_dir": str(tmp_path / "files")})
    amy, c = await desk.token("amy"), desk.client()
    detail = (await c.get(f"/api/v1/conversations/{cid}", headers=amy)).json()
    [message] = [i for i in detail["timeline"] if i["kind"] == "message"]
    assert message["data"]["attachments"][0]["image"] is True  # a thumbnail
    got = await c.get(f"/api/v1/conversations/{cid}/attachments/{file_id}", headers=amy)
    assert got.status_code == 200 and got.content == JPEG and got.headers["content-type"] == "image/jpeg"
    bob = await desk.token("bob")
    assert (await c.get(f"/api/v1/conversations/{cid}/attachments/{file_id}", headers=bob)).status_code == 403


async def test_with_an_s3_store_images_stream_through_the_console_and_documents_get_a_short_lived_link(
    r: redis.Redis, s3_server: S3Server, s3_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAIL_USER", "support")
    monkeypatch.setenv("MAIL_PASSWORD", "secret")
    bucket = s3_server.new_bucket()
    account = {
        "platform": "email",
        "name": "support",
        "secrets": {"username": "MAIL_USER", "password": "MAIL_PASSWORD"},
        "options": {"address": "support@helpline.test", "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1"},
    }
    files = {
        "backend": "s3",
        "endpoint": s3_server.endpoint,
        "bucket": bucket,
        "region": "us-east-1",
        "presigned_seconds": 30,
    }
    desk = await make_desk(r, accounts=[{"platform": "null", "name": "main"}, account], files=files)
    desk.parts.make_connectors()
    email = desk.parts.connectors[("email", "support")]
    assert isinstance(email, EmailConnector)
    jpeg, pdf = b"\xff\xd8\xff\xe0 a jpeg in the bucket", b"%PDF-1.4 a statement in the bucket"
    jpeg_id, pdf_id = await email.files.save(jpeg), await email.files.save(pdf)
    assert len(s3_server.keys(bucket)) == 2
    cid = await desk.conversation(
        "two files",
        thread="mail:2",
        user="ann@example.com",
        platform="email",
        account="support",
        attachments=(
            Attachment(
                kind="photo",
                platform_file_id=jpeg_id,
                mime_type="image/jpeg",
                file_name="screen.jpg",
                size_bytes=len(jpeg),
            ),
            Attachment(
                kind="document",
                platform_file_id=pdf_id,
                mime_type="application/pdf",
                file_name="état.pdf",
                size_bytes=len(pdf),
            ),
        ),
    )
    amy, c = await desk.token("amy"), desk.client()
    image = await c.get(f"/api/v1/conversations/{cid}/attachments/{jpeg_id}", headers=amy)
    assert image.status_code == 200 and image.content == jpeg  # same origin: the page's CSP allows it
    assert image.headers["content-type"] == "image/jpeg" and image.headers["content-disposition"].startswith("inline")
    document = await c.get(f"/api/v1/conversations/{cid}/attachments/{pdf_id}", headers=amy)
    assert document.status_code == 303 and document.headers["cache-control"] == "private, no-store"
    link = httpx.URL(document.headers["location"])
    assert link.host == "127.0.0.1" and link.params["X-Amz-Expires"] == "30" and "X-Amz-Signature" in link.params
    async with httpx.AsyncClient() as http:
        got = await http.get(link)
    assert got.status_code == 200 and got.content == pdf
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith("attachment;")
    bob = await desk.token("bob")  # another team: no link for them
    refused = await c.get(f"/api/v1/conversations/{cid}/attachments/{pdf_id}", headers=bob)
    assert refused.status_code == 403 and "location" not in refused.headers


async def test_a_file_asked_for_while_the_s3_store_is_down_is_a_503_to_retry_logged_once_without_keys(
    r: redis.Redis, s3_env: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # its own: this test stops it
    server.start()
    host, port = server.get_host_and_port()
    store = S3Server(f"http://{host}:{port}")
    bucket = store.new_bucket()
    desk, cid, file_id = await _x_photo_desk(
        r, monkeypatch, {"backend": "s3", "endpoint": store.endpoint, "bucket": bucket, "region": "us-east-1"}
    )
    amy, c = await desk.token("amy"), desk.client()
    url = f"/api/v1/conversations/{cid}/attachments/{file_id}"
    assert (await c.get(url, headers=amy)).status_code == 200
    server.stop()
    caplog.clear()
    got = await c.get(url, headers=amy)
    assert got.status_code == 503 and got.headers["retry-after"] == "30"
    assert got.json() == {"detail": "the file store cannot be reached; try again shortly"}  # the API's error shape
    logged = [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert len(logged) == 1 and "file store unreachable" in logged[0].getMessage()
    assert ACCESS_KEY not in caplog.text and SECRET_KEY not in caplog.text and "Signature" not in caplog.text


async def _x_photo_desk(
    r: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, object],
    options: dict[str, object] | None = None,
) -> tuple[Desk, str, str]:
    """A desk whose X account keeps its files in `files` (or as its `options` say), and a
    conversation with a stored JPEG."""
    desk, connector = await _x_desk(r, monkeypatch, files, options)
    file_id = await connector.files.save(JPEG)
    cid = await desk.conversation(
        "",
        thread="dm:42-1000",
        user="42",
        platform="x",
        account="support",
        attachments=(
            Attachment(
                kind="photo", platform_file_id=file_id, mime_type="image/jpeg", file_name="9.jpg", size_bytes=len(JPEG)
            ),
        ),
    )
    return desk, cid, file_id


MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8  # 2,060 bytes


async def _video_desk(
    r: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, object] | None = None,
    options: dict[str, object] | None = None,
) -> tuple[Desk, str, str]:
    """A desk whose X account keeps a customer's MP4 (kept under the default types), in a conversation."""
    desk, connector = await _x_desk(r, monkeypatch, files or {}, options)
    kept = await connector.files.keep(MP4, "clip.mp4", "video/mp4", "video", kind="video")
    assert isinstance(kept, Attachment)
    cid = await desk.conversation(
        "", thread="dm:42-1000", user="42", platform="x", account="support", attachments=(kept,)
    )
    return desk, cid, kept.platform_file_id


async def _check_video_ranges(desk: Desk, cid: str, file_id: str) -> None:
    amy, c = await desk.token("amy"), desk.client()
    detail = (await c.get(f"/api/v1/conversations/{cid}", headers=amy)).json()
    [message] = [i for i in detail["timeline"] if i["kind"] == "message"]
    assert message["data"]["attachments"][0]["video"] is True  # a player in the page
    url = f"/api/v1/conversations/{cid}/attachments/{file_id}"
    whole = await c.get(url, headers=amy)
    assert whole.status_code == 200 and whole.content == MP4 and whole.headers["content-type"] == "video/mp4"
    assert whole.headers["content-disposition"].startswith("inline") and whole.headers["accept-ranges"] == "bytes"
    part = await c.get(url, headers={**amy, "Range": "bytes=100-299"})
    assert part.status_code == 206 and part.content == MP4[100:300]
    assert part.headers["content-range"] == f"bytes 100-299/{len(MP4)}" and part.headers["content-length"] == "200"
    tail = await c.get(url, headers={**amy, "Range": "bytes=2000-"})
    assert tail.status_code == 206 and tail.content == MP4[2000:]
    last = await c.get(url, headers={**amy, "Range": "bytes=-10"})
    assert last.status_code == 206 and last.content == MP4[-10:]
    beyond = await c.get(url, headers={**amy, "Range": f"bytes={len(MP4)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(MP4)}"
    # A Range header that is no valid range, or in another unit, is ignored: the whole file, from
    # every store (the local one answered 400 to these, the S3 one 200 or 416)
    for ignored in ("bytes=300-100", "bytes=abc", "items=0-9", "bytes=-", "bytes=0-9,20-29"):
        answer = await c.get(url, headers={**amy, "Range": ignored})
        assert (answer.status_code, answer.content) == (200, MP4), ignored
        assert "content-range" not in answer.headers
    bob = await desk.token("bob")  # a part is no way around the conversation's permissions
    assert (await c.get(url, headers={**bob, "Range": "bytes=0-9"})).status_code == 403
    session, _ = await desk.login("amy")
    page = (await session.get(f"/c/{cid}")).text  # a player of the console's own origin
    assert f'<video controls preload="metadata" src="{url}"' in page


async def test_a_customers_mp4_plays_in_the_page_and_seeks_with_range_requests_from_the_local_store(
    r: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _check_video_ranges(*await _video_desk(r, monkeypatch, options={"attachments_dir": str(tmp_path / "f")}))


async def test_a_customers_mp4_seeks_with_range_requests_from_the_s3_store(
    r: redis.Redis, s3_server: S3Server, s3_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        "backend": "s3",
        "endpoint": s3_server.endpoint,
        "bucket": s3_server.new_bucket(),
        "region": "us-east-1",
        "presigned_seconds": 30,
    }  # a video streams through the console all the same
    await _check_video_ranges(*await _video_desk(r, monkeypatch, files))


async def test_an_mp4_is_kept_under_the_default_types_and_refused_over_the_size_limit(tmp_path: Path) -> None:
    kept = await FileOptions(attachments_dir=str(tmp_path)).file_store().keep(MP4, "clip.mp4", "video/mp4", "video")
    assert isinstance(kept, Attachment) and kept.mime_type == "video/mp4"
    small = FileOptions(attachments_dir=str(tmp_path), max_attachment_bytes=len(MP4) - 1).file_store()
    refused = await small.keep(MP4, "clip.mp4", "video/mp4", "video")
    assert isinstance(refused, Refused) and refused.reason.startswith("larger than")


def test_a_range_header_names_one_part_of_the_file_or_none() -> None:
    assert byte_range(None, 10) is None and byte_range("bytes=0-1,4-5", 10) is None  # several: the whole file
    assert byte_range("items=0-1", 10) is None and byte_range("bytes=a-b", 10) is None
    assert byte_range("bytes=2-4", 10) == (2, 5) and byte_range("bytes=2-99", 10) == (2, 10)
    assert byte_range("bytes=-3", 10) == (7, 10) and byte_range("bytes=-30", 10) == (0, 10)
    assert byte_range("bytes=5-4", 10) is None  # not a valid range (RFC 9110 14.1.1): ignored
    for outside in ("bytes=10-", "bytes=12-20", "bytes=-0"):
        with pytest.raises(ValueError):
            byte_range(outside, 10)
