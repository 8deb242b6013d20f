"""Customers' photos, documents, voice notes and audio files: fetched through getFile and the file
download when the update is read, stored by hash; types the store refuses are listed and never fetched."""

from __future__ import annotations

import base64
import hashlib

import redis.asyncio as redis

from helpline.connectors.files import FilesSettings
from helpline.connectors.runner import PollRunner
from helpline.connectors.s3files import S3Blobs, build_blobs
from helpline.routing.bus import StreamBus
from tests.audio import ogg_opus
from tests.s3_server import S3Server

from .conftest import Emulator, MakeConnector, ingested

PHOTO = b"\xff\xd8\xff\xe0 a jpeg, as far as the store is concerned"


async def test_a_photo_is_fetched_and_stored_by_hash_and_a_refused_type_is_not_fetched(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    await emulator.customer(601, "", photo=base64.b64encode(PHOTO).decode())
    await emulator.customer(601, "same photo again", photo=base64.b64encode(PHOTO).decode())
    await emulator.customer(
        601,
        "",
        document={
            "data": base64.b64encode(b"<html>x</html>").decode(),
            "file_name": "page.html",
            "mime_type": "text/html",
        },
    )
    async with make_connector() as connector:
        await PollRunner(r, connector).poll_once()
        messages = sorted(await ingested(r, bus), key=lambda m: m.message_id)
        sha = hashlib.sha256(PHOTO).hexdigest()
        first, again, page = (m.attachments[0] for m in messages)
        assert first.platform_file_id == again.platform_file_id == sha  # one stored file
        assert (first.kind, first.mime_type, first.size_bytes) == ("photo", "image/jpeg", len(PHOTO))
        assert await connector.files.read(sha) == PHOTO
        assert page.platform_file_id != hashlib.sha256(b"<html>x</html>").hexdigest()  # listed, not kept
        assert await connector.files.read(page.platform_file_id) is None
    stats = (await emulator.http.get("/_emulator/stats")).json()
    assert stats["file_downloads"] == 2  # the two photos; never the refused page


async def test_voice_notes_and_audio_files_are_fetched_with_their_types(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    voice, song = ogg_opus(1), b"ID3\x04 an mp3, as far as the store is concerned"
    await emulator.customer(602, "", voice={"data": base64.b64encode(voice).decode(), "duration": 1})
    await emulator.customer(
        602,
        "the hold music",
        audio={
            "data": base64.b64encode(song).decode(),
            "duration": 3,
            "file_name": "hold.mp3",
            "mime_type": "audio/mpeg",
        },
    )
    async with make_connector() as connector:
        await PollRunner(r, connector).poll_once()
        note, music = (m.attachments[0] for m in sorted(await ingested(r, bus), key=lambda m: m.message_id))
        assert (note.kind, note.mime_type, note.file_name) == ("voice", "audio/ogg", "voice.ogg")
        assert (music.kind, music.mime_type, music.file_name) == ("audio", "audio/mpeg", "hold.mp3")
        for sent, kept in ((voice, note), (song, music)):
            assert kept.platform_file_id == hashlib.sha256(sent).hexdigest()
            assert await connector.files.read(kept.platform_file_id) == sent


async def test_a_telegram_photo_is_fetched_into_the_bucket(
    s3_server: S3Server, s3_env: None, emulator: Emulator, make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    bucket = s3_server.new_bucket()
    photo = b"\xff\xd8\xff\xe0 a jpeg kept in the bucket"
    await emulator.customer(611, "", photo=base64.b64encode(photo).decode())
    files = FilesSettings(backend="s3", endpoint=s3_server.endpoint, bucket=bucket, region="us-east-1")
    async with make_connector(blobs=build_blobs(files)) as connector:
        assert isinstance(connector.files.blobs, S3Blobs)
        await PollRunner(r, connector).poll_once()
        [message] = await ingested(r, bus)
        sha = hashlib.sha256(photo).hexdigest()
        assert message.attachments[0].platform_file_id == sha
        assert s3_server.keys(bucket) == [f"attachments/{sha[:2]}/{sha}"]
        assert await connector.files.read(sha) == photo
