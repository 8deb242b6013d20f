"""The X (Twitter) connector: mentions and DMs by polling (API v2) or by Account Activity
webhooks, replies as reply-tweet threads or DMs, through tweepy's v2 `Client`.

Settings (`[[accounts]]` with `platform = "x"`):

- secrets: `consumer_key`, `consumer_secret`, `access_token`, `access_token_secret` (OAuth 1.0a
  user context: needed to send, to read DMs and for webhooks) and/or `bearer_token` (mentions).
- options: `XOptions` (the account's id and handle, what to poll, page size, send budgets, where
  the files customers attach to DMs are kept: see `media.py`).

Residual window: X has no idempotency key for POST /2/tweets or DMs. A part is recorded in
`SendProgress` right after X accepts it; a crash between X's answer and that record re-posts
that one part on retry (X refuses an identical tweet as duplicate content: Permanent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from helpline.connectors.base import (
    AccountSettings,
    Connector,
    ConnectorContext,
    ConnectorHealth,
    PollBatch,
    RateLimit,
    SendProgress,
    SendResult,
    as_payload,
)
from helpline.connectors.capabilities import Capabilities
from helpline.connectors.cursors import AheadCheck
from helpline.connectors.errors import (
    ConfigError,
    ConnectorError,
    Permanent,
    Transient,
    UnusableUpdate,
    decode_update,
    storage_failure,
)
from helpline.connectors.files import AttachmentStore
from helpline.connectors.options import ConnectorOptions
from helpline.connectors.publishing import OutboundPost
from helpline.routing import keys
from helpline.routing.decode import as_text
from helpline.routing.models import InboundMessage, MessageKind, OutboundReply

from .capabilities import CAPABILITIES
from .client import DEFAULT_BASE_URL, Credentials, XApi
from .cursor import Sweep, XCursor
from .media import fetch_media
from .options import XOptions
from .outbound import plan_reply
from .parse import (
    PLATFORM,
    Rejected,
    WebhookTweet,
    dm_page,
    id_key,
    mentions_page,
    newest,
    webhook_dms,
    webhook_tweets,
)
from .publish import publish_thread
from .publish import rate_limits as publish_limits
from .webhook import SIGNATURE_HEADER, crc_response, valid_crc_token, verify, well_formed_signature

log = logging.getLogger(__name__)

_SECRETS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret", "bearer_token")
_CONVERSATION_TTL = 30 * 86400  # tweet -> conversation map, for webhook replies (X keeps 30 days)


class XConnector(Connector):
    platform: ClassVar[str] = PLATFORM
    supports_polling: ClassVar[bool] = True
    supports_webhook: ClassVar[bool] = True
    options_model = XOptions
    options: XOptions

    def __init__(self, settings: AccountSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._own_id: str | None = self.options.user_id
        self._handle: str | None = self.options.handle.lstrip("@") if self.options.handle else None
        self._ignore = frozenset(self.options.ignore_user_ids)
        self._credentials = self._read_credentials()
        if not self._credentials.user_context and not self._credentials.bearer_token:
            raise ConfigError(
                f"accounts.{settings.name}.secrets: X needs consumer_key, consumer_secret, "
                "access_token, access_token_secret (OAuth 1.0a) or bearer_token"
            )
        if settings.mode == "webhook" and not self._credentials.consumer_secret:
            raise ConfigError(f"accounts.{settings.name}.secrets.consumer_secret: webhooks need it")
        self._api: XApi | None = None
        self.files: AttachmentStore = self.options.file_store(context.blobs)
        self._media: httpx.AsyncClient | None = None  # DM media downloads (signed per request)
        cursor_key = keys.cursor(self.platform, settings.name, "main")
        self._mentions_ahead = AheadCheck("mentions", cursor_key)
        self._dms_ahead = AheadCheck("DM events", cursor_key)

    def _read_credentials(self) -> Credentials:
        found = {n: self.settings.secret(n) for n in _SECRETS if n in self.settings.secrets}
        return Credentials(**found)

    # lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the client and learn the account's own user id if not configured. Idempotent."""
        if self._api is None:
            self._api = XApi(self._credentials, self.settings.base_url)
        if self._media is None:
            self._media = httpx.AsyncClient(transport=self.context.http_transport, timeout=20.0, follow_redirects=False)
        if self._own_id is None:
            me = (await self._api.me()).get("data") or {}
            if not me.get("id"):
                raise Transient("GET /2/users/me returned no id")
            self._own_id, self._handle = str(me["id"]), me.get("username")

    async def stop(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None
        media, self._media = self._media, None
        if media is not None:
            await media.aclose()

    async def _ready(self) -> tuple[XApi, str]:
        if self._api is None or self._own_id is None:
            await self.start()
        assert self._api is not None and self._own_id is not None
        return self._api, self._own_id

    @property
    def own_user_id(self) -> str | None:
        return self._own_id

    async def _with_media(self, messages: Sequence[InboundMessage]) -> list[InboundMessage]:
        """Messages with their files fetched into the store (see media.py)."""
        if self._media is None:
            return list(messages)
        base = self.settings.base_url or DEFAULT_BASE_URL
        return [await fetch_media(self._media, self.files, m, self._credentials, base) for m in messages]

    # pull ------------------------------------------------------------------------------------
    async def fetch(self, cursor: str | None) -> PollBatch:
        """One page of mentions and one of DM events after `cursor`. Acknowledges nothing.

        Each timeline advances independently; if one fails and the other succeeded, the batch
        carries the successful one and the failed one is retried from where it stood."""
        api, own = await self._ready()
        state = XCursor.decode(cursor)
        messages: list[InboundMessage] = []
        skipped = 0
        errors: list[ConnectorError] = []
        fetched = False
        mentions, dms = state.mentions, state.dms
        if self.options.mentions:
            try:
                payload = await api.mentions(
                    own, since_id=mentions.since_id, token=mentions.token, max_results=self.options.page_size
                )
            except Permanent as exc:
                mentions = self._abandon_page(mentions, exc, errors)
            except ConnectorError as exc:
                errors.append(exc)
            else:
                fetched = True
                page = mentions_page(payload, account=self.account, own_id=own, ignore=self._ignore)
                await self._reject_all(page.rejected)
                await self._remember_authors(page.messages)
                messages += await self._with_media(page.messages)
                skipped += page.skipped
                await self._check_mentions_ahead(api, own, mentions, page.ids)
                mentions = mentions.after_page(page.ids, page.next_token)
        if self.options.direct_messages and api.user_auth:
            try:
                payload = await api.dm_events(token=dms.token, max_results=self.options.page_size)
            except Permanent as exc:
                dms = self._abandon_page(dms, exc, errors)
            except ConnectorError as exc:
                errors.append(exc)
            else:
                fetched = True
                page = dm_page(payload, account=self.account, own_id=own, after=dms.since, ignore=self._ignore)
                if not dms.in_progress and dms.since_id and page.ids:  # the newest page: free to check
                    top = newest(*page.ids)
                    self._dms_ahead.checked(id_key(top or "") < id_key(dms.since_id), dms.since_id, top)
                await self._reject_all(page.rejected)
                messages += await self._with_media(page.messages)
                skipped += page.skipped
                dms = dms.after_page(page.ids, page.next_token, reached_since=dms.reached(page.ids))
        new = XCursor(mentions, dms)
        if errors and not fetched and new == state:
            raise errors[0]
        if errors:
            self._set_health(last_error=str(errors[0]))
        return PollBatch(
            messages,
            new.encode(),
            skipped=skipped,
            more=mentions.in_progress or dms.in_progress,
            warning=self._mentions_ahead.warning or self._dms_ahead.warning,
        )

    async def _check_mentions_ahead(self, api: XApi, own: str, sweep: Sweep, ids: list[str]) -> None:
        """since_id hides everything older, so an empty answer cannot tell "nothing new" from "the
        cursor is above every mention": ask for the newest mention now and then (see AheadCheck)."""
        if ids:
            self._mentions_ahead.clear()
            return
        since = sweep.since_id
        if since is None or sweep.in_progress or not self._mentions_ahead.due():
            return
        try:
            latest = await api.mentions(own, since_id=None, token=None, max_results=5)
        except ConnectorError:  # best effort: the next check will tell
            return
        top = newest(*mentions_page(latest, account=self.account, own_id=own).ids)
        self._mentions_ahead.checked(top is not None and id_key(top) < id_key(since), since, top)

    @staticmethod
    def _abandon_page(sweep: Sweep, exc: Permanent, errors: list[ConnectorError]) -> Sweep:
        # An expired pagination token would fail forever: restart the sweep from `since`
        # (ingest dedupes what the restart fetches again).
        errors.append(exc)
        return Sweep(since=sweep.since) if sweep.in_progress else sweep

    # push ------------------------------------------------------------------------------------
    def webhook_routes(self) -> Sequence[BaseRoute]:
        if self.settings.mode != "webhook":
            return ()
        return (Route("/", self._webhook, methods=["GET", "POST"]),)

    async def _webhook(self, request: Request) -> Response:
        """CRC challenge (GET) or activity delivery (POST): verified, ingested, then 200.

        Idempotent: a redelivered event has the same ids and ingest dedupes it."""
        secret = self._credentials.consumer_secret
        assert secret is not None  # checked in __init__ for webhook mode
        if request.method == "GET":
            token = request.query_params.get("crc_token")
            if not token or not valid_crc_token(token):
                return JSONResponse(
                    {"error": "crc_token query parameter is required: 1-128 characters of A-Z a-z 0-9 _ = + / -"},
                    status_code=400,
                )
            return JSONResponse(crc_response(secret, token))
        signature = request.headers.get(SIGNATURE_HEADER)
        if not well_formed_signature(signature):  # refused before the body is read
            log.warning("x/%s: webhook POST without a well-formed signature refused", self.account)
            return Response(status_code=403)
        body = await request.body()
        if not verify(secret, body, signature):
            log.warning("x/%s: webhook POST with a missing or wrong signature refused", self.account)
            return Response(status_code=403)
        try:
            try:
                messages = await self.parse_webhook(decode_update(body))
            except Exception as exc:  # unusable, unless it is a storage or platform failure
                if storage_failure(exc):
                    raise
                await self.reject_update(
                    body, str(exc) if isinstance(exc, UnusableUpdate) else f"{type(exc).__name__}: {str(exc)[:200]}"
                )
                return Response(status_code=200)
            await self.context.ingest(messages)
        except ConnectorError as exc:  # X unreachable while resolving a reply's conversation
            log.warning("x/%s: webhook payload not processed: %s", self.account, exc)
            return Response(status_code=503)
        except Exception as exc:  # not stored (Redis down): X gets a 500 and redelivers
            log.warning("x/%s: webhook payload not stored (%s); X will redeliver", self.account, type(exc).__name__)
            return Response(status_code=500)
        return Response(status_code=200)

    async def parse_webhook(self, payload: dict[str, Any]) -> list[InboundMessage]:
        """Account Activity payload to messages (tweets get their conversation resolved)."""
        _, own = await self._ready()
        for_user = payload.get("for_user_id")
        if for_user is not None and str(for_user) != own:
            return []  # another subscribed account's activity: not ours to answer
        tweets, _, bad_tweets = webhook_tweets(payload, own_id=own, ignore=self._ignore)
        dms, _, bad_dms = webhook_dms(payload, account=self.account, own_id=own, ignore=self._ignore)
        await self._reject_all(bad_tweets + bad_dms)  # the readable events of the same call go on
        messages = [
            tweet.message(account=self.account, own_id=own, conversation_id=await self._conversation_of(tweet))
            for tweet in tweets
        ]
        await self._remember_authors(messages)
        return await self._with_media(messages + dms)

    async def _reject_all(self, rejected: list[Rejected]) -> None:
        for item in rejected:
            await self.reject_update(as_payload(item.item), item.reason)

    async def _conversation_of(self, tweet: WebhookTweet) -> str:
        """v1.1 tweets carry no conversation id: a reply inherits the one of the tweet it answers,
        known from our map, else asked of X, else (X unreachable) that tweet's id."""
        if tweet.reply_to is None:
            conversation = tweet.tweet_id
        else:
            conversation = await self._recall(tweet.reply_to) or ""
            if not conversation:
                try:
                    api = (await self._ready())[0]
                    found = (await api.tweet(tweet.reply_to)).get("data") or {}
                    conversation = str(found.get("conversation_id") or tweet.reply_to)
                except ConnectorError as exc:
                    log.info("x/%s: conversation of a reply not resolved (%s)", self.account, type(exc).__name__)
                    conversation = tweet.reply_to
        await self._remember(tweet.tweet_id, conversation)
        return conversation

    async def _remember(self, tweet_id: str, conversation: str) -> None:
        if self.context.redis is not None:
            await self.context.redis.set(
                keys.connector_state(PLATFORM, self.account, f"conv:{tweet_id}"), conversation, ex=_CONVERSATION_TTL
            )

    async def _remember_authors(self, messages: Sequence[InboundMessage]) -> None:
        """Who wrote each mention: the reply to it starts with their @handle."""
        if self.context.redis is None or not messages:
            return
        async with self.context.redis.pipeline(transaction=False) as pipe:
            for m in messages:
                if m.author.handle:
                    pipe.set(
                        keys.connector_state(PLATFORM, self.account, f"author:{m.message_id}"),
                        m.author.handle,
                        ex=_CONVERSATION_TTL,
                    )
            await pipe.execute()

    async def _author_of(self, tweet_id: str | None) -> str | None:
        if self.context.redis is None or not tweet_id:
            return None
        value = await self.context.redis.get(keys.connector_state(PLATFORM, self.account, f"author:{tweet_id}"))
        return None if value is None else as_text(value)

    async def _recall(self, tweet_id: str) -> str | None:
        if self.context.redis is None:
            return None
        value = await self.context.redis.get(keys.connector_state(PLATFORM, self.account, f"conv:{tweet_id}"))
        return None if value is None else as_text(value)

    # send ------------------------------------------------------------------------------------
    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        """Post `reply` as a numbered reply thread (public) or as DMs (direct).

        Resumable: parts in `progress.posted` are skipped, each new part is recorded as soon as X
        accepts it, and each tweet replies to the previous part."""
        api, own = await self._ready()
        mention = None if reply.kind is MessageKind.DIRECT else await self._author_of(reply.in_reply_to)
        plan = plan_reply(reply, own, mention)
        previous = progress.posted[-1] if progress.posted else plan.target
        for index, part in enumerate(plan.parts):
            if index < len(progress.posted):
                continue
            if plan.channel == "dm":
                data = (await api.create_dm(plan.target, part)).get("data") or {}
                part_id = str(data.get("dm_event_id") or "")
            else:
                data = (await api.create_tweet(part, previous)).get("data") or {}
                part_id = str(data.get("id") or "")
            if not part_id:
                raise Permanent(f"reply {reply.reply_id}: X accepted part {index + 1} without an id")
            await progress.record(part_id)
            if plan.channel == "tweet":
                await self._remember(part_id, plan.conversation)
            previous = part_id
        return SendResult(tuple(progress.posted))

    def rate_limits(self, reply: OutboundReply) -> Sequence[RateLimit]:
        opts = self.options
        if reply.kind is MessageKind.DIRECT:
            per_15, per_day = opts.dms_per_15min, opts.dms_per_day
            return (
                RateLimit("dm-create", per_15, 900.0, burst=max(1, per_15 // 10)),
                RateLimit("dm-create-day", per_day, 86400.0, burst=max(1, per_day // 10)),
            )
        per_15 = opts.tweets_per_15min
        return (RateLimit("tweets-create", per_15, 900.0, burst=max(1, per_15 // 10)),)

    def poll_rate_limits(self) -> Sequence[RateLimit]:
        """A poll reads one page of each timeline it follows; each has its own 15-minute budget."""
        opts = self.options
        limits = []
        if opts.mentions:
            limits.append(
                RateLimit(
                    "mentions-read",
                    opts.mention_reads_per_15min,
                    900.0,
                    burst=max(1, opts.mention_reads_per_15min // 10),
                )
            )
        if opts.direct_messages:
            limits.append(
                RateLimit("dm-read", opts.dm_reads_per_15min, 900.0, burst=max(1, opts.dm_reads_per_15min // 10))
            )
        return limits

    # publish (announcements; see publish.py) -------------------------------------------------
    async def publish(self, post: OutboundPost, progress: SendProgress) -> SendResult:
        """Tweet an announcement (a numbered thread when split); resumable like `send`."""
        api, _ = await self._ready()
        return await publish_thread(api, post, progress, self._handle)

    def publish_rate_limits(self, post: OutboundPost) -> Sequence[RateLimit]:
        return publish_limits(post, self.options.tweets_per_15min)

    @classmethod
    def declared_capabilities(cls, options: ConnectorOptions) -> Capabilities:
        return CAPABILITIES

    # health ----------------------------------------------------------------------------------
    def health(self) -> ConnectorHealth:
        if self._api is not None:
            self._set_health(rate_limit_remaining=self._api.book.remaining(time.time()))
        return self._health
