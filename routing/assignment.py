"""Assigning conversations to human agents.

Choosing is pure (`choose_agent`): online agents of the team who speak the customer's language
and have room, the contact's previous agent first, else the least loaded. Claiming is atomic in
Redis (a Lua script re-checks presence and capacity), and idempotent: a conversation already
claimed returns its agent. When nobody is free the conversation waits in the team's queue
(priority, then age) until `fill` hands it to an agent who frees up or comes online.

A claim lives in the assignment slot (`{asg}`), the conversation in its partition's slot, so no
atomic call writes both: the claim comes first and the conversation's commit records it. Each
new claim is also noted in `keys.unconfirmed_claims` with its time; the janitor gives back the
slot of one its conversation does not name after a grace period (the claimer crashed, or its
commit was refused and the message went elsewhere), see `queueing.release_orphan_claims`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as redis

from . import keys
from .decode import as_text
from .models import Agent, Presence, Priority

# KEYS: agent hash, agent load set, assignment record, unconfirmed claims. ARGV: conversation
# id, agent id, now (ms).
_CLAIM = """
local existing = redis.call('GET', KEYS[3])
if existing then return existing end
local a = redis.call('HMGET', KEYS[1], 'presence', 'capacity')
if a[1] ~= 'online' then return false end
if redis.call('SCARD', KEYS[2]) >= tonumber(a[2] or 0) then return false end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return ARGV[2]
"""

# KEYS: team queue, agent hash, agent load set, assignment record, unconfirmed claims.
# ARGV: queue member, conversation id, agent id, now (ms).
_TAKE_FROM_QUEUE = """
local a = redis.call('HMGET', KEYS[2], 'presence', 'capacity')
if a[1] ~= 'online' then return false end
if redis.call('SCARD', KEYS[3]) >= tonumber(a[2] or 0) then return false end
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
if redis.call('GET', KEYS[4]) then return false end
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('SET', KEYS[4], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[2])
return ARGV[3]
"""

# KEYS: roster set, agent hash. ARGV: agent id, presence. Only an agent on the roster gets a
# presence, so a change racing a removal cannot leave a hash with nothing but a presence in it.
_SET_PRESENCE = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'presence', ARGV[2])
return 1
"""

# KEYS: assignment record, unconfirmed claims. ARGV: conversation id, agent load key prefix.
# Frees the agent's slot.
_RELEASE = """
redis.call('ZREM', KEYS[2], ARGV[1])
local agent = redis.call('GET', KEYS[1])
if not agent then return false end
redis.call('SREM', ARGV[2] .. agent, ARGV[1])
redis.call('DEL', KEYS[1])
return agent
"""

