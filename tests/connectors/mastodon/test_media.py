"""Media customers attach to a status: the instance's own files are fetched once and stored by
their hash; other hosts' links, refused types and oversized files stay listed, never stored."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import redis.asyncio as redis

from helpline.connectors.mastodon.media import fetchable
from helpline.connectors.runner import PollRunner

from .conftest import Emulator, MakeConnector, ingested
from .test_polling import drain

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def upload(data: bytes, mime: str, name: str, kind: str = "image") -> dict[str, str]:
    return {"type": kind, "data": base64.b64encode(data).decode(), "mime_type": mime, "name": name}


async def test_a_photo_is_stored_once_and_what_may_not_be_fetched_stays_a_link(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis, tmp_path: Path
) -> None:
    connector = await make_connector(max_attachment_bytes=1000)
    runner = PollRunner(r, connector)
    await drain(runner)
    photo = await emulator.customer("601", "my deposit screen", attachments=[upload(PNG, "image/png", "deposit.png")])
    again = await emulator.customer("602", "same picture", attachments=[upload(PNG, "image/png", "copy.png")])
    mixed = await emulator.customer(
        "603",
        "see these",
        attachments=[
            upload(b"<html><script>alert(1)</script></html>", "text/html", "page.html", kind="unknown"),
            upload(b"\x00" * 2000, "image/png", "big.png"),
            {"type": "image", "url": "http://127.0.0.2:9/elsewhere.png", "remote_url": "https://other.social/x.png"},
        ],
    )
    await drain(runner)
    messages = {m.message_id: m for m in await ingested(r)}

    (stored,) = messages[photo["message_id"]].attachments
    digest = hashlib.sha256(PNG).hexdigest()
    assert (stored.platform_file_id, stored.mime_type, stored.size_bytes, stored.file_name, stored.kind) == (
        digest,
        "image/png",
        len(PNG),
        "deposit.png",
        "photo",
    )
    assert stored.url and stored.url.startswith(emulator.base_url)  # the original link is kept
    assert await connector.files.read(digest) == PNG
    (second,) = messages[again["message_id"]].attachments
    assert second.platform_file_id == digest
    assert [p.name for p in (tmp_path / "files").rglob("*") if p.is_file()] == [digest]  # one file for both

    html, big, foreign = messages[mixed["message_id"]].attachments
    assert (html.mime_type, html.size_bytes) == ("text/html", None) and html.url  # listed, not stored
    assert (big.mime_type, big.size_bytes) == ("image/png", None)  # over the 1,000-byte limit
    assert foreign.url == "http://127.0.0.2:9/elsewhere.png" and foreign.mime_type is None  # never requested
    for a in (html, big, foreign):
        assert await connector.files.read(a.platform_file_id) is None
    assert len([p for p in (tmp_path / "files").rglob("*") if p.is_file()]) == 1


def test_only_the_instances_own_media_hosts_are_fetched() -> None:
    assert fetchable("https://mastodon.social/system/a.png", "mastodon.social", [])
    assert fetchable("https://files.mastodon.social/media/a.png", "mastodon.social", [])
    assert fetchable("https://cdn.example-s3.net/a.png", "mastodon.social", ["cdn.example-s3.net"])
    assert not fetchable("https://evilmastodon.social/a.png", "mastodon.social", [])
    assert not fetchable("http://169.254.169.254/latest/meta-data", "mastodon.social", [])
    assert not fetchable("file:///etc/passwd", "mastodon.social", [])
    assert not fetchable("not a url", "mastodon.social", [])
