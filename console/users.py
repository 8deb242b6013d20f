"""Console users: argon2-hashed passwords, a role, teams; agents and supervisors are also in
the routing roster under the same id, so the router can assign them conversations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis.asyncio as redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel, ConfigDict, Field, field_validator
from redis.exceptions import WatchError

from helpline.routing import keys
from helpline.routing.assignment import AssignmentStore
from helpline.routing.decode import as_text
from helpline.routing.models import Agent

from .roles import Principal, Role

_RETRIES = 1000  # optimistic transactions: each retry means another write succeeded
USERNAME = r"^[A-Za-z0-9_.-]{1,64}$"  # the routing Agent id pattern: a user can be an agent
MIN_PASSWORD = 10


class UserError(ValueError):
    """A user operation was refused; the message names the field."""


class Preferences(BaseModel):
    """The user's console settings, kept on their account so they follow them from browser to
    browser. None: never chosen, so the browser's own value applies (what it kept, or its zone);
    a zone of "" is the choice to follow each browser's zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    zone: str | None = Field(default=None, max_length=64)
    alert_desktop: bool | None = None
    alert_sound: bool | None = None

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("not a time zone") from None
        return zone


class User(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(pattern=USERNAME)
    role: Role
    name: str = Field(min_length=1, max_length=128)
    teams: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    capacity: int = Field(default=5, ge=0, le=1000)
    disabled: bool = False
    preferences: Preferences = Preferences()

    def principal(self, via: str = "session", csrf: str | None = None, role: Role | None = None) -> Principal:
        return Principal(self.username, role or self.role, self.name, self.teams, via, csrf)


class UserStore:
    """Users in Redis. Idempotent writes except `add`, which refuses an existing username.

    Changes are atomic: `_modify` reads the record and writes it back in one WATCH/MULTI
    transaction (retried when another write came between), so two edits at once never lose one
    another. Each write bumps the record's `version`; the routing roster copy is then written from
    the newest record until the version stays the same (`_sync_roster`), so it ends as the record."""

    def __init__(self, client: redis.Redis, hasher: PasswordHasher | None = None) -> None:
        self.client = client
        self.hasher = hasher or PasswordHasher()
        self.assignments = AssignmentStore(client)
        # Verifying against a dummy hash when the user is unknown keeps timing uniform.
        self._dummy = self.hasher.hash("not-a-real-password")

    async def add(
        self,
        username: str,
        password: str,
        role: Role | str,
        *,
        name: str = "",
        teams: Sequence[str] = (),
        languages: Sequence[str] = (),
        capacity: int = 5,
    ) -> User:
        if len(password) < MIN_PASSWORD:
            raise UserError(f"password: at least {MIN_PASSWORD} characters")
        user = User(
            username=username,
            role=Role(role),
            name=name or username,
            teams=tuple(teams),
            languages=tuple(languages),
            capacity=capacity,
        )
        created = await self.client.hsetnx(keys.console_user(username), "username", username)  # type: ignore[misc]
        if not created:
            raise UserError(f"username: {username!r} already exists")
        await self._write(user, password_hash=await asyncio.to_thread(self.hasher.hash, password))
        return user

    async def _write(self, user: User, password_hash: str | None = None) -> None:
        fields = {"json": user.model_dump_json()}
        if password_hash is not None:
            fields["password"] = password_hash
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(keys.console_user(user.username), mapping=fields)
            pipe.sadd(keys.console_users(), user.username)
            await pipe.execute()
        if user.role.is_routing_agent and not user.disabled:  # a disabled user is withdrawn from routing
            await self._sync_agent(user)

    async def _sync_agent(self, user: User) -> None:
        """Put the user in the routing roster, keeping the presence they have there."""
        agent = Agent(
            id=user.username, name=user.name, teams=user.teams, languages=user.languages, capacity=user.capacity
        )
        await self.assignments.upsert_agent(agent, keep_presence=True)

    async def get(self, username: str) -> User | None:
        raw = await self.client.hget(keys.console_user(username), "json")  # type: ignore[misc]
        return None if raw is None else User.model_validate_json(raw)

    async def list(self) -> list[User]:
        names = sorted(as_text(n) for n in await self.client.smembers(keys.console_users()))  # type: ignore[misc]
        async with self.client.pipeline(transaction=False) as pipe:
            for n in names:
                pipe.hget(keys.console_user(n), "json")
            raws = await pipe.execute()
        return [User.model_validate_json(r) for r in raws if r is not None]

    async def update(self, username: str, **changes: object) -> User:
        allowed = {"role", "name", "teams", "languages", "capacity", "disabled"}
        unknown = set(changes) - allowed
        if unknown:
            raise UserError(f"{sorted(unknown)[0]}: cannot be changed here")

        def change(user: User) -> User:
            data = json.loads(user.model_dump_json())
            data.update({k: v for k, v in changes.items() if v is not None})
            return User.model_validate(data)

        return await self._modify(username, change)

    async def prefer(self, username: str, changes: Preferences) -> User:
        """Set the preferences `changes` names (its fields set), keeping the others."""

        def change(user: User) -> User:
            chosen = user.preferences.model_copy(update=changes.model_dump(exclude_unset=True))
            return user.model_copy(update={"preferences": chosen})

        return await self._modify(username, change)

    async def _modify(self, username: str, change: Callable[[User], User]) -> User:
        """Read the record, apply `change`, write it back: one transaction, retried on a conflict."""
        key = keys.console_user(username)
        async with self.client.pipeline(transaction=True) as pipe:
            for _ in range(_RETRIES):
                try:
                    await pipe.watch(key)
                    raw = await pipe.hget(key, "json")  # type: ignore[misc]
                    if raw is None:
                        raise UserError(f"username: no user {username!r}")
                    updated = change(User.model_validate_json(raw))
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, "json", updated.model_dump_json())
                    pipe.hincrby(key, "version", 1)
                    await pipe.execute()
                    break
                except WatchError:
                    continue
            else:
                raise UserError(f"username: {username!r} is being changed by too many at once; try again")
        await self._sync_roster(username)
        return updated

    async def _sync_roster(self, username: str) -> None:
        """Copy the newest record to the routing roster, again if it changed meanwhile: a writer
        whose copy was not the newest sees a newer version afterwards and writes again."""
        key = keys.console_user(username)
        for _ in range(_RETRIES):
            raw, version = await self.client.hmget(key, ["json", "version"])  # type: ignore[misc]
            if raw is None:
                return
            user = User.model_validate_json(raw)
            if user.role.is_routing_agent and not user.disabled:  # a disabled user is withdrawn from routing
                await self._sync_agent(user)
            if await self.client.hget(key, "version") == version:  # type: ignore[misc]
                return

    async def set_password(self, username: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise UserError(f"password: at least {MIN_PASSWORD} characters")
        if await self.get(username) is None:
            raise UserError(f"username: no user {username!r}")
        await self.client.hset(
            keys.console_user(username),
            "password",  # type: ignore[misc]
            await asyncio.to_thread(self.hasher.hash, password),
        )

    async def delete(self, username: str) -> bool:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(keys.console_user(username))
            pipe.srem(keys.console_users(), username)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password matches and the account is enabled; None otherwise."""
        stored = await self.client.hmget(keys.console_user(username), ["json", "password"])  # type: ignore[misc]
        raw, hashed = stored
        try:
            # Argon2 is slow on purpose: off the event loop, so a login does not stall every request.
            await asyncio.to_thread(self.hasher.verify, as_text(hashed) if hashed else self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if raw is None or hashed is None:
            return None
        user = User.model_validate_json(raw)
        if user.disabled:
            return None
        if self.hasher.check_needs_rehash(as_text(hashed)):
            await self.client.hset(
                keys.console_user(username),
                "password",  # type: ignore[misc]
                await asyncio.to_thread(self.hasher.hash, password),
            )
        return user
