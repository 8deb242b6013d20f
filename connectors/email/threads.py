"""Which conversation thread a mail belongs to.

Mail clients thread by headers, and clients are careless with them: some keep only
`In-Reply-To`, some only `References`, some neither. So a mail is matched, in this order, by

1. every Message-ID it answers (In-Reply-To, then References, newest first) against the ids of
   the mails Helpline received and sent in a thread;
2. the plus address Helpline answers from (`support+<token>@example.com`);
3. the subject token Helpline puts in every subject (`[#<token>]`);

and starts a new thread when none matches. The token is the conversation id; because it is
visible and guessable, (2) and (3) only join a thread when the mail comes from the address that
thread is with: a stranger writing `[#2-3]` starts a conversation of their own.

The index lives in Redis (`keys.connector_state`), one key per Message-ID or token with a TTL,
so it stays as small as the memory it is asked to keep.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from helpline.routing import keys
from helpline.routing.decode import as_text
from helpline.routing.models import ThreadRef

from .parse import ParsedMail

_SUBJECT_TOKEN = re.compile(r"\[#([0-9]{1,6}-[0-9]{1,12})\]")
_TOKEN = re.compile(r"^[0-9]{1,6}-[0-9]{1,12}$")
MAX_REFERENCES = 20  # ids carried in References of an answer (the root and the newest)


class ThreadInfo(BaseModel):
    """What an answer in a thread needs: where it goes, what it answers, under which subject."""

    model_config = ConfigDict(extra="ignore")

    thread_key: str
    customer: str  # the customer's address
    customer_name: str = ""
    subject: str = ""
    references: list[str] = []  # the thread's Message-IDs, oldest first (capped)
    #: Mail of this thread belongs to a conversation on another channel (copies of web chat answers).
    answers_to: ThreadRef | None = None


class SentInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reply_id: str
    conversation_id: str
    thread_key: str


def new_thread_key(message_id: str) -> str:
    return "mail:" + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:32]


def subject_tokens(subject: str) -> list[str]:
    return _SUBJECT_TOKEN.findall(subject)


def plus_tokens(recipients: tuple[str, ...], own_address: str) -> list[str]:
    """Tokens of `user+token@domain` where `user@domain` is our address."""
    user, _, domain = own_address.lower().partition("@")
    found = []
    for address in recipients:
        local, _, dom = address.partition("@")
        base, plus, token = local.partition("+")
        if plus and base == user and dom == domain and _TOKEN.match(token):
            found.append(token)
    return found


def plus_address(own_address: str, token: str) -> str:
    user, _, domain = own_address.partition("@")
    return f"{user}+{token}@{domain}"


class MailIndex:
    def __init__(self, redis: Any, platform: str, account: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._platform = platform
        self._account = account
        self._ttl = ttl_seconds

    def _key(self, kind: str, ident: str) -> str:
        return keys.connector_state(self._platform, self._account, f"{kind}:{ident}")

    async def _get(self, kind: str, ident: str) -> str | None:
        value = await self._redis.get(self._key(kind, ident))
        return None if value is None else as_text(value)

    async def thread_of_message(self, message_id: str) -> str | None:
        return await self._get("msgid", message_id)

    async def thread(self, thread_key: str) -> ThreadInfo | None:
        raw = await self._get("thread", thread_key)
        return None if raw is None else ThreadInfo.model_validate_json(raw)

    async def token(self, token: str) -> str | None:
        return await self._get("token", token)

    async def sent(self, message_id: str) -> SentInfo | None:
        raw = await self._get("sent", message_id)
        return None if raw is None else SentInfo.model_validate_json(raw)

    async def find_thread(self, mail: ParsedMail, own_address: str) -> str | None:
        """The known thread this mail continues, or None (see the module docstring)."""
        for ident in mail.thread_ids:
            if (found := await self.thread_of_message(ident)) is not None:
                return found
        for token in (*plus_tokens(mail.recipients, own_address), *subject_tokens(mail.subject)):
            thread_key = await self.token(token)
            if thread_key is None:
                continue
            info = await self.thread(thread_key)
            if info is not None and info.customer == mail.from_address:
                return thread_key
        return None

    async def remember_received(self, mail: ParsedMail, thread_key: str) -> None:
        """Record a received mail in its thread. Idempotent: the same mail changes nothing twice."""
        info = await self.thread(thread_key) or ThreadInfo(
            thread_key=thread_key, customer=mail.from_address, customer_name=mail.from_name, subject=mail.subject
        )
        if mail.message_id not in info.references:
            info.references = [*info.references, mail.message_id]
        await self._put(
            {
                self._key("msgid", mail.message_id): thread_key,
                self._key("thread", thread_key): _capped(info).model_dump_json(),
            }
        )

    async def remember_sent(self, message_id: str, info: ThreadInfo, sent: SentInfo) -> None:
        """Record a mail Helpline sends, before it is sent (a bounce or an answer may follow
        fast). Idempotent."""
        if message_id not in info.references:
            info = info.model_copy(update={"references": [*info.references, message_id]})
        await self._put(
            {
                self._key("msgid", message_id): sent.thread_key,
                self._key("sent", message_id): sent.model_dump_json(),
                self._key("token", sent.conversation_id): sent.thread_key,
                self._key("thread", sent.thread_key): _capped(info).model_dump_json(),
            }
        )

    async def split(self, thread_key: str, mails: list[ParsedMail]) -> str:
        """Move these received mails of `thread_key` into a thread of their own (an agent split a
        new topic off): mail answering one of them threads there from now on, mail answering the
        others stays. The new key comes from the first mail's Message-ID. Idempotent."""
        new_key = new_thread_key("split:" + mails[0].message_id)
        moved = [m.message_id for m in mails]
        old = await self.thread(thread_key)
        first = mails[0]
        info = ThreadInfo(
            thread_key=new_key,
            customer=old.customer if old else first.from_address,
            customer_name=old.customer_name if old else first.from_name,
            subject=first.subject or (old.subject if old else ""),
            references=moved,
        )
        items = {self._key("msgid", ident): new_key for ident in moved}
        items[self._key("thread", new_key)] = _capped(info).model_dump_json()
        if old is not None:
            kept = [r for r in old.references if r not in moved]
            items[self._key("thread", thread_key)] = old.model_copy(update={"references": kept}).model_dump_json()
        async with self._redis.pipeline(transaction=True) as pipe:
            for key, value in items.items():
                pipe.set(key, value, ex=self._ttl)
            await pipe.execute()
        return new_key

    async def _put(self, items: dict[str, str]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, value in items.items():
                pipe.set(key, value, ex=self._ttl)
            await pipe.execute()


def _capped(info: ThreadInfo) -> ThreadInfo:
    refs = info.references
    if len(refs) > MAX_REFERENCES:  # keep the root: clients thread by it
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1) :]]
    return info.model_copy(update={"references": refs})
