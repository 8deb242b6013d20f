"""Mastodon media: the images and files of a customer's status are fetched when the status is
read and kept in the account's file store under their hash; the message then names the stored
file (its type from the answer's Content-Type). Only the instance's own media is fetched (its
host, a subdomain of it, or a host in `options.media_hosts`): a federated status's remote URL is
listed, never fetched, so a status cannot make Helpline request an address of the sender's
choosing. No token is sent with a download. A type the store refuses, a file above its limit, a
download that fails stay listed with their URL for the agent to open."""

from __future__ import annotations

from collections.abc import Collection

import httpx

from helpline.connectors.files import AttachmentStore, download
from helpline.routing.models import Attachment, InboundMessage


def fetchable(url: str, instance_host: str, extra_hosts: Collection[str]) -> bool:
    """Pure: whether a media URL is the instance's own (https or http, its host or a subdomain,
    or one of the configured media hosts)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    host = parsed.host.lower()
    own = instance_host.lower()
    return (
        parsed.scheme in ("http", "https")
        and bool(host)
        and (host == own or host.endswith("." + own) or host in {h.lower() for h in extra_hosts})
    )


async def fetch_media(
    http: httpx.AsyncClient,
    store: AttachmentStore,
    message: InboundMessage,
    instance_host: str,
    extra_hosts: Collection[str],
) -> InboundMessage:
    """The message with its fetchable media stored. Idempotent: a file is stored once however
    often its status is read."""
    if not message.attachments:
        return message
    kept = tuple([await _fetch(http, store, a, instance_host, extra_hosts) for a in message.attachments])
    return message.model_copy(update={"attachments": kept})


async def _fetch(
    http: httpx.AsyncClient, store: AttachmentStore, a: Attachment, instance_host: str, extra_hosts: Collection[str]
) -> Attachment:
    if not a.url or not fetchable(a.url, instance_host, extra_hosts):
        return a
    return await download(http, store, a, platform="mastodon")