# KEYS: assignment record, unconfirmed claims. ARGV: conversation id, agent load key prefix, the
# agent and claim time (ms) the caller found. Releases that claim if it is still the one found
# (not released and claimed again since); else only forgets the note. Returns 1 if released.
_RELEASE_ORPHAN = """
local claimed = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not claimed or tonumber(claimed) ~= tonumber(ARGV[4]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[1]) ~= ARGV[3] then return 0 end
redis.call('SREM', ARGV[2] .. ARGV[3], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: unconfirmed claims. ARGV: conversation id, claim time (ms) found. Its conversation
# records the claim: no longer unconfirmed (unless claimed again since).
_CONFIRM = """
local claimed = redis.call('ZSCORE', KEYS[1], ARGV[1])
if claimed and tonumber(claimed) == tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
"""


@dataclass(frozen=True)
class AgentLoad:
    agent: Agent
    load: int

    @property
    def free(self) -> int:
        return self.agent.capacity - self.load


@dataclass(frozen=True)
class Choice:
    agent_id: str | None
    reason: str


def choose_agent(roster: Sequence[AgentLoad], team: str | None, language: str | None, sticky: str | None) -> Choice:
    """Pure: which agent should take a conversation of `team` in `language`."""
    eligible = [
        a
        for a in roster
        if a.agent.presence is Presence.ONLINE
        and a.free > 0
        and a.agent.speaks(language)
        and (team is None or team in a.agent.teams)
    ]
    if not eligible:
        return Choice(
            None, f"no online agent of team {team or '-'} with room" + (f" speaking {language}" if language else "")
        )
    for a in eligible:
        if a.agent.id == sticky:
            return Choice(a.agent.id, "sticky: last agent who served this contact")
    best = min(eligible, key=lambda a: (a.load / max(a.agent.capacity, 1), a.load, a.agent.id))
    return Choice(best.agent.id, f"least loaded ({best.load}/{best.agent.capacity})")


def queue_score(priority: Priority, created_ms: int) -> float:
    """Higher priority first, then older first."""
    return float((Priority.URGENT.rank - priority.rank) * 10**13 + created_ms)


def queue_member(conversation_id: str, language: str | None) -> str:
    return f"{conversation_id}|{language or ''}"


def parse_member(member: str) -> tuple[str, str | None]:
    cid, _, lang = member.partition("|")
    return cid, lang or None


class AssignmentStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._claim = client.register_script(_CLAIM)
        self._take = client.register_script(_TAKE_FROM_QUEUE)
        self._release = client.register_script(_RELEASE)
        self._set_presence = client.register_script(_SET_PRESENCE)
        self._release_orphan = client.register_script(_RELEASE_ORPHAN)
        self._confirm = client.register_script(_CONFIRM)

    async def upsert_agent(self, agent: Agent, keep_presence: bool = False) -> None:
        """Write the agent's roster entry. With `keep_presence` a presence the agent already has
        stays (it changes at runtime, a copy of the roster written from config or the console's
        users must not undo it); `agent.presence` is used only for an agent new to the roster.
        One transaction, so a presence set meanwhile is never overwritten by a stale read."""
        key = keys.agent(agent.id)
        fields: dict[str, str | int] = {
            "id": agent.id,
            "name": agent.name,
            "teams": json.dumps(list(agent.teams)),
            "languages": json.dumps(list(agent.languages)),
            "capacity": agent.capacity,
        }
        async with self.client.pipeline(transaction=True) as pipe:
            if keep_presence:
                pipe.hsetnx(key, "presence", agent.presence.value)
            else:
                fields["presence"] = agent.presence.value
            pipe.hset(key, mapping=fields)
            pipe.sadd(keys.agents(), agent.id)
            await pipe.execute()

    async def set_presence(self, agent_id: str, presence: Presence) -> None:
        if not await self._set_presence(keys=[keys.agents(), keys.agent(agent_id)], args=[agent_id, presence.value]):
            raise KeyError(agent_id)

    async def remove_agent(self, agent_id: str) -> list[str]:
        """Take the agent off the roster (presence and load too); returns the conversations that
        held one of their slots, for the caller to hand on. Idempotent."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.smembers(keys.agent_load(agent_id))
            pipe.delete(keys.agent(agent_id), keys.agent_load(agent_id))
            pipe.srem(keys.agents(), agent_id)
            held, _, _ = await pipe.execute()
        return sorted(as_text(c) for c in held)

    async def roster(self) -> list[AgentLoad]:
        ids = sorted(as_text(i) for i in await self.client.smembers(keys.agents()))  # type: ignore[misc]
        async with self.client.pipeline(transaction=False) as pipe:
            for agent_id in ids:
                pipe.hgetall(keys.agent(agent_id))
                pipe.scard(keys.agent_load(agent_id))
            raw = await pipe.execute()
        out = []
        for i in range(0, len(raw), 2):
            h = {as_text(k): as_text(v) for k, v in raw[i].items()}
            if not h:
                continue
            agent = Agent(
                id=h["id"],
                name=h.get("name", h["id"]),
                teams=tuple(json.loads(h.get("teams", "[]"))),
                languages=tuple(json.loads(h.get("languages", "[]"))),
                capacity=int(h.get("capacity", 0)),
                presence=Presence(h.get("presence", "offline")),
            )
            out.append(AgentLoad(agent, int(raw[i + 1])))
        return out

    async def claim(self, conversation_id: str, agent_id: str) -> str | None:
        """Assign if the agent is online with room; returns the conversation's agent (or None)."""
        result = await self._claim(
            keys=[
                keys.agent(agent_id),
                keys.agent_load(agent_id),
                keys.assignment(conversation_id),
                keys.unconfirmed_claims(),
            ],
            args=[conversation_id, agent_id, _now_ms()],
        )
        return None if result is None else as_text(result)

    async def assigned_to(self, conversation_id: str) -> str | None:
        value = await self.client.get(keys.assignment(conversation_id))
        return None if value is None else as_text(value)

    async def release(self, conversation_id: str) -> str | None:
        """Free the agent's slot; returns the agent it was assigned to. Idempotent."""
        result = await self._release(
            keys=[keys.assignment(conversation_id), keys.unconfirmed_claims()],
            args=[conversation_id, keys.agent_load("")],
        )
        return None if result is None else as_text(result)

    async def unconfirmed(self, claimed_before_ms: int, limit: int = 500) -> list[tuple[str, int]]:
        """Claims made before this time that no sweep has seen in their conversation yet:
        (conversation id, claim time ms), oldest first."""
        found = await self.client.zrangebyscore(
            keys.unconfirmed_claims(), "-inf", claimed_before_ms, start=0, num=limit, withscores=True
        )
        return [(as_text(cid), int(score)) for cid, score in found]

    async def confirm(self, conversation_id: str, claimed_ms: int) -> None:
        """The conversation records this claim: it is no orphan."""
        await self._confirm(keys=[keys.unconfirmed_claims()], args=[conversation_id, claimed_ms])

    async def release_orphan(self, conversation_id: str, agent_id: str, claimed_ms: int) -> bool:
        """Give back the slot of this claim (found unrecorded by its conversation), unless it was
        released or made again since. Returns whether it was released."""
        result = await self._release_orphan(
            keys=[keys.assignment(conversation_id), keys.unconfirmed_claims()],
            args=[conversation_id, keys.agent_load(""), agent_id, claimed_ms],
        )
        return bool(result)

    async def dequeue(self, team: str, conversation_id: str) -> None:
        members = await self.client.zrange(keys.team_queue(team), 0, -1)
        gone = [m for m in members if parse_member(as_text(m))[0] == conversation_id]
        if gone:
            await self.client.zrem(keys.team_queue(team), *gone)

    async def queued(self, team: str, limit: int = 100) -> list[tuple[str, str | None]]:
        return [parse_member(as_text(m)) for m in await self.client.zrange(keys.team_queue(team), 0, limit - 1)]

    async def take_for(self, agent: Agent, scan: int = 50) -> list[str]:
        """Give the agent waiting conversations of their teams while they have room.

        Returns the conversation ids claimed; the caller records the assignment on each.
        """
        taken: list[str] = []
        for team in agent.teams:
            queue = keys.team_queue(team)
            for raw in await self.client.zrange(queue, 0, scan - 1):
                member = as_text(raw)
                cid, language = parse_member(member)
                if not agent.speaks(language):
                    continue
                result = await self._take(
                    keys=[
                        queue,
                        keys.agent(agent.id),
                        keys.agent_load(agent.id),
                        keys.assignment(cid),
                        keys.unconfirmed_claims(),
                    ],
                    args=[member, cid, agent.id, _now_ms()],
                )
                if result is None:
                    if await self.client.scard(keys.agent_load(agent.id)) >= agent.capacity:  # type: ignore[misc]
                        return taken
                    continue
                taken.append(cid)
        return taken


def _now_ms() -> int:
    return int(time.time() * 1000)
