"""`helpline status`: the shared view as two plain tables (processes, then accounts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from .view import DeskHealth


def _ago(when: datetime, now: datetime) -> str:
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]


def status_table(desk: DeskHealth, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    lines = [f"desk: {desk.status}" + ("" if desk.redis else " (redis does not answer)")]
    processes = [
        (
            b.id,
            ",".join(b.roles) or "-",
            b.version,
            _ago(b.started_at, now),
            _ago(b.beat_at, now) + " ago",
            " ".join(f"{c.platform}/{c.account}:{c.activity}:{c.status}" for c in b.connectors) or "-",
        )
        for b in desk.processes
    ]
    lines += ["", *_table(("PROCESS", "ROLES", "VERSION", "UP", "BEAT", "CONNECTORS"), processes)]
    accounts = [(f"{a.platform}/{a.account}", a.mode, a.served_by or "-", a.status, a.detail) for a in desk.accounts]
    lines += ["", *_table(("ACCOUNT", "MODE", "SERVED BY", "STATUS", "DETAIL"), accounts)]
    components = [(c.name, process, c.status, c.detail) for process, c in desk.components]
    if components:
        lines += ["", *_table(("COMPONENT", "PROCESS", "STATUS", "DETAIL"), components)]
    return "\n".join(lines)
