"""Which thread a status belongs to, remembered per status id.

Customers answer our replies, so a status replying to one of ours must land in the thread our
reply was posted to; and a reply needs the visibility and author of the status it answers. Both
come from this index: Redis (`keys.connector_state`, one key per status with a TTL, so the map
stays small) when the connector has Redis, else a bounded in-process map. A miss is not an error:
the caller asks the instance (GET /api/v1/statuses/:id/context or /:id) instead.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pydantic import ValidationError

from helpline.routing import keys
from helpline.routing.decode import as_text

from .parse import StatusInfo

_MEMORY_LIMIT = 10_000


class StatusIndex:
    def __init__(self, redis: Any, platform: str, account: str, ttl_seconds: int = 90 * 86400) -> None:
        self._redis = redis
        self._platform = platform
        self._account = account
        self._ttl = ttl_seconds
        self._memory: OrderedDict[str, str] = OrderedDict()

    def _key(self, kind: str, ident: str) -> str:
        return keys.connector_state(self._platform, self._account, f"{kind}:{ident}")

    async def _get(self, kind: str, ident: str) -> str | None:
        key = self._key(kind, ident)
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        if self._redis is None:
            return None
        value = await self._redis.get(key)
        if value is None:
            return None
        text = as_text(value)
        self._cache(key, text)
        return text

    def _cache(self, key: str, value: str) -> None:
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > _MEMORY_LIMIT:
            self._memory.popitem(last=False)

    async def _put(self, items: dict[str, str]) -> None:
        for key, value in items.items():
            self._cache(key, value)
        if self._redis is not None and items:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(key, value, ex=self._ttl)
                await pipe.execute()

    async def status(self, status_id: str) -> StatusInfo | None:
        raw = await self._get("status", status_id)
        if raw is None:
            return None
        try:
            return StatusInfo.model_validate_json(raw)
        except ValidationError:
            return None  # written by another version: ask the instance instead

    async def acct(self, account_id: str) -> str | None:
        return await self._get("account", account_id)

    async def remember_account(self, account_id: str, acct: str) -> None:
        """Idempotent."""
        await self._put({self._key("account", account_id): acct})

    async def remember(self, statuses: dict[str, StatusInfo]) -> None:
        """Record statuses and their authors' acct. Idempotent: the same facts overwrite."""
        items: dict[str, str] = {}
        for status_id, info in statuses.items():
            items[self._key("status", status_id)] = info.model_dump_json()
            if info.acct:
                items[self._key("account", info.account_id)] = info.acct
        await self._put(items)
