"""Files customers send (e-mail attachments, voice notes): listed in the conversation, downloaded
only by those who may see it, as a download never rendered; images and audio with their type."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis

from helpline.connectors.email.connector import EmailConnector
from helpline.connectors.x.connector import XConnector
from helpline.routing.models import Attachment
from tests.s3_server import S3Server

from .helpers import make_desk


async def test_an_attachment_downloads_for_agents_who_see_the_conversation_only(
        r: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_USER", "support")
    monkeypatch.setenv("MAIL_PASSWORD", "secret")
    account = {"platform": "email", "name": "support",
               "secrets": {"username": "MAIL_USER", "password": "MAIL_PASSWORD"},
               "options": {"address": "support@helpline.test", "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1",
                           "attachments_dir": str(tmp_path / "files")}}
    desk = await make_desk(r, accounts=[{"platform": "null", "name": "main"}, account])
    desk.parts.make_connectors()
    email = desk.parts.connectors[("email", "support")]
    assert isinstance(email, EmailConnector)
    page = b"<html><script>alert(document.cookie)</script></html>"
    file_id = await email.files.save(page)
    other_id = await email.files.save(b"someone else's file")
    cid = await desk.conversation("see the attached page", thread="mail:1", user="ann@example.com", platform="email",
                                  account="support", attachments=(Attachment(
                                      kind="document", platform_file_id=file_id, mime_type="text/html",
                                      file_name="statement.html", size_bytes=len(page)),))
    amy = await desk.token("amy")
    c = desk.client()
    detail = (await c.get(f"/api/v1/conversations/{cid}", headers=amy)).json()
    [message] = [i for i in detail["timeline"] if i["kind"] == "message"]
    assert message["data"]["attachments"] == [{"id": file_id, "name": "statement.html", "kind": "document",
                                               "size": len(page), "image": False, "audio": False}]  # never a thumbnail
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


async def test_an_x_dm_photo_is_shown_inline_to_agents_who_see_the_conversation(
        r: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEY", "SECRET", "TOKEN", "TOKEN_SECRET"):
        monkeypatch.setenv(f"X_{name}", "x")
    account = {"platform": "x", "name": "support",
               "secrets": {"consumer_key": "X_KEY", "consumer_secret": "X_SECRET", "access_token": "X_TOKEN",
                           "access_token_secret": "X_TOKEN_SECRET"},
               "options": {"user_id": "1000", "attachments_dir": str(tmp_path / "files")}}
    desk = await make_desk(r, accounts=[{"platform": "null", "name": "main"}, account])
    desk.parts.make_connectors()
    x = desk.parts.connectors[("x", "support")]
    assert isinstance(x, XConnector)
    jpeg = b"\xff\xd8\xff\xe0 a jpeg"
    file_id = await x.files.save(jpeg)
    cid = await desk.conversation("", thread="dm:42-1000", user="42", platform="x", account="support",
                                  attachments=(Attachment(kind="photo", platform_file_id=file_id,
                                                          mime_type="image/jpeg", file_name="9.jpg",
                                                          size_bytes=len(jpeg)),))
    amy, c = await desk.token("amy"), desk.client()
    detail = (await c.get(f"/api/v1/conversations/{cid}", headers=amy)).json()
    [message] = [i for i in detail["timeline"] if i["kind"] == "message"]
    assert message["data"]["attachments"][0]["image"] is True  # a thumbnail
    got = await c.get(f"/api/v1/conversations/{cid}/attachments/{file_id}", headers=amy)
    assert got.status_code == 200 and got.content == jpeg and got.headers["content-type"] == "image/jpeg"
    bob = await desk.token("bob")
    assert (await c.get(f"/api/v1/conversations/{cid}/attachments/{file_id}", headers=bob)).status_code == 403


async def test_with_an_s3_store_images_stream_through_the_console_and_documents_get_a_short_lived_link(
        r: redis.Redis, s3_server: S3Server, s3_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_USER", "support")
    monkeypatch.setenv("MAIL_PASSWORD", "secret")
    bucket = s3_server.new_bucket()
    account = {"platform": "email", "name": "support",
               "secrets": {"username": "MAIL_USER", "password": "MAIL_PASSWORD"},
               "options": {"address": "support@helpline.test", "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1"}}
    files = {"backend": "s3", "endpoint": s3_server.endpoint, "bucket": bucket, "region": "us-east-1",
             "presigned_seconds": 30}
    desk = await make_desk(r, accounts=[{"platform": "null", "name": "main"}, account], files=files)
    desk.parts.make_connectors()
    email = desk.parts.connectors[("email", "support")]
    assert isinstance(email, EmailConnector)
    jpeg, pdf = b"\xff\xd8\xff\xe0 a jpeg in the bucket", b"%PDF-1.4 a statement in the bucket"
    jpeg_id, pdf_id = await email.files.save(jpeg), await email.files.save(pdf)
    assert len(s3_server.keys(bucket)) == 2
    cid = await desk.conversation("two files", thread="mail:2", user="ann@example.com", platform="email",
                                  account="support", attachments=(
                                      Attachment(kind="photo", platform_file_id=jpeg_id, mime_type="image/jpeg",
                                                 file_name="screen.jpg", size_bytes=len(jpeg)),
                                      Attachment(kind="document", platform_file_id=pdf_id,
                                                 mime_type="application/pdf", file_name="état.pdf",
                                                 size_bytes=len(pdf))))
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
