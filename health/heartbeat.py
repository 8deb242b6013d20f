"""A process's heartbeat: who it is, what it runs, the connectors it polls or serves and their
state, and the components contributed to it; written to Redis with a TTL and renewed every third
of it, so a process killed without warning disappears from the view within one TTL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from importlib import metadata

import redis.asyncio as redis

from helpline.connectors.base import Connector
from helpline.routing import keys

from .models import Activity, ComponentHealth, ConnectorBeat, ProcessBeat

log = logging.getLogger(__name__)

#: A contributed component's check; it should answer well within a second (it runs with a timeout).
Check = Callable[[], Awaitable[ComponentHealth]]
CHECK_TIMEOUT_S = 1.0


def helpline_version() -> str:
    try:
        return metadata.version("helpline")
    except metadata.PackageNotFoundError:
        return "unknown"


class ProcessHealth:
    """The health of this process: its roles, tracked connectors and contributed components."""

    def __init__(self, roles: Iterable[str] = (), ttl: float = 15.0) -> None:
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.id = f"{self.host}-{self.pid}-{secrets.token_hex(3)}"
        self.roles: tuple[str, ...] = tuple(roles)
        self.ttl = ttl
        self.started_at = datetime.now(UTC)
        self.version = helpline_version()
        self._connectors: list[tuple[Connector, Activity | Callable[[], Activity]]] = []
        self._components: dict[str, Check] = {}
        self._checked: tuple[ComponentHealth, ...] = ()  # the components' last results

    def add_roles(self, roles: Iterable[str]) -> None:
        self.roles = tuple(dict.fromkeys((*self.roles, *roles)))

    def track(self, connector: Connector, activity: Activity | Callable[[], Activity]) -> None:
        """Report `connector`'s state in this process's heartbeat, doing `activity` (idempotent)."""
        if not any(c is connector and a == activity for c, a in self._connectors):
            self._connectors.append((connector, activity))

    def add_component(self, name: str, check: Check) -> None:
        """Contribute a component to the health answer (replaces one of the same name)."""
        self._components[name] = check

    async def beat(self, check: bool = True) -> ProcessBeat:
        """This process's heartbeat now (runs the components' checks, each bounded in time;
        `check=False` reuses their last results: for an answer that must not wait on them)."""
        connectors = []
        for connector, activity in self._connectors:
            h = connector.health()
            doing = activity() if callable(activity) else activity
            connectors.append(
                ConnectorBeat(
                    platform=h.platform,
                    account=h.account,
                    mode=h.mode,
                    activity=doing,
                    status=h.status,
                    last_error=h.last_error,
                    last_poll_at=h.last_poll_at,
                    lag_seconds=h.lag_seconds,
                )
            )
        if check:
            self._checked = tuple([await self._check(name, run) for name, run in self._components.items()])
        components = self._checked
        return ProcessBeat(
            id=self.id,
            roles=self.roles,
            host=self.host,
            pid=self.pid,
            version=self.version,
            started_at=self.started_at,
            beat_at=datetime.now(UTC),
            ttl_seconds=self.ttl,
            connectors=tuple(connectors),
            components=components,
        )

    @staticmethod
    async def _check(name: str, check: Check) -> ComponentHealth:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                return await check()
        except TimeoutError:
            return ComponentHealth(name=name, status="degraded", detail="its health check did not answer in time")
        except Exception as exc:  # a broken check says so instead of silencing the heartbeat
            return ComponentHealth(name=name, status="degraded", detail=f"health check failed: {type(exc).__name__}")

    async def publish(self, client: redis.Redis) -> None:
        beat = await self.beat()
        async with client.pipeline(transaction=True) as pipe:
            pipe.set(keys.heartbeat(self.id), beat.model_dump_json(), px=int(self.ttl * 1000))
            pipe.zadd(keys.heartbeats(), {self.id: beat.beat_at.timestamp()})
            await pipe.execute()

    async def withdraw(self, client: redis.Redis) -> None:
        """A clean stop leaves the view at once (a crash leaves it when the TTL runs out)."""
        async with client.pipeline(transaction=True) as pipe:
            pipe.delete(keys.heartbeat(self.id))
            pipe.zrem(keys.heartbeats(), self.id)
            await pipe.execute()

    async def run(self, client: redis.Redis, stop: asyncio.Event) -> None:
        """Renew the heartbeat every third of its TTL until `stop`. Quiet when Redis is away: the
        roles' loops already say so once each."""
        interval = self.ttl / 3
        try:
            while not stop.is_set():
                try:
                    async with asyncio.timeout(interval):
                        await self.publish(client)
                except (redis.ConnectionError, redis.TimeoutError, TimeoutError):
                    pass
                except Exception:
                    log.exception("heartbeat: could not be written")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self.withdraw(client)
