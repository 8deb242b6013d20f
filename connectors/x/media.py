"""X media: the files customers attach, fetched when their message is read and kept in the
account's file store under their hash, shown to agents like other attachments.

DM media: X serves it from ton.twitter.com only to a GET signed with OAuth 1.0a by a
participant, so the request carries the account's signature; it is therefore sent only to
ton.twitter.com (https) or to the host the account's API requests go to (`base_url`: a proxy or
the emulator), and only for a `/1.1/ton/data/dm/` path.

A DM's video or GIF: its MP4 is on video.twimg.com under `/dm_video/` or `/dm_gif/`, served on
the same terms (a participant's signed GET), so it is signed too, and only for those paths.

A public tweet's photos (mentions and replies): X serves them to anyone from pbs.twimg.com, so
they are fetched from there (https) or from `base_url`'s host, with no credentials at all; its
videos and GIFs (their MP4 variant) from video.twimg.com's public paths, the same way.

Anything else (a link of another host) stays listed with its URL, unfetched. A refused type, a
file above the limit or a failed download stays listed too."""

from __future__ import annotations

import httpx
from oauthlib.oauth1 import Client as OAuth1  # type: ignore[import-untyped]

from helpline.connectors.files import AttachmentStore, download
from helpline.routing.models import Attachment, InboundMessage

from .client import Credentials

TON_HOST = "ton.twitter.com"
DM_MEDIA_PATH = "/1.1/ton/data/dm/"
PUBLIC_HOST = "pbs.twimg.com"
PUBLIC_MEDIA_PATH = "/media/"
VIDEO_HOST = "video.twimg.com"
DM_VIDEO_PATHS = ("/dm_video/", "/dm_gif/")
PUBLIC_VIDEO_PATHS = ("/ext_tw_video/", "/amplify_video/", "/tweet_video/")


def _served_by(url: str, api_base: str, host: str, paths: tuple[str, ...]) -> bool:
    """Pure: whether `url` is under one of `paths` of `host` over https, or of the API's own host."""
    try:
        target, base = httpx.URL(url), httpx.URL(api_base)
    except httpx.InvalidURL:
        return False
    if not target.path.startswith(paths) or "/../" in target.path:
        return False
    if target.scheme == "https" and target.host == host and target.port in (None, 443):
        return True
    return (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port) and bool(target.host)


def fetchable(url: str, api_base: str) -> bool:
    """Pure: whether a DM media URL may receive the account's signature."""
    return _served_by(url, api_base, TON_HOST, (DM_MEDIA_PATH,)) or _served_by(
        url, api_base, VIDEO_HOST, DM_VIDEO_PATHS
    )


def public_photo(url: str, api_base: str) -> bool:
    """Pure: whether a tweet's media URL is X's public photo host (fetched with no credentials)."""
    return _served_by(url, api_base, PUBLIC_HOST, (PUBLIC_MEDIA_PATH,))


def public_video(url: str, api_base: str) -> bool:
    """Pure: whether a tweet's video or GIF URL is X's public video host (no credentials)."""
    return _served_by(url, api_base, VIDEO_HOST, PUBLIC_VIDEO_PATHS)


def signed_headers(credentials: Credentials, url: str) -> dict[str, str]:
    """The OAuth 1.0a (HMAC-SHA1) Authorization header of a GET of `url`."""
    client = OAuth1(
        credentials.consumer_key,
        client_secret=credentials.consumer_secret,
        resource_owner_key=credentials.access_token,
        resource_owner_secret=credentials.access_token_secret,
    )
    _, headers, _ = client.sign(url, http_method="GET")
    return {"Authorization": str(headers["Authorization"])}


async def fetch_media(
    http: httpx.AsyncClient, store: AttachmentStore, message: InboundMessage, credentials: Credentials, api_base: str
) -> InboundMessage:
    """The message with its fetchable media stored. Idempotent: a file is stored once however
    often its message is read."""
    if not message.attachments:
        return message
    kept = tuple([await _fetch(http, store, a, credentials, api_base) for a in message.attachments])
    return message.model_copy(update={"attachments": kept})


async def _fetch(
    http: httpx.AsyncClient, store: AttachmentStore, a: Attachment, credentials: Credentials, api_base: str
) -> Attachment:
    if not a.url:
        return a
    if fetchable(a.url, api_base):
        if not credentials.user_context:
            return a
        return await download(http, store, a, platform="x", headers=signed_headers(credentials, a.url))
    if (a.kind == "photo" and public_photo(a.url, api_base)) or (
        a.kind in ("video", "animated_gif") and public_video(a.url, api_base)
    ):
        return await download(http, store, a, platform="x")
    return a
