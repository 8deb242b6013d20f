"""The off-hours notice: tell the customer truthfully when a human will answer.

Pure: given the team's hours, the time, and the last day a notice went out for this
conversation, it returns the notice text or None. At most one notice per conversation per day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from helpline.routing.chain import BaseStep, Turn
from helpline.routing.hours import BusinessHours
from helpline.routing.models import EventType

from .catalog import Catalog


def format_opening(opening: datetime, timezone: str | None) -> str:
    """The opening time in the customer's time zone when known, else the team's, with its offset."""
    local = opening.astimezone(ZoneInfo(timezone)) if timezone else opening
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def offhours_notice(
    hours: BusinessHours,
    now: datetime,
    language: str,
    catalog: Catalog,
    last_notice_day: str | None,
    customer_timezone: str | None = None,
) -> tuple[str, str] | None:
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


@dataclass
class OffHoursStep(BaseStep):
    """A conversation queued in this turn for a closed team: the customer is told when it opens,
    at most once per conversation per day (the day is remembered in the conversation)."""

    hours: Mapping[str, BusinessHours]
    catalog: Catalog
    name: str = "off-hours"

    def check(self, turn: Turn) -> tuple[str, str, str] | None:
        team = turn.queued_team
        hours = self.hours.get(team) if team else None
        if team is None or hours is None or turn.message.auto_submitted:
            return None  # an automatic message gets no automatic answer
        notice = offhours_notice(hours, turn.now, turn.language, self.catalog, turn.fields.get("offhours_day"))
        return None if notice is None else (team, *notice)

    async def handle(self, turn: Turn, decision: tuple[str, str, str]) -> bool:
        team, text, day = decision
        turn.set(offhours_day=day)
        turn.system_reply(
            f"offhours-{day}", text, f"team {team} is closed: told the customer when it opens", notice="offhours"
        )
        turn.event(EventType.OFFHOURS, f"team {team} is closed", team=team)
        return False
