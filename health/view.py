"""The shared view: every live process's heartbeat, and what it says about the configured accounts.

An account polled by a platform is healthy when exactly one live process polls it (holds its
lease) and reports it `ok`; a webhook account when a live console serves it. A process that
sends through an account and finds it unavailable (e.g. it could not start while the platform
was down) degrades the account too, with its reason; so does an account still `starting`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as redis
from pydantic import ValidationError

from helpline.connectors.base import AccountSettings
from helpline.routing import keys
from helpline.routing.decode import as_text

from .models import ComponentHealth, ConnectorBeat, ProcessBeat, Status, worst

#: `/healthz` answers within a second even when Redis hangs: the shared reads get this long.
READ_BUDGET_S = 0.8


async def live_processes(client: redis.Redis) -> list[ProcessBeat]:
    """The heartbeats that have not expired (ids of expired ones are dropped from the index)."""
    ids = [as_text(i) for i in await client.zrange(keys.heartbeats(), 0, -1)]
    if not ids:
        return []
    raw = await client.mget([keys.heartbeat(i) for i in ids])
    beats, gone = [], []
    for process_id, value in zip(ids, raw, strict=True):
        if value is None:
            gone.append(process_id)
            continue
        try:
            beats.append(ProcessBeat.model_validate_json(value))
        except ValidationError:
            gone.append(process_id)  # written by an incompatible version: not a process we can read
    if gone:
        await client.zrem(keys.heartbeats(), *gone)
    return sorted(beats, key=lambda b: (b.roles, b.id))


@dataclass(frozen=True)
class AccountHealth:
    platform: str
    account: str
    mode: str
    status: Status
    detail: str = ""
    served_by: str | None = None  # the process polling it (or serving its webhook)
    last_poll_at: str | None = None
    lag_seconds: float | None = None
    no_live_poller: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "platform": self.platform,
            "account": self.account,
            "mode": self.mode,
            "status": self.status,
            "last_error": self.detail or None,
            "served_by": self.served_by,
            "last_poll_at": self.last_poll_at,
            "lag_seconds": self.lag_seconds,
        }


@dataclass
class DeskHealth:
    redis: bool
    processes: list[ProcessBeat] = field(default_factory=list)
    accounts: list[AccountHealth] = field(default_factory=list)
    components: list[tuple[str, ComponentHealth]] = field(default_factory=list)  # (process id, component)

    @property
    def reasons(self) -> list[str]:
        if not self.redis:
            return ["redis: does not answer"]
        out = [
            f"{a.platform}/{a.account}: {a.status}: {a.detail or 'not started yet'}"
            for a in self.accounts
            if a.status != "ok"
        ]
        out += [f"{c.name}: {c.status}: {c.detail}" for _, c in self.components if c.status != "ok"]
        return out

    @property
    def status(self) -> str:
        if not self.redis:
            return "down"
        return "degraded" if self.reasons else "ok"

    def as_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "redis": self.redis,
            "reasons": self.reasons,
            "connectors": [a.as_json() for a in self.accounts],
            "components": [{"process": p, **c.model_dump(mode="json")} for p, c in self.components],
            "processes": [
                {
                    "id": b.id,
                    "roles": list(b.roles),
                    "host": b.host,
                    "pid": b.pid,
                    "version": b.version,
                    "beat_at": b.beat_at.isoformat(),
                }
                for b in self.processes
            ],
        }


def assess(processes: Sequence[ProcessBeat], accounts: Sequence[AccountSettings]) -> DeskHealth:
    """What the heartbeats say about each configured account and every contributed component."""
    by_account: dict[tuple[str, str], list[tuple[str, ConnectorBeat]]] = {}
    for beat in processes:
        for c in beat.connectors:
            by_account.setdefault((c.platform, c.account), []).append((beat.id, c))
    out = DeskHealth(redis=True, processes=list(processes))
    for account in accounts:
        seen = by_account.get((account.platform, account.name), [])
        wanted = "polling" if account.mode == "polling" else "webhook"
        serving = [(p, c) for p, c in seen if c.activity == wanted]
        others = [
            (p, c) for p, c in seen if c.activity not in ("polling", "webhook") and c.status in ("degraded", "down")
        ]
        if not serving:
            standby = sum(1 for _, c in seen if c.activity == "standby")
            detail = (
                "no live poller" + (f" ({standby} on standby)" if standby else "")
                if wanted == "polling"
                else "no live console serves its webhook"
            )
            detail += "".join(
                f"; {other.activity} in {p}: {other.last_error or other.status}"
                for p, other in seen
                if other.status in ("degraded", "down")
            )
            out.accounts.append(
                AccountHealth(account.platform, account.name, account.mode, "down", detail, no_live_poller=True)
            )
            continue
        best = min(serving, key=lambda pc: ("ok", "starting", "degraded", "down").index(pc[1].status))
        process_id, state = best
        status, detail = state.status, state.last_error or ""
        for other_process, other in others:
            if worst([status, other.status]) != status:
                status = other.status
                detail = f"{other.activity} in {other_process}: {other.last_error or other.status}"
        out.accounts.append(
            AccountHealth(
                account.platform,
                account.name,
                account.mode,
                status,
                detail,
                served_by=process_id,
                last_poll_at=state.last_poll_at.isoformat() if state.last_poll_at else None,
                lag_seconds=state.lag_seconds,
            )
        )
    # A component several processes contribute (the archive's lag, seen by every router and
    # archiver) is one line: the worst report of it.
    by_name: dict[str, tuple[str, ComponentHealth]] = {}
    for beat in processes:
        for component in beat.components:
            known = by_name.get(component.name)
            if known is None or worst([known[1].status, component.status]) != known[1].status:
                by_name[component.name] = (beat.id, component)
    out.components = list(by_name.values())
    return out


async def desk_health(
    client: redis.Redis,
    accounts: Sequence[AccountSettings],
    local: ProcessBeat | None = None,
    budget: float = READ_BUDGET_S,
) -> DeskHealth:
    """The shared view within `budget` seconds; Redis not answering in time is `down`.
    `local` is the asking process's own beat, counted live even before it is first written."""
    try:
        async with asyncio.timeout(budget):
            await client.ping()
            processes = await live_processes(client)
    except (redis.ConnectionError, redis.TimeoutError, TimeoutError, OSError):
        unreachable = assess([local] if local else [], accounts)
        unreachable.redis = False
        return unreachable
    if local is not None:
        processes = [p for p in processes if p.id != local.id] + [local]
    return assess(processes, accounts)
