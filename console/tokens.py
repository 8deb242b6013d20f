"""API tokens for scripts and bots: random, shown once, stored as a sha256 (they are high-entropy,
so a fast hash is enough), acting for a user with that user's role or a lesser one."""

from __future__ import annotations

import secrets
from datetime import datetime

import redis.asyncio as redis
from pydantic import BaseModel, ConfigDict, Field

from helpline.routing import keys
from helpline.routing.decode import as_text
from helpline.routing.models import utcnow
from helpline.routing.store import from_ms, to_ms

from .roles import Role
from .sessions import digest

PREFIX = "hlt_"  # recognisable in secret scanners and logs-to-be-scrubbed


class TokenInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str = Field(min_length=1, max_length=128)
    username: str
    role: Role
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None  # not stored with the token: read from its own hash


class TokenStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    async def create(self, name: str, username: str, role: Role) -> tuple[str, TokenInfo]:
        """Returns the token (the only time it exists in clear) and its record."""
        token = PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(id=secrets.token_hex(6), name=name, username=username, role=role)
        hashed = digest(token)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(keys.console_token(hashed), info.model_dump_json())
            pipe.hset(keys.console_tokens(), info.id, hashed)
            await pipe.execute()
        return token, info

    async def resolve(self, token: str) -> TokenInfo | None:
        """The token's record, if it exists; its use is recorded (when it was last used)."""
        if not token.startswith(PREFIX):
            return None
        raw = await self.client.get(keys.console_token(digest(token)))
        if raw is None:
            return None
        info = TokenInfo.model_validate_json(raw)
        await self.client.hset(keys.console_tokens_used(), info.id, str(to_ms(utcnow())))  # type: ignore[misc]
        return info

    async def list(self) -> list[TokenInfo]:
        hashes = await self.client.hgetall(keys.console_tokens())  # type: ignore[misc]
        if not hashes:
            return []
        raws = await self.client.mget([keys.console_token(h.decode()) for h in hashes.values()])
        used = {as_text(k): int(v) for k, v in (await self.client.hgetall(keys.console_tokens_used())).items()}  # type: ignore[misc]
        tokens = [TokenInfo.model_validate_json(r) for r in raws if r]
        return sorted(
            (t.model_copy(update={"last_used_at": from_ms(used[t.id]) if t.id in used else None}) for t in tokens),
            key=lambda t: t.created_at,
        )

    async def revoke(self, token_id: str) -> bool:
        hashed = await self.client.hget(keys.console_tokens(), token_id)  # type: ignore[misc]
        if hashed is None:
            return False
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(keys.console_token(hashed.decode()))
            pipe.hdel(keys.console_tokens(), token_id)
            pipe.hdel(keys.console_tokens_used(), token_id)
            await pipe.execute()
        return True
