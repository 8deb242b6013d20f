"""The Telegram connector: one bot account, polled (getUpdates) or pushed to (webhook).

Delivery: an update's offset is confirmed to Telegram only by the *next* getUpdates, which the
runner issues only after the previous batch was ingested (and its cursor stored); a webhook call
is answered 200 only after ingest. So a crash neither loses nor repeats a message (repeats are
absorbed by the ingest dedupe on the message id).

Sending has no idempotency key on Telegram: if the process dies after Telegram accepted a part but
before `progress.record()` ran, that one part is posted again on retry. That window is one HTTP
round trip per part.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from redis.exceptions import RedisError
from starlette.routing import BaseRoute
from telegram import Message, ReplyParameters, Update
from telegram import error as tg
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from helpline.connectors.base import (
    AccountSettings,
    Connector,
    ConnectorContext,
    PollBatch,
    RateLimit,
    SendProgress,
    SendResult,
    as_payload,
)
from helpline.connectors.capabilities import Capabilities
from helpline.connectors.errors import ConfigError, ConnectorError, Permanent, Transient, UnusableUpdate
from helpline.connectors.files import AttachmentStore, Refused
from helpline.connectors.options import ConnectorOptions
from helpline.connectors.publishing import OutboundPost
from helpline.routing.models import Attachment, InboundMessage, OutboundReply

from . import outbound, publish, webhook
from .capabilities import CAPABILITIES
from .errors import map_error
from .files import fetch_files
from .migrations import ChatMigrations
from .options import TelegramOptions
from .parse import ALLOWED_UPDATES, BotIdentity, parse_update, update_from_json
from .text import split_text

log = logging.getLogger(__name__)

# httpx logs every request URL at INFO, and the Bot API URL contains the token; PTB logs request
# parameters (message bodies) at DEBUG. Quiet both unless the operator configured them on purpose.
for _name in ("httpx", "telegram"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)

# fetch() calls getUpdates through do_api_request to parse each update alone (see _get_updates);
# PTB suggests Bot.get_updates there, which fails the whole batch on one unreadable update.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'")

DEFAULT_BASE_URL = "https://api.telegram.org"
_READ_TIMEOUT = 5.0  # HTTPXRequest's default; getUpdates waits the long-poll timeout on top of it
T = TypeVar("T")


class TelegramConnector(Connector):
    """A Telegram bot. Options: `TelegramOptions` (long-poll timeout, the shared send budgets)."""

    platform = "telegram"
    supports_polling = True
    supports_webhook = True
    options_model = TelegramOptions
    options: TelegramOptions

    def __init__(self, settings: AccountSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._token = settings.secret("token")
        self._webhook_secret: str | None = None
        if settings.mode == "webhook":
            self._webhook_secret = settings.secret("webhook_secret")
            if not webhook.valid_secret_token(self._webhook_secret):
                raise ConfigError(
                    f"accounts.{settings.name}.secrets.webhook_secret: use 1-256 characters A-Z, a-z, 0-9, _ or -"
                )
        self._long_poll = self.options.long_poll_timeout
        self._limits = self.options.send_limits()
        self._batch_limit = 100
        self._bot: ExtBot[None] | None = None
        self._me: BotIdentity | None = None
        self._bot_lock = asyncio.Lock()
        self._migrations = ChatMigrations(self.platform, settings.name, context.redis)
        # Button presses to acknowledge once their update is confirmed: (update_id, query id).
        self._unanswered: list[tuple[int, str]] = []
        self.files: AttachmentStore = self.options.file_store(context.blobs)

    # --- client -------------------------------------------------------------------------------
    def _make_bot(self) -> ExtBot[None]:
        base = (self.settings.base_url or DEFAULT_BASE_URL).rstrip("/")
        extra: dict[str, Any] = {}
        if self.context.http_transport is not None:
            extra["transport"] = self.context.http_transport
        return ExtBot(
            self._token,
            base_url=f"{base}/bot",
            base_file_url=f"{base}/file/bot",
            request=HTTPXRequest(connection_pool_size=8, httpx_kwargs=extra),
            get_updates_request=HTTPXRequest(connection_pool_size=1, httpx_kwargs=extra),
        )

    async def _api(self, call: Awaitable[T]) -> T:
        """Await a Bot API call, mapping PTB errors (token redacted, no chained traceback)."""
        try:
            return await call
        except tg.TelegramError as exc:
            raise self._failure(exc) from None

    def _failure(self, exc: tg.TelegramError) -> ConnectorError:
        error = map_error(exc, token=self._token, field=f"accounts.{self.account}.secrets.token")
        self._set_health(last_error=str(error))
        return error

    async def _ensure_bot(self) -> tuple[ExtBot[None], BotIdentity]:
        """Create the client and learn who the bot is (getMe). Idempotent."""
        async with self._bot_lock:
            if self._bot is None or self._me is None:
                bot = self._make_bot()
                try:
                    await self._api(bot.initialize())
                except BaseException:
                    await bot.shutdown()
                    raise
                self._bot, self._me = bot, BotIdentity(bot.id, bot.username)
            return self._bot, self._me

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, and point Telegram at our webhook or make sure none is set. Idempotent."""
        bot, _ = await self._ensure_bot()
        if self.settings.mode == "webhook":
            if not self.context.public_base_url:
                raise ConfigError("public_base_url: required for a Telegram account in webhook mode")
            url = f"{self.context.public_base_url.rstrip('/')}/webhooks/telegram/{self.account}/"
            await self._api(
                bot.set_webhook(url=url, secret_token=self._webhook_secret, allowed_updates=ALLOWED_UPDATES)
            )
        else:
            # getUpdates answers 409 while a webhook is set; keep pending updates.
            await self._api(bot.delete_webhook(drop_pending_updates=False))
        await self.refresh_health()

    async def stop(self) -> None:
        """Close the client (the webhook stays set: Telegram queues updates meanwhile). Idempotent."""
        async with self._bot_lock:
            bot, self._bot, self._me = self._bot, None, None
        if bot is not None:
            await bot.shutdown()

    # --- pull -----------------------------------------------------------------------------------
    async def fetch(self, cursor: str | None) -> PollBatch:
        """getUpdates from `cursor` (an offset). Passing the offset confirms, to Telegram, every
        update below it: the runner passes it only after those updates were ingested."""
        bot, me = await self._ensure_bot()
        offset = int(cursor) if cursor else None
        if offset is not None:
            await self._answer_callbacks(lambda update_id: update_id < offset)
        updates, unreadable, top, received = await self._get_updates(bot, offset)
        messages: list[InboundMessage] = []
        for update in updates:
            try:
                message = parse_update(update, self.account, me)
            except Exception as exc:  # parsing is pure: this update is unusable, the next ones are not
                await self.reject_update(
                    as_payload(update.to_dict()), f"update {update.update_id}: {type(exc).__name__}: {str(exc)[:200]}"
                )
                continue
            if message is not None:
                messages.append(await fetch_files(bot, self.files, message))
            if update.callback_query is not None:
                self._unanswered.append((update.update_id, update.callback_query.id))
            if update.message is not None and update.message.migrate_to_chat_id is not None:
                await self._remember_migration(update.message.chat.id, update.message.migrate_to_chat_id)
        del self._unanswered[:-100]  # another process may have confirmed them: do not grow forever
        self._set_health(last_poll_at=datetime.now(UTC))
        next_cursor = str(top + 1) if top is not None else cursor
        return PollBatch(
            messages, next_cursor, skipped=len(updates) + unreadable - len(messages), more=received >= self._batch_limit
        )

    async def _get_updates(self, bot: ExtBot[None], offset: int | None) -> tuple[list[Update], int, int | None, int]:
        """getUpdates with each update parsed alone: one PTB cannot read is logged (without its
        body), counted and passed over, instead of failing every poll of the account for good.
        Returns (updates, unreadable count, highest update_id seen, updates received)."""
        params: dict[str, Any] = {
            "timeout": self._long_poll,
            "limit": self._batch_limit,
            "allowed_updates": list(ALLOWED_UPDATES),
        }
        if offset is not None:
            params["offset"] = offset
        raw = await self._api(
            bot.do_api_request("getUpdates", api_kwargs=params, read_timeout=_READ_TIMEOUT + self._long_poll)
        )
        if not isinstance(raw, list):
            raise Transient("telegram getUpdates: expected a list of updates")
        updates: list[Update] = []
        unreadable = 0
        top: int | None = None
        for item in raw:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if isinstance(update_id, int):
                top = update_id if top is None else max(top, update_id)
            try:
                updates.append(update_from_json(item, bot))
            except Exception as exc:  # parsing is pure: whatever it raises, this one item is unusable
                unreadable += 1
                await self.reject_update(
                    as_payload(item), f"update {str(update_id)[:32]}: {type(exc).__name__}: {str(exc)[:200]}"
                )
        return updates, unreadable, top, len(raw)

    async def _answer_callbacks(self, due: Callable[[int], bool]) -> None:
        """Stop the spinner on pressed buttons whose press is now durable. Best effort."""
        ready = [query for update_id, query in self._unanswered if due(update_id)]
        self._unanswered = [(u, q) for u, q in self._unanswered if not due(u)]
        for query_id in ready:
            await self._answer_callback(query_id)

    async def _answer_callback(self, query_id: str) -> None:
        if self._bot is None:
            return
        try:
            await self._api(self._bot.answer_callback_query(query_id))
        except ConnectorError as exc:
            log.debug("telegram/%s: answerCallbackQuery failed: %s", self.account, exc)

    # --- push -----------------------------------------------------------------------------------
    def webhook_routes(self) -> Sequence[BaseRoute]:
        if self._webhook_secret is None:
            return ()
        return webhook.routes(self._webhook_secret, self._receive, self.account, self.reject_update)

    async def _receive(self, data: dict[str, Any]) -> webhook.AfterResponse:
        """Ingest one webhook update; raises UnusableUpdate for one that cannot be used (it would
        never get better), anything else if it is not durable. Idempotent (ingest dedupes)."""
        bot, me = await self._ensure_bot()
        try:
            update = update_from_json(data, bot)
            message = parse_update(update, self.account, me)
        except Exception as exc:  # parsing is pure: whatever it raises, this update is unusable
            raise UnusableUpdate(
                f"update {str(data.get('update_id'))[:32]}: {type(exc).__name__}: {str(exc)[:200]}"
            ) from None
        if message is not None:
            await self.context.ingest([await fetch_files(bot, self.files, message)])
        self._set_health(status="ok", last_poll_at=datetime.now(UTC))
        if update.message is not None and update.message.migrate_to_chat_id is not None:
            await self._remember_migration(update.message.chat.id, update.message.migrate_to_chat_id)
        query = update.callback_query
        if query is None:
            return None
        query_id = query.id

        async def acknowledge() -> None:
            await self._answer_callback(query_id)

        return acknowledge

    # --- files ----------------------------------------------------------------------------------
    async def keep_file(self, data: bytes, file_name: str, mime_type: str) -> Attachment | Refused:
        if mime_type.lower() not in CAPABILITIES.reply_files:
            return Refused(file_name, mime_type, "telegram replies carry JPEG, PNG or WebP images only")
        return await self.files.keep(data, file_name, mime_type, "image")

    # --- send -----------------------------------------------------------------------------------
    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        """Post `reply` (split at 4096 characters) to its chat; parts in `progress.posted` are
        skipped, so a retry continues where the last attempt stopped."""
        thread = outbound.destination(reply)  # refuses a private reply to a group and vice versa
        bot, _ = await self._ensure_bot()
        parts = split_text(reply.text)
        if not parts:  # whitespace only: nothing would be posted, yet the reply would count as sent
            raise Permanent(f"reply {reply.reply_id}: the text is blank")
        reply_to = outbound.reply_to_message(reply, thread)
        markup = outbound.keyboard(reply, thread)
        try:
            chat_id = await self._migrations.current(thread.chat_id)
        except RedisError as exc:
            raise Transient(f"redis: chat migrations unavailable ({type(exc).__name__})") from None
        photos = [await self._photo(reply, a) for a in reply.attachments]
        for index, photo in enumerate(photos):  # the images first, then the text (which may be split)
            if index < len(progress.posted):
                continue
            sent = await self._send_part(bot, thread.chat_id, chat_id, "", reply_to, None, photo=photo)
            chat_id = sent.chat.id
            await progress.record(str(sent.message_id))
        for index, part in enumerate(parts, start=len(photos)):
            if index < len(progress.posted):
                continue
            last = index == len(photos) + len(parts) - 1
            sent = await self._send_part(bot, thread.chat_id, chat_id, part, reply_to, markup if last else None)
            chat_id = sent.chat.id
            await progress.record(str(sent.message_id))
        self._set_health(last_error=None)
        return SendResult(tuple(progress.posted))

    async def _photo(self, reply: OutboundReply, a: Attachment) -> bytes:
        if (a.mime_type or "") not in CAPABILITIES.reply_files:
            raise Permanent(f"reply {reply.reply_id}: telegram replies carry no {a.mime_type or a.kind} files")
        data = await self.files.read(a.platform_file_id)
        if data is None:
            raise Permanent(
                f"reply {reply.reply_id}: attached file {a.platform_file_id[:16]} is not in the account's file store"
            )
        return data

    async def _send_part(
        self,
        bot: ExtBot[None],
        origin: int,
        chat_id: int,
        text: str,
        reply_to: int | None,
        markup: Any,
        photo: bytes | None = None,
    ) -> Message:
        def attempt(target: int) -> Awaitable[Message]:
            parameters = (
                ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to is not None else None
            )
            if photo is not None:
                return bot.send_photo(target, photo, reply_parameters=parameters)
            return bot.send_message(target, text, reply_parameters=parameters, reply_markup=markup)

        try:
            return await attempt(chat_id)
        except tg.ChatMigrated as exc:
            new_chat_id = exc.new_chat_id
        except tg.TelegramError as exc:
            raise self._failure(exc) from None
        # The group became a supergroup: remember it for every later reply, retry once there.
        # Its old message ids are void, so the quoted reply may be dropped (allowed above).
        await self._remember_migration(origin, new_chat_id)
        return await self._api(attempt(new_chat_id))

    async def _remember_migration(self, old: int, new: int) -> None:
        try:
            await self._migrations.record(old, new)
        except RedisError as exc:
            raise Transient(f"redis: could not record a chat migration ({type(exc).__name__})") from None

    def rate_limits(self, reply: OutboundReply) -> Sequence[RateLimit]:
        return outbound.rate_limits(reply, self._limits)

    @classmethod
    def declared_capabilities(cls, options: ConnectorOptions) -> Capabilities:
        return CAPABILITIES

    # --- publish (announcements; see publish.py) ---------------------------------------------------
    async def publish(self, post: OutboundPost, progress: SendProgress) -> SendResult:
        """Post an announcement to a channel/group or to one subscriber; resumable like `send`."""
        origin = publish.chat_of(post)
        bot, _ = await self._ensure_bot()
        try:
            chat_id = await self._migrations.current(origin)
        except RedisError as exc:
            raise Transient(f"redis: chat migrations unavailable ({type(exc).__name__})") from None
        result = await publish.publish_post(
            bot,
            post,
            progress,
            origin=origin,
            chat_id=chat_id,
            on_error=self._failure,
            on_migrated=self._remember_migration,
        )
        self._set_health(last_error=None)
        return result

    def publish_rate_limits(self, post: OutboundPost) -> Sequence[RateLimit]:
        return publish.rate_limits(post, self._limits)

    # --- health ---------------------------------------------------------------------------------
    async def refresh_health(self) -> None:
        """Ask Telegram for the webhook's queue (getWebhookInfo). Best effort; idempotent."""
        if self._bot is None:
            return
        try:
            info = await self._api(self._bot.get_webhook_info())
        except ConnectorError as exc:
            log.debug("telegram/%s: getWebhookInfo failed: %s", self.account, exc)
            return
        changes: dict[str, Any] = {"pending_updates": info.pending_update_count}
        if self.settings.mode == "webhook":
            changes["status"] = "degraded" if info.last_error_message else "ok"
            if info.last_error_message:
                changes["last_error"] = f"webhook: {info.last_error_message}"
        self._set_health(**changes)
