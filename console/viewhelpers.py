"""Small pure formatting helpers for the templates (also mirrored in static/common.js)."""

from __future__ import annotations

from datetime import UTC, datetime

from jinja2 import Environment

PLATFORMS = {"x": "X", "telegram": "Telegram", "mastodon": "Mastodon", "webchat": "Web chat"}


def platform_name(platform: str) -> str:
    return PLATFORMS.get(platform, platform.capitalize())


def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


def short_duration(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def since(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return ""
    return short_duration(((now or datetime.now(UTC)) - value).total_seconds())


def clock(value: datetime | None, now: datetime | None = None) -> str:
    """Local time of day for today, else the date (titles carry the exact UTC time)."""
    if value is None:
        return ""
    now = now or datetime.now(UTC)
    return value.strftime("%H:%M") if (now - value).total_seconds() < 86400 else value.strftime("%b %d")


def install(env: Environment) -> None:
    env.filters.update(platform_name=platform_name, iso=iso, since=since, clock=clock)
