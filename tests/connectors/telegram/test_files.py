"""Customers' photos and documents: fetched through getFile and the file download when the update
is read, stored by hash; types the store refuses are listed and never fetched."""

from __future__ import annotations

import base64
import hashlib

import redis.asyncio as redis

from helpline.connectors.runner import PollRunner
from helpline.routing.bus import StreamBus

from .conftest import Emulator, MakeConnector, ingested

PHOTO = b"\xff\xd8\xff\xe0 a jpeg, as far as the store is concerned"


async def test_a_photo_is_fetched_and_stored_by_hash_and_a_refused_type_is_not_fetched(
        emulator: Emulator, make_connector: MakeConnector, r: redis.Redis, bus: StreamBus) -> None:
    await emulator.customer(601, "", photo=base64.b64encode(PHOTO).decode())
    await emulator.customer(601, "same photo again", photo=base64.b64encode(PHOTO).decode())
    await emulator.customer(601, "", document={"data": base64.b64encode(b"<html>x</html>").decode(),
                                               "file_name": "page.html", "mime_type": "text/html"})
    async with make_connector() as connector:
        await PollRunner(r, connector).poll_once()
        messages = sorted(await ingested(r, bus), key=lambda m: m.message_id)
        sha = hashlib.sha256(PHOTO).hexdigest()
        first, again, page = (m.attachments[0] for m in messages)
        assert first.platform_file_id == again.platform_file_id == sha  # one stored file
        assert (first.kind, first.mime_type, first.size_bytes) == ("photo", "image/jpeg", len(PHOTO))
        path = connector.attachment_file(sha)
        assert path is not None and path.read_bytes() == PHOTO
        assert page.platform_file_id != hashlib.sha256(b"<html>x</html>").hexdigest()  # listed, not kept
        assert connector.attachment_file(page.platform_file_id) is None
    stats = (await emulator.http.get("/_emulator/stats")).json()
    assert stats["file_downloads"] == 2  # the two photos; never the refused page
