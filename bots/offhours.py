"""The off-hours notice: tell the customer truthfully when a human will answer.

Pure: given the team's hours, the time, and the last day a notice went out for this
conversation, it returns the notice text or None. At most one notice per conversation per day.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from helpline.routing.hours import BusinessHours

from .catalog import Catalog


def format_opening(opening: datetime, timezone: str | None) -> str:
    """The opening time in the customer's time zone when known, else the team's, with its offset."""
    local = opening.astimezone(ZoneInfo(timezone)) if timezone else opening
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def offhours_notice(hours: BusinessHours, now: datetime, language: str, catalog: Catalog,
                    last_notice_day: str | None, customer_timezone: str | None = None) -> tuple[str, str] | None:
    """(notice text, day stamp to remember) when the desk is closed and no notice went out today."""
    if hours.is_open(now):
        return None
    today = now.astimezone(ZoneInfo(hours.timezone)).date().isoformat()
    if last_notice_day == today:
        return None
    opening = hours.next_opening(now)
    if opening is None:
        return None
    when = format_opening(opening, customer_timezone or hours.timezone)
    return catalog.text(language, "offhours_notice", opening=when), today
