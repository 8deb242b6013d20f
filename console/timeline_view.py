"""How a conversation's timeline is laid out for reading: a run of routing events becomes one
expandable line, and each of the person's other conversations one collapsed block with a summary,
placed where it began. static/conversation.js lays out live updates by the same rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .schemas import TimelineItem

PREVIEW = 80  # characters of an other conversation's first message in its summary


@dataclass(frozen=True)
class EventRun:
    """Routing events in a row, shown as one line that opens to list them."""

    items: list[TimelineItem]
    kind: Literal["events"] = "events"

    @property
    def key(self) -> str:  # stays the same across live refreshes, so an opened run stays open
        return "events:" + str(self.items[0].model_dump(mode="json", include={"at"})["at"])

    @property
    def types(self) -> list[str]:
        return list(dict.fromkeys((it.event or "").replace("_", " ") for it in self.items))

    @property
    def at(self) -> datetime:
        return self.items[-1].at


@dataclass(frozen=True)
class OtherConversation:
    """Another conversation of the same person, collapsed to a summary until opened."""

    conversation_id: str
    platform: str
    items: list[TimelineItem]
    kind: Literal["other"] = "other"

    @property
    def key(self) -> str:
        return "other:" + self.conversation_id

    @property
    def messages(self) -> int:
        return sum(it.kind == "message" for it in self.items)

    @property
    def replies(self) -> int:
        return sum(it.kind == "reply" for it in self.items)

    @property
    def preview(self) -> str:
        first = next((it.text for it in self.items if it.kind == "message" and it.text), "")
        return first if len(first) <= PREVIEW else first[: PREVIEW - 1] + "…"

    @property
    def started(self) -> datetime:
        return self.items[0].at

    @property
    def ended(self) -> datetime:
        return self.items[-1].at


Entry = TimelineItem | EventRun | OtherConversation


def entries(timeline: Sequence[TimelineItem]) -> list[Entry]:
    """Pure: the timeline (sorted by time) as it is laid out. The current conversation's messages,
    replies and notes stay as they are, a lone event stays a line, two or more events in a row
    become one run; every item of another conversation goes into that conversation's block, which
    stands where its first item would."""
    out: list[Entry] = []
    others: dict[str, OtherConversation] = {}
    run: list[TimelineItem] = []

    def close_run() -> None:
        if len(run) > 1:
            out.append(EventRun(items=list(run)))
        else:
            out.extend(run)
        run.clear()

    for it in timeline:
        if not it.current:
            block = others.get(it.conversation_id)
            if block is None:
                close_run()
                block = others[it.conversation_id] = OtherConversation(it.conversation_id, it.platform, [])
                out.append(block)
            block.items.append(it)
        elif it.kind == "event":
            run.append(it)
        else:
            close_run()
            out.append(it)
    close_run()
    return out
