"""What a heartbeat carries (JSON in Redis, read by every process and by `helpline status`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["ok", "starting", "degraded", "down"]
#: Worse statuses sort later: the worst of several is their max by this rank.
RANK: dict[str, int] = {"ok": 0, "starting": 1, "degraded": 2, "down": 3}

#: What a process does with a connector: polls it (holding its lease), waits to take over the
#: polling (`standby`), serves its webhook, or sends replies and announcements through it.
Activity = Literal["polling", "standby", "webhook", "sending"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")  # ignore: beats from newer versions


class ComponentHealth(_Model):
    """One contributed part of the health answer (e.g. the archive's lag)."""

    name: str
    status: Status = "ok"
    detail: str = ""


class ConnectorBeat(_Model):
    platform: str
    account: str
    mode: str
    activity: Activity
    status: Status = "starting"
    last_error: str | None = None
    last_poll_at: datetime | None = None
    lag_seconds: float | None = None


class ProcessBeat(_Model):
    id: str
    roles: tuple[str, ...]
    host: str
    pid: int
    version: str
    started_at: datetime
    beat_at: datetime
    ttl_seconds: float
    connectors: tuple[ConnectorBeat, ...] = ()
    components: tuple[ComponentHealth, ...] = ()


def worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: RANK.get(s, 3), default="ok")
