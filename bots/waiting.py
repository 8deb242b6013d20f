"""The waiting notice: a customer queued for a team that is open is told that a person will
reply, and the usual wait ("usual wait: about N min") from the desk's live figures.

Only on channels that show such a notice (a live chat, where the customer watches the window:
`Capabilities.waiting_notice`); on social media the queueing stays silent. A closed team gets the
off-hours notice instead (`offhours.py`), which says when it opens.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from helpline.routing.chain import BaseStep, Turn
from helpline.routing.hours import BusinessHours

from .catalog import Catalog

#: The usual wait for a person of a team, in seconds; None when the desk cannot say.
UsualWait = Callable[[str], Awaitable[float | None]]
#: Whether an account's channel shows the notice: (platform, account) -> bool.
ShowsNotice = Callable[[str, str], bool]


def waiting_text(catalog: Catalog, language: str, seconds: float | None) -> str:
    """The notice; the wait rounded up to whole minutes (a promise kept rather than missed)."""
    if seconds is None:
        return catalog.text(language, "waiting_notice_unknown")
    return catalog.text(language, "waiting_notice", minutes=max(1, math.ceil(seconds / 60)))


@dataclass
class WaitingNoticeStep(BaseStep):
    """A conversation queued in this turn for an open team, on a channel that shows it: the
    customer is told the usual wait. Once per queueing: the reply id is derived from the message
    that queued it, and a conversation already queued is not queued again."""

    hours: Mapping[str, BusinessHours]
    catalog: Catalog
    usual_wait: UsualWait
    shows_notice: ShowsNotice
    name: str = "waiting-notice"

    def check(self, turn: Turn) -> str | None:
        team = turn.queued_team
        if team is None or turn.message.auto_submitted:
            return None
        hours = self.hours.get(team)
        if hours is not None and not hours.is_open(turn.now):
            return None  # the off-hours notice tells when it opens
        conv = turn.conversation
        return team if self.shows_notice(conv.platform, conv.account) else None

    async def handle(self, turn: Turn, team: str) -> bool:
        seconds = await self.usual_wait(team)
        text = waiting_text(self.catalog, turn.language, seconds)
        said = "unknown" if seconds is None else f"{seconds / 60:.1f} min"
        turn.system_reply(
            "waiting", text, f"queued for team {team}: told the customer the usual wait ({said})", notice="waiting"
        )
        return False
