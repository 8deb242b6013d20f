"""The Mastodon connector: polls mention notifications, posts replies as statuses.

Polling pages forward from the cursor with `min_id` and follows the `rel="prev"` link (the next
newer page), so every notification between the cursor and the newest is fetched in order, and the
cursor only ever moves past what was fetched. (`since_id` would answer with the *newest* page and
leave a gap behind it when more than a page arrived.) On the very first poll, with no cursor,
only the newest page is taken: history is not backfilled.

Replies are idempotent: every status is posted with an `Idempotency-Key` derived from the reply
id, which Mastodon honours for an hour, so a retry after a lost answer returns the same status.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from helpline.connectors.base import (
    AccountSettings,
    Connector,
    ConnectorContext,
    PollBatch,
    RateLimit,
    SendProgress,
    SendResult,
    buttons_as_text,
)
from helpline.connectors.capabilities import Capabilities
from helpline.connectors.cursors import AheadCheck
from helpline.connectors.errors import Permanent, Transient
from helpline.connectors.files import AttachmentStore
from helpline.connectors.options import ConnectorOptions
from helpline.connectors.publishing import OutboundPost
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.routing import keys
from helpline.routing.models import MessageKind, OutboundReply

from .capabilities import with_limit
from .client import MastodonApi, normalize_base_url
from .compose import DEFAULT_MAX_CHARACTERS, idempotency_key, measure, split_reply
from .media import fetch_media
from .options import MastodonOptions
from .parse import (
    MAccount,
    MContext,
    MNotification,
    MStatus,
    OwnAccount,
    StatusInfo,
    Visibility,
    direct_thread_key,
    id_key,
    inbound,
    link_params,
    newest,
    public_thread_key,
    skip_reason,
)
from .publish import publish_chain
from .publish import rate_limits as publish_limits
from .threads import StatusIndex

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Target:
    visibility: Visibility
    in_reply_to: str | None
    acct: str | None


class MastodonConnector(Connector):
    platform = "mastodon"
    idempotent_send = True
    supports_polling = True
    supports_webhook = False  # Mastodon has no mention webhook for third-party apps
    options_model = MastodonOptions
    options: MastodonOptions

    def __init__(self, settings: AccountSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.base_url = normalize_base_url(settings.name, settings.base_url)
        # read now, so that `helpline config check` names a missing secret
        self._token = settings.secret("access_token")
        opts = self.options
        self.page_size, self.max_pages = opts.page_size, opts.max_pages
        self.max_characters = opts.max_characters or DEFAULT_MAX_CHARACTERS
        self.api_rate, self.status_rate = opts.api_rate, opts.status_rate
        self.api_burst, self.status_burst = opts.api_burst, opts.status_burst
        ttl = opts.thread_memory_days * 86400
        self._index = StatusIndex(context.redis, self.platform, settings.name, ttl_seconds=ttl)
        self._api: MastodonApi | None = None
        self.own: OwnAccount | None = None
        self.files: AttachmentStore = opts.file_store(context.blobs)
        self._media: httpx.AsyncClient | None = None  # downloads carry no token
        # further pages of one poll spend the API budget too (None: without Redis, in tests)
        self._limiter = SharedRateLimiter(context.redis) if context.redis is not None else None
        self._ahead = AheadCheck("notifications", keys.cursor(self.platform, settings.name, "main"))

    # lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the client and learn our own account (verify_credentials). Idempotent."""
        if self._api is not None:
            return
        api = MastodonApi(
            self.account,
            self.base_url,
            self._token,
            transport=self.context.http_transport,
            on_remaining=lambda n: self._set_health(rate_limit_remaining=n),
        )
        try:
            me = MAccount.model_validate(await api.get_json("/api/v1/accounts/verify_credentials"))
            if self.options.max_characters is None:
                self.max_characters = await self._instance_limit(api)
        except BaseException:
            await api.aclose()
            raise
        self._api = api
        self._media = httpx.AsyncClient(transport=self.context.http_transport, timeout=20.0, follow_redirects=False)
        self.own = OwnAccount(id=me.id, username=me.username, acct=me.acct or me.username, url=me.url)
        self._set_health(status="ok", last_error=None)

    async def stop(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            await api.aclose()
        media, self._media = self._media, None
        if media is not None:
            await media.aclose()

    async def _instance_limit(self, api: MastodonApi) -> int:
        try:
            body = await api.get_json("/api/v2/instance")
        except Permanent:  # older servers have no v2 instance: Mastodon's default then
            return DEFAULT_MAX_CHARACTERS
        try:
            value = body["configuration"]["statuses"]["max_characters"]
        except (KeyError, TypeError):
            return DEFAULT_MAX_CHARACTERS
        return value if isinstance(value, int) and value >= 100 else DEFAULT_MAX_CHARACTERS

    def _ready(self) -> tuple[MastodonApi, OwnAccount]:
        if self._api is None or self.own is None:
            # not started yet (the instance was unreachable at start; see connectors.startup)
            raise Transient(f"mastodon {self.account}: not started yet (the instance did not answer)")
        return self._api, self.own

    # pull ------------------------------------------------------------------------------------
    async def fetch(self, cursor: str | None) -> PollBatch:
        """Mentions after `cursor`, oldest first; acknowledges nothing to the platform, so it is
        idempotent: the same cursor fetches the same statuses again."""
        api, own = self._ready()
        notes: list[MNotification] = []
        more = False
        if cursor is None:
            notes, _ = await self._page(api, {})
        else:
            min_id = cursor
            for number in range(self.max_pages):
                if (
                    number
                    and self._limiter is not None
                    and await self._limiter.acquire(self.platform, self.account, self.poll_rate_limits())
                ):
                    more = True  # the budget is spent for now: the runner polls again when it allows
                    break
                page, link = await self._page(api, {"min_id": min_id})
                page = [n for n in page if id_key(n.id) > id_key(min_id)]  # a server ignoring min_id
                if not page:
                    break
                notes += page
                top = newest([n.id for n in page]) or min_id
                following = link_params(link, "prev").get("min_id")
                min_id = following if following and id_key(following) >= id_key(top) else top
                if len(page) < self.page_size:
                    break
            else:
                more = True
        if notes:
            self._ahead.clear()
        elif cursor is not None and self._ahead.due():  # nothing new: is the cursor above everything?
            latest, _ = await self._page(api, {}, limit=1)
            newest_id = newest([n.id for n in latest])
            self._ahead.checked(newest_id is not None and id_key(newest_id) < id_key(cursor), cursor, newest_id)
        notes.sort(key=lambda n: id_key(n.id))
        messages = []
        skipped = 0
        seen: set[str] = set()
        for note in notes:
            reason = skip_reason(note, own)
            if reason is not None or note.status is None or note.status.id in seen:
                log.debug("mastodon %s: skipping notification %s (%s)", self.account, note.id, reason)
                skipped += 1
                continue
            status = note.status
            seen.add(status.id)
            thread_key = await self._thread_key(api, status)
            await self._index.remember(
                {
                    status.id: StatusInfo(
                        thread_key=thread_key,
                        visibility=status.visibility,
                        account_id=status.account.id,
                        acct=status.account.acct,
                    )
                }
            )
            message = inbound(status, own, self.platform, self.account, thread_key)
            if self._media is not None:
                message = await fetch_media(
                    self._media, self.files, message, httpx.URL(self.base_url).host, self.options.media_hosts
                )
            messages.append(message)
        new_cursor = newest([n.id for n in notes]) or cursor
        if new_cursor is None:
            new_cursor = "0"  # nothing yet: from now on, everything from the start is new
        return PollBatch(messages=messages, cursor=new_cursor, skipped=skipped, more=more, warning=self._ahead.warning)

    async def _page(
        self, api: MastodonApi, extra: dict[str, str], limit: int | None = None
    ) -> tuple[list[MNotification], str | None]:
        params: dict[str, str | int] = {"types[]": "mention", "limit": limit or self.page_size, **extra}
        response = await api.request("GET", "/api/v1/notifications", params=params)
        try:
            raw = response.json()
        except ValueError as exc:
            raise Transient("mastodon notifications: answer is not JSON") from exc
        if not isinstance(raw, list):
            raise Transient("mastodon notifications: expected a list")
        notes = []
        for item in raw:
            try:
                notes.append(MNotification.model_validate(item))
            except ValidationError:
                # One unreadable notification must not stall the account: keep its id so the
                # cursor moves past it, as a non-mention it is counted as skipped.
                ident = item.get("id") if isinstance(item, dict) else None
                log.warning("mastodon %s: unreadable notification %s skipped", self.account, ident)
                if isinstance(ident, str):
                    notes.append(
                        MNotification(id=ident, type="unreadable", created_at=_EPOCH, account=MAccount(id="?"))
                    )
        return notes, response.headers.get("link")

    async def _thread_key(self, api: MastodonApi, status: MStatus) -> str:
        if status.visibility == "direct":
            return direct_thread_key(status.account.id)
        if not status.in_reply_to_id:
            return public_thread_key(status.id)
        parent = await self._index.status(status.in_reply_to_id)
        if parent is not None and parent.thread_key.startswith("status:"):
            return parent.thread_key
        try:
            context = MContext.model_validate(await api.get_json(f"/api/v1/statuses/{status.id}/context"))
        except Permanent:  # deleted meanwhile: its parent is the best root we know
            return public_thread_key(status.in_reply_to_id)
        for ancestor in reversed(context.ancestors):  # nearest first: a known one names the thread
            info = await self._index.status(ancestor.id)
            if info is not None and info.thread_key.startswith("status:"):
                return info.thread_key
        root = context.ancestors[0].id if context.ancestors else status.in_reply_to_id
        return public_thread_key(root)

    # send ------------------------------------------------------------------------------------
    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        """Post the reply as one status, or a numbered chain each answering the previous one.
        Idempotent: parts in `progress.posted` are skipped, and each part carries an
        Idempotency-Key, so a part whose answer was lost is returned, not posted again."""
        api, own = self._ready()
        target = await self._target(api, own, reply)
        try:
            parts = split_reply(buttons_as_text(reply), self.max_characters, target.acct)
        except ValueError as exc:
            raise Permanent(f"accounts.{self.account}.options.max_characters: {exc}") from exc
        previous = progress.posted[-1] if progress.posted else target.in_reply_to
        for number in range(len(progress.posted) + 1, len(parts) + 1):
            body: dict[str, Any] = {"status": parts[number - 1], "visibility": target.visibility}
            if previous:
                body["in_reply_to_id"] = previous
            raw = await api.post_json("/api/v1/statuses", body, idempotency_key(reply.reply_id, number))
            posted = MStatus.model_validate(raw)
            await self._index.remember(
                {
                    posted.id: StatusInfo(
                        thread_key=reply.thread_key, visibility=target.visibility, account_id=own.id, acct=own.acct
                    )
                }
            )
            await progress.record(posted.id)
            previous = posted.id
        return SendResult(tuple(progress.posted))

    async def _target(self, api: MastodonApi, own: OwnAccount, reply: OutboundReply) -> _Target:
        """Where and how a reply goes. A direct thread is answered "direct" to the customer's
        @acct, always; a public thread keeps the visibility of the status answered, never direct."""
        acct: str | None = None
        if reply.kind is MessageKind.DIRECT:
            if reply.in_reply_to:
                info = await self._status_info(api, reply.in_reply_to, reply.thread_key)
                acct = info.acct if info.account_id != own.id else None
            customer = reply.recipient_id or reply.thread_key.removeprefix("direct:")
            if acct is None and customer and customer != reply.thread_key:
                acct = await self._acct(api, customer)
            if not acct:
                raise Permanent(f"direct reply {reply.reply_id}: the customer's account is unknown")
            return _Target("direct", reply.in_reply_to, acct)
        in_reply_to = reply.in_reply_to
        if not in_reply_to and reply.thread_key.startswith("status:"):
            in_reply_to = reply.thread_key.removeprefix("status:")
        if not in_reply_to:
            raise Permanent(f"reply {reply.reply_id}: a public reply needs a status to answer")
        info = await self._status_info(api, in_reply_to, reply.thread_key)
        if info.visibility == "direct":
            raise Permanent(f"reply {reply.reply_id}: status {in_reply_to} is direct; refusing a public answer")
        acct = info.acct if info.account_id != own.id else None
        if acct is None and reply.recipient_id and reply.recipient_id != own.id:
            acct = await self._acct(api, reply.recipient_id)
        return _Target(info.visibility, in_reply_to, acct)

    async def _status_info(self, api: MastodonApi, status_id: str, thread_key: str) -> StatusInfo:
        info = await self._index.status(status_id)
        if info is not None:
            return info
        status = MStatus.model_validate(await api.get_json(f"/api/v1/statuses/{status_id}"))
        info = StatusInfo(
            thread_key=thread_key, visibility=status.visibility, account_id=status.account.id, acct=status.account.acct
        )
        await self._index.remember({status_id: info})
        return info

    async def _acct(self, api: MastodonApi, account_id: str) -> str:
        acct = await self._index.acct(account_id)
        if acct:
            return acct
        account = MAccount.model_validate(await api.get_json(f"/api/v1/accounts/{account_id}"))
        await self._index.remember_account(account.id, account.acct)
        return account.acct

    # limits ----------------------------------------------------------------------------------
    def rate_limits(self, reply: OutboundReply) -> list[RateLimit]:
        """Mastodon allows 300 API calls per 5 minutes and 300 statuses per 3 hours per account;
        a reply of n statuses spends n units of each (the period is scaled by n)."""
        parts = max(1, math.ceil(measure(buttons_as_text(reply)) / max(1, self.max_characters - 64)))
        return [
            RateLimit("api", self.api_rate, 300.0 * parts, burst=max(1, self.api_burst // parts)),
            RateLimit("statuses", self.status_rate, 10800.0 * parts, burst=max(1, self.status_burst // parts)),
        ]

    def poll_rate_limits(self) -> list[RateLimit]:
        """A poll is API calls too: it spends the budget replies spend (the runner spends one per
        poll, `fetch` one per further page; a thread's context looked up is not counted)."""
        return [RateLimit("api", self.api_rate, 300.0, burst=self.api_burst)]

    # publish (announcements; see publish.py) -----------------------------------------------------
    async def publish(self, post: OutboundPost, progress: SendProgress) -> SendResult:
        """A public status chain; idempotent (Idempotency-Key per part), so safe to retry."""
        api, own = self._ready()
        result, new = await publish_chain(api, post, progress, self.max_characters)
        if new:
            await self._index.remember(
                {
                    sid: StatusInfo(
                        thread_key=f"status:{new[0]}", visibility="public", account_id=own.id, acct=own.acct
                    )
                    for sid in new
                }
            )
        return result

    @classmethod
    def declared_capabilities(cls, options: ConnectorOptions) -> Capabilities:
        limit = options.max_characters if isinstance(options, MastodonOptions) else None
        return with_limit(limit or DEFAULT_MAX_CHARACTERS)

    def capabilities(self) -> Capabilities:
        """With the instance's own limit once started (the option, when set, wins)."""
        return with_limit(self.max_characters)

    def publish_rate_limits(self, post: OutboundPost) -> list[RateLimit]:
        return publish_limits(post, self.api_rate, self.status_rate, self.api_burst, self.status_burst)
