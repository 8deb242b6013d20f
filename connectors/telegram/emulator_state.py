"""The Bot API emulator's world: chats, messages, the update queue, webhook settings, limits.

Plain data and rules, no HTTP: `emulator.py` maps requests onto these methods. Errors are raised
as `BotApiError` carrying exactly what Telegram would answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from helpline.connectors.emulator_ids import ClockIds, telegram_ids

from .text import MAX_MESSAGE_LENGTH, utf16_len

Json = dict[str, Any]
DEFAULT_GROUP_ID = -1001000000001


class BotApiError(Exception):
    def __init__(self, code: int, description: str, parameters: Json | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> Json:
        body: Json = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(what: str, parameters: Json | None = None) -> BotApiError:
    return BotApiError(400, f"Bad Request: {what}", parameters)


@dataclass
class Limits:
    """Flood limits (token buckets), long-poll cap and webhook retry pace; see POST /_emulator/config."""

    private_per_second: float = 1.0
    private_burst: int = 3
    group_per_minute: float = 20.0
    group_burst: int = 20
    global_per_second: float = 30.0
    global_burst: int = 30
    long_poll_max: float = 2.0
    webhook_retry_interval: float = 0.5
    # A slow or failing platform: sendMessage answers after a delay drawn between min and max
    # (seconds), and while `outage_status` is set every Bot API call answers that status (e.g. 502).
    send_latency_min: float = 0.0
    send_latency_max: float = 0.0
    outage_status: int = 0


class Bucket:
    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self.rate, self.capacity = rate, max(1, capacity)
        self.tokens, self.updated = float(self.capacity), now

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0 if one is)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


@dataclass(frozen=True)
class File:
    file_id: str
    unique_id: str
    path: str
    data: bytes


class EmulatorState:
    def __init__(
        self, token: str, bot_id: int, bot_username: str, bot_name: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.token = token
        self.bot_user: Json = {"id": bot_id, "is_bot": True, "first_name": bot_name, "username": bot_username}
        self.clock = clock
        self.limits = Limits()
        self.chats: dict[int, Json] = {}
        self.migrated: dict[int, int] = {}
        self.blocked: set[int] = set()
        self.messages: dict[tuple[int, int], Json] = {}
        self.updates: list[Json] = []
        self.allowed_updates: list[str] | None = None
        self.sent: list[Json] = []
        self.callbacks: dict[str, bool] = {}  # query id -> answered
        self.files: dict[str, File] = {}  # file_id -> the file customers or the bot sent
        self.webhook: Json = {"url": "", "secret_token": None}
        self.stats: Counter[str] = Counter()
        # ids from the clock: a restarted emulator continues above the offsets and ids of its last run
        self._update_ids = telegram_ids()
        self._message_ids: dict[int, ClockIds] = {}
        self._user_ids: dict[str, int] = {}
        self._buckets: dict[str, Bucket] = {}
        self._poll_generation = 0
        self._wake = asyncio.Event()

    # --- time and notification -------------------------------------------------------------------
    def notify(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    async def wait_for_change(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    @staticmethod
    def now_unix() -> int:
        return int(time.time())

    # --- the world ---------------------------------------------------------------------------------
    def user(self, spec: Json) -> Json:
        """A customer from the control API's {"id", "handle", "name"}; string ids get a stable number."""
        raw = spec.get("id")
        if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
            user_id = int(raw)
        else:
            key = str(raw)
            user_id = self._user_ids.setdefault(key, 7_000_000_000 + zlib.crc32(key.encode()))
        first, _, last = str(spec.get("name") or f"User {user_id}").partition(" ")
        user: Json = {"id": user_id, "is_bot": bool(spec.get("is_bot", False)), "first_name": first}
        if last:
            user["last_name"] = last
        if spec.get("handle"):
            user["username"] = str(spec["handle"]).lstrip("@")
        if spec.get("language_code"):
            user["language_code"] = spec["language_code"]
        return user

    def private_chat(self, user: Json) -> Json:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        for field in ("last_name", "username"):
            if field in user:
                chat[field] = user[field]
        self.chats[user["id"]] = chat
        return chat

    def group_chat(self, chat_id: int | None) -> Json:
        chat_id = DEFAULT_GROUP_ID if chat_id is None else int(chat_id)
        chat_id = self.migrated.get(chat_id, chat_id)  # members post in the supergroup now
        if chat_id >= 0:
            raise bad_request("group chat ids are negative")
        if chat_id not in self.chats:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            self.chats[chat_id] = {"id": chat_id, "type": kind, "title": f"Group {chat_id}"}
        return self.chats[chat_id]

    def add_chat(self, spec: Json) -> bool:
        """Register a chat by id and type (a channel the bot may post in, a subscriber's private
        chat). Returns False if it existed. Channel and group ids are negative, users positive."""
        chat_id, kind = int(spec["id"]), str(spec.get("type") or "private")
        if kind not in ("private", "group", "supergroup", "channel"):
            raise bad_request(f"unknown chat type {kind!r}")
        if (kind == "private") != (chat_id > 0):
            raise bad_request("private chat ids are positive, group and channel ids negative")
        if chat_id in self.chats:
            return False
        chat: Json = {"id": chat_id, "type": kind}
        if kind == "private":
            chat["first_name"] = str(spec.get("title") or f"User {chat_id}")
        else:
            chat["title"] = str(spec.get("title") or f"{kind.title()} {chat_id}")
        if spec.get("username"):
            chat["username"] = str(spec["username"]).lstrip("@")
        self.chats[chat_id] = chat
        return True

    def new_message(self, chat: Json, sender: Json, **fields: Any) -> Json:
        chat_id = chat["id"]
        message_id = self._message_ids.setdefault(chat_id, telegram_ids()).next()
        message: Json = {"message_id": message_id, "from": sender, "chat": chat, "date": self.now_unix(), **fields}
        self.messages[(chat_id, message_id)] = message
        return message

    def add_file(self, data: bytes, folder: str) -> File:
        unique = hashlib.sha256(data).hexdigest()[:16]
        file_id = f"AgAC{unique}{len(self.files)}"
        file = File(file_id, unique, f"{folder}/file_{len(self.files)}.bin", data)
        self.files[file_id] = file
        return file

    def file_at(self, path: str) -> File | None:
        return next((f for f in self.files.values() if f.path == path), None)

    def last_bot_message(self, chat: Json) -> Json:
        for (chat_id, _), message in reversed(self.messages.items()):
            if chat_id == chat["id"] and message["from"]["id"] == self.bot_user["id"]:
                return message
        return self.new_message(chat, self.bot_user, text="How can we help?")

    def push_update(self, kind: str, payload: Json) -> int:
        return self.push_raw({kind: payload})

    def push_raw(self, update: Json) -> int:
        update = dict(update)
        update["update_id"] = self._update_ids.next()
        self.updates.append(update)
        self.stats["updates_total"] += 1
        self.notify()
        return int(update["update_id"])

    # --- update queue --------------------------------------------------------------------------------
    def confirm(self, offset: int | None) -> None:
        """Telegram semantics: getUpdates(offset) forgets every update below `offset`."""
        if offset is None:
            return
        if offset < 0:
            self.updates = self.updates[offset:]
        else:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]

    def pending(self, limit: int = 100) -> list[Json]:
        if self.allowed_updates:  # updates of other types are never delivered
            allowed = set(self.allowed_updates)
            self.updates = [u for u in self.updates if allowed & set(u)]
        return self.updates[:limit]

    async def get_updates(self, offset: int | None, limit: int, poll_seconds: float) -> list[Json]:
        if self.webhook["url"]:
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self.stats["get_updates_calls"] += 1
        self.confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self.notify()  # an older long poll still waiting is terminated (409), like Telegram does
        deadline = self.clock() + min(max(0.0, poll_seconds), self.limits.long_poll_max)
        while True:
            batch = self.pending(limit)
            remaining = deadline - self.clock()
            if batch or remaining <= 0:
                return batch
            await self.wait_for_change(remaining)
            if generation != self._poll_generation:
                self.stats["conflicts"] += 1
                raise BotApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )

    # --- flood control -------------------------------------------------------------------------------
    def _bucket(self, name: str, per_second: float, burst: int) -> Bucket:
        if name not in self._buckets:
            self._buckets[name] = Bucket(per_second, burst, self.clock())
        return self._buckets[name]

    def spend(self, chat: Json) -> None:
        """Spend the global and the chat's budget, or raise 429 with retry_after (whole seconds)."""
        lim = self.limits
        buckets = [self._bucket("global", lim.global_per_second, lim.global_burst)]
        if chat["type"] == "private":
            buckets.append(self._bucket(f"chat:{chat['id']}", lim.private_per_second, lim.private_burst))
        else:
            buckets.append(self._bucket(f"group:{chat['id']}", lim.group_per_minute / 60, lim.group_burst))
        now = self.clock()
        wait = max(b.wait(now) for b in buckets)
        if wait > 0:
            self.stats["rate_limited_responses"] += 1
            retry_after = max(1, math.ceil(wait))
            raise BotApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        for bucket in buckets:
            bucket.take()

    def configure(self, changes: Json) -> Json:
        fields = asdict(self.limits)
        unknown = set(changes) - set(fields)
        if unknown:
            raise bad_request(f"unknown config fields: {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            setattr(self.limits, name, type(fields[name])(value))
        self._buckets.clear()
        return asdict(self.limits)

    # --- checks shared by the methods ------------------------------------------------------------------
    def chat_for_send(self, raw_chat_id: Any) -> Json:
        try:
            chat_id = int(raw_chat_id)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        if chat_id in self.migrated:
            raise bad_request(
                "group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": self.migrated[chat_id]}
            )
        chat = self.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        if chat["type"] == "private" and chat_id in self.blocked:
            raise BotApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    @staticmethod
    def check_text(text: str, visible: str | None = None) -> None:
        """Telegram's limit counts the text after entity parsing: `visible` is that text when a
        parse_mode applied (tags removed, entities decoded)."""
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text if visible is None else visible) > MAX_MESSAGE_LENGTH:
            raise bad_request("message is too long")
