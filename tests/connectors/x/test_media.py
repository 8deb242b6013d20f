"""Files customers attach to X DMs: the emulator serves them as ton.twitter.com does (signed
GETs only), the connector fetches them with the account's OAuth 1.0a signature, through tweepy's
polling and through Account Activity webhooks, into its hash-named file store. Photos of public
mentions: served by the emulator as pbs.twimg.com does (to anyone), fetched with no credentials.
Videos and GIFs: X lists them as variants (no `url`); the MP4 is fetched from video.twimg.com's
paths, signed for a DM's, without credentials for a tweet's."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from helpline.connectors.emulation import serve
from helpline.connectors.x.client import Credentials as Secrets
from helpline.connectors.x.connector import XConnector
from helpline.connectors.x.emulator import XEmulator
from helpline.connectors.x.emulator_state import Credentials
from helpline.connectors.x.media import fetchable, public_photo, public_video, signed_headers
from helpline.connectors.x.parse import file_url
from helpline.routing.bus import StreamBus

from .conftest import ingested

JPEG = b"\xff\xd8\xff\xe0 a jpeg, as far as the store is concerned"
MP4 = b"\x00\x00\x00\x18ftypmp42 a screen recording, as far as the store is concerned"
ACCOUNT = Secrets(
    Credentials.consumer_key, Credentials.consumer_secret, Credentials.access_token, Credentials.access_token_secret
)


async def dm_with_media(
    control: httpx.AsyncClient, user: str, text: str, data: bytes, mime: str, kind: str = "direct"
) -> str:
    response = await control.post(
        "/customer-messages",
        json={
            "user": {"id": user, "handle": f"cust{user}", "name": f"Customer {user}"},
            "kind": kind,
            "text": text,
            "media": {"data": base64.b64encode(data).decode(), "mime_type": mime},
        },
    )
    response.raise_for_status()
    return str(response.json()["message_id"])


async def test_dm_media_is_fetched_signed_when_polled_and_stored_by_hash(
    make_connector: Callable[..., XConnector], control: httpx.AsyncClient, emulator: XEmulator, tmp_path: Path
) -> None:
    await dm_with_media(control, "42", "", JPEG, "image/jpeg")
    await dm_with_media(control, "42", "my card was charged twice", JPEG, "image/jpeg")
    await dm_with_media(control, "43", "the page", b"<html>x</html>", "text/html")  # a type the store refuses
    connector = make_connector(attachments_dir=str(tmp_path / "files"))
    try:
        batch = await connector.fetch(None)
    finally:
        await connector.stop()
    by_text = {m.text: m for m in batch.messages}
    assert set(by_text) == {"", "my card was charged twice", "the page"}  # the media's t.co link is not text
    sha = hashlib.sha256(JPEG).hexdigest()
    [alone], [captioned], [page] = (by_text[t].attachments for t in ("", "my card was charged twice", "the page"))
    assert alone.platform_file_id == captioned.platform_file_id == sha  # one stored file
    assert (alone.kind, alone.mime_type, alone.size_bytes) == ("photo", "image/jpeg", len(JPEG))
    assert alone.url is not None and "/1.1/ton/data/dm/" in alone.url
    assert await connector.files.read(sha) == JPEG
    assert page.mime_type == "text/html" and await connector.files.read(page.platform_file_id) is None
    assert emulator.state.stats["media_downloads"] == 3 and emulator.state.stats["auth_failures"] == 0


async def test_dm_media_is_fetched_when_a_webhook_delivers_the_dm(
    make_connector: Callable[..., XConnector],
    control: httpx.AsyncClient,
    bus: StreamBus,
    tmp_path: Path,
    emulator: XEmulator,
) -> None:
    connector = make_connector(mode="webhook", attachments_dir=str(tmp_path / "files"))
    app = Starlette(routes=[Mount("/webhooks/x/support", routes=list(connector.webhook_routes()))])
    async with serve(app) as url:
        assert (await control.post("/webhook", json={"url": url + "/webhooks/x/support/"})).json()["registered"]
        await dm_with_media(control, "44", "see the screenshot", JPEG, "image/jpeg")
    await connector.stop()
    [message] = await ingested(bus)
    assert message.text == "see the screenshot"
    [photo] = message.attachments
    assert (photo.kind, photo.mime_type, photo.platform_file_id) == (
        "photo",
        "image/jpeg",
        hashlib.sha256(JPEG).hexdigest(),
    )
    assert await connector.files.read(photo.platform_file_id) == JPEG
    assert emulator.state.stats["media_downloads"] == 1


@pytest.fixture
async def media_url(control: httpx.AsyncClient, x_url: str) -> AsyncIterator[str]:
    await dm_with_media(control, "45", "", JPEG, "image/jpeg")
    async with httpx.AsyncClient() as http:
        events = await http.get(
            f"{x_url}/2/dm_events",
            params={"expansions": "attachments.media_keys", "media.fields": "url"},
            headers=signed_headers(ACCOUNT, f"{x_url}/2/dm_events?expansions=attachments.media_keys&media.fields=url"),
        )
    [media] = events.json()["includes"]["media"]
    yield str(media["url"])


async def test_the_emulator_serves_dm_media_to_signed_requests_only(media_url: str, emulator: XEmulator) -> None:
    other_app = Secrets("another-key", "another-secret", Credentials.access_token, Credentials.access_token_secret)
    async with httpx.AsyncClient() as http:
        assert (await http.get(media_url)).status_code == 401
        bearer = {"Authorization": f"Bearer {Credentials.bearer_token}"}
        assert (await http.get(media_url, headers=bearer)).status_code == 401
        assert (await http.get(media_url, headers=signed_headers(other_app, media_url))).status_code == 401
        signed = signed_headers(ACCOUNT, media_url)
        assert (await http.get(media_url + "?x=1", headers=signed)).status_code == 401  # signs another URL
        got = await http.get(media_url, headers=signed)
    assert got.status_code == 200 and got.content == JPEG and got.headers["content-type"] == "image/jpeg"
    assert emulator.state.stats["media_downloads"] == 1


def test_the_signature_goes_only_to_x_media_hosts_and_dm_media_paths() -> None:
    api = "http://127.0.0.1:8081"
    assert fetchable("https://ton.twitter.com/1.1/ton/data/dm/1/2/a.jpg", "https://api.twitter.com")
    assert fetchable("http://127.0.0.1:8081/1.1/ton/data/dm/1/2/a.jpg", api)  # the configured API host
    assert not fetchable("http://ton.twitter.com/1.1/ton/data/dm/1/2/a.jpg", api)  # not over TLS
    assert not fetchable("https://ton.twitter.com/2/users/me", api)
    assert not fetchable("https://evil.example/1.1/ton/data/dm/1/2/a.jpg", api)
    assert not fetchable("https://ton.twitter.com.evil.example/1.1/ton/data/dm/1/2/a.jpg", api)
    assert not fetchable("http://127.0.0.1:9999/1.1/ton/data/dm/1/2/a.jpg", api)  # another port
    assert not fetchable("https://pbs.twimg.com/media/a.jpg", api)  # public tweet media: a link


async def test_a_public_mentions_photo_is_fetched_without_credentials_when_polled(
    make_connector: Callable[..., XConnector], control: httpx.AsyncClient, emulator: XEmulator, tmp_path: Path
) -> None:
    await dm_with_media(control, "46", "my order arrived broken", JPEG, "image/jpeg", kind="mention")
    await dm_with_media(control, "47", "watch this", MP4, "video/mp4", kind="mention")
    connector = make_connector(attachments_dir=str(tmp_path / "files"))
    try:
        batch = await connector.fetch(None)
    finally:
        await connector.stop()
    by_text = {m.text: m for m in batch.messages}
    assert set(by_text) == {"my order arrived broken", "watch this"}  # no t.co link
    [photo] = by_text["my order arrived broken"].attachments
    sha = hashlib.sha256(JPEG).hexdigest()
    assert (photo.kind, photo.mime_type, photo.platform_file_id, photo.size_bytes) == (
        "photo",
        "image/jpeg",
        sha,
        len(JPEG),
    )
    assert photo.url is not None and "/media/" in photo.url
    assert await connector.files.read(sha) == JPEG
    [video] = by_text["watch this"].attachments  # a tweet's video: its MP4 variant, fetched
    assert (video.kind, video.mime_type, video.platform_file_id) == (
        "video",
        "video/mp4",
        hashlib.sha256(MP4).hexdigest(),
    )
    assert video.url is not None and "/ext_tw_video/" in video.url
    assert await connector.files.read(video.platform_file_id) == MP4
    assert emulator.state.stats["media_downloads"] == 2
    assert emulator.state.stats["public_media_with_credentials"] == 0


async def test_a_public_mentions_photo_is_fetched_when_a_webhook_delivers_the_tweet(
    make_connector: Callable[..., XConnector],
    control: httpx.AsyncClient,
    bus: StreamBus,
    tmp_path: Path,
    emulator: XEmulator,
) -> None:
    connector = make_connector(mode="webhook", attachments_dir=str(tmp_path / "files"))
    app = Starlette(routes=[Mount("/webhooks/x/support", routes=list(connector.webhook_routes()))])
    async with serve(app) as url:
        assert (await control.post("/webhook", json={"url": url + "/webhooks/x/support/"})).json()["registered"]
        await dm_with_media(control, "48", "the screen I get", JPEG, "image/jpeg", kind="mention")
    await connector.stop()
    [message] = await ingested(bus)
    assert message.text == "the screen I get"
    [photo] = message.attachments
    assert (photo.kind, photo.mime_type, photo.platform_file_id) == (
        "photo",
        "image/jpeg",
        hashlib.sha256(JPEG).hexdigest(),
    )
    assert await connector.files.read(photo.platform_file_id) == JPEG
    assert emulator.state.stats["media_downloads"] == 1
    assert emulator.state.stats["public_media_with_credentials"] == 0


def test_public_photos_come_only_from_x_photo_host_or_the_api_host() -> None:
    api = "http://127.0.0.1:8081"
    assert public_photo("https://pbs.twimg.com/media/Fx1.jpg", "https://api.twitter.com")
    assert public_photo("http://127.0.0.1:8081/media/1.jpg", api)
    assert not public_photo("http://pbs.twimg.com/media/Fx1.jpg", api)  # not over TLS
    assert not public_photo("https://pbs.twimg.com.evil.example/media/Fx1.jpg", api)
    assert not public_photo("https://evil.example/media/Fx1.jpg", api)
    assert not public_photo("https://pbs.twimg.com/profile_images/1.jpg", api)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_videos_and_gifs_are_fetched_from_their_mp4_variant(
    make_connector: Callable[..., XConnector],
    control: httpx.AsyncClient,
    bus: StreamBus,
    tmp_path: Path,
    emulator: XEmulator,
    mode: str,
) -> None:
    """A DM's video (signed) and a mention's GIF (no credentials), read by polling (v2 `variants`)
    and by webhook (v1.1 `video_info`): each stored, its still and its HLS playlist not fetched."""
    gif = b"GIF89a an animation X turned into an mp4"
    connector = make_connector(mode=mode, attachments_dir=str(tmp_path / "files"))
    try:
        if mode == "webhook":
            app = Starlette(routes=[Mount("/webhooks/x/support", routes=list(connector.webhook_routes()))])
            async with serve(app) as url:
                assert (await control.post("/webhook", json={"url": url + "/webhooks/x/support/"})).json()["registered"]
                await dm_with_media(control, "49", "the withdrawal screen", MP4, "video/mp4")
                await dm_with_media(control, "50", "this keeps spinning", gif, "image/gif", kind="mention")
            messages = await ingested(bus)
        else:
            await dm_with_media(control, "49", "the withdrawal screen", MP4, "video/mp4")
            await dm_with_media(control, "50", "this keeps spinning", gif, "image/gif", kind="mention")
            messages = list((await connector.fetch(None)).messages)
    finally:
        await connector.stop()
    by_text = {m.text: m for m in messages}
    [video] = by_text["the withdrawal screen"].attachments
    [animation] = by_text["this keeps spinning"].attachments
    assert (video.kind, video.mime_type, video.platform_file_id) == (
        "video",
        "video/mp4",
        hashlib.sha256(MP4).hexdigest(),
    )
    assert video.url is not None and "/dm_video/" in video.url
    assert animation.kind == "animated_gif" and animation.platform_file_id == hashlib.sha256(gif).hexdigest()
    assert animation.url is not None and "/tweet_video/" in animation.url
    assert await connector.files.read(video.platform_file_id) == MP4
    assert await connector.files.read(animation.platform_file_id) == gif
    assert emulator.state.stats["media_downloads"] == 2
    assert emulator.state.stats["auth_failures"] == 0 and emulator.state.stats["public_media_with_credentials"] == 0


def test_videos_come_only_from_x_video_host_or_the_api_host() -> None:
    api = "http://127.0.0.1:8081"
    assert public_video("https://video.twimg.com/ext_tw_video/1/pu/vid/720x1280/a.mp4?tag=12", api)
    assert public_video("https://video.twimg.com/amplify_video/1/vid/a.mp4", api)
    assert public_video("http://127.0.0.1:8081/tweet_video/a.mp4", api)
    assert not public_video("https://video.twimg.com/dm_video/1/vid/a.mp4", api)  # a DM's: signed, not public
    assert not public_video("http://video.twimg.com/ext_tw_video/1/a.mp4", api)  # not over TLS
    assert not public_video("https://video.twimg.com.evil.example/ext_tw_video/1/a.mp4", api)
    assert fetchable("https://video.twimg.com/dm_video/1/vid/a.mp4", api)
    assert fetchable("https://video.twimg.com/dm_gif/1/a.mp4", api)
    assert not fetchable("https://video.twimg.com/ext_tw_video/1/pu/vid/a.mp4", api)  # public: no signature
    assert not fetchable("https://evil.example/dm_video/1/vid/a.mp4", api)


def test_the_file_of_a_video_is_its_mp4_variant_with_the_highest_bit_rate() -> None:
    v2 = {
        "type": "video",
        "preview_image_url": "https://pbs.twimg.com/ext_tw_video_thumb/1/pu/img/1.jpg",
        "variants": [
            {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/ext_tw_video/1/pl/a.m3u8"},
            {"bit_rate": 256000, "content_type": "video/mp4", "url": "https://video.twimg.com/ext_tw_video/1/low.mp4"},
            {"bit_rate": 2176000, "content_type": "video/mp4", "url": "https://video.twimg.com/ext_tw_video/1/hd.mp4"},
            {"bit_rate": 832000, "content_type": "video/mp4", "url": "https://video.twimg.com/ext_tw_video/1/sd.mp4"},
        ],
    }
    assert file_url(v2, "url", v2["variants"]) == "https://video.twimg.com/ext_tw_video/1/hd.mp4"
    v1 = {"type": "animated_gif", "media_url_https": "https://pbs.twimg.com/tweet_video_thumb/a.jpg"}
    gif = [{"bitrate": 0, "content_type": "video/mp4", "url": "https://video.twimg.com/tweet_video/a.mp4"}]
    assert file_url(v1, "media_url_https", gif) == "https://video.twimg.com/tweet_video/a.mp4"
    assert file_url({"type": "video"}, "url", None) is None  # no variants asked: nothing to fetch
    assert file_url({"type": "photo", "url": "https://pbs.twimg.com/media/a.jpg"}, "url", None) == (
        "https://pbs.twimg.com/media/a.jpg"
    )
