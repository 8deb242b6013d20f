"""How the timeline is laid out: runs of events and other conversations collapse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpline.console.schemas import TimelineItem
from helpline.console.timeline import items_of
from helpline.console.timeline_view import EventRun, OtherConversation, entries
from helpline.routing.models import Conversation, ConversationEvent, EventType, MessageKind

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def item(
    kind: str, minute: int, cid: str = "c1", current: bool = True, text: str = "", event: str | None = None
) -> TimelineItem:
    return TimelineItem(
        kind=kind,
        at=T0 + timedelta(minutes=minute),
        conversation_id=cid,
        platform="telegram",
        text=text,
        event=event,
        current=current,
    )


def test_runs_of_events_collapse_and_a_lone_event_stays_a_line() -> None:
    timeline = [
        item("message", 0, text="hi"),
        item("event", 1, event="created"),
        item("event", 2, event="assigned"),
        item("event", 3, event="assigned"),
        item("reply", 4, text="hello"),
        item("event", 5, event="resolved"),
    ]
    laid = entries(timeline)
    assert [e.kind for e in laid] == ["message", "events", "reply", "event"]
    run = laid[1]
    assert isinstance(run, EventRun)
    assert len(run.items) == 3 and run.types == ["created", "assigned"] and run.at == T0 + timedelta(minutes=3)
    assert run.key == "events:2026-12-01T09:01:00Z"  # as the JSON API writes the time, for the live layout


def test_each_other_conversation_is_one_block_where_it_began() -> None:
    old = [item("message", i, cid="old", current=False, text=f"question {i}") for i in range(30)]
    old.insert(5, item("reply", 5, cid="old", current=False, text="answer"))
    other = [item("message", 40, cid="x", current=False, text="y" * 200)]
    now = [item("message", 35, text="new question"), item("event", 36, event="created")]
    laid = entries(sorted([*old, *other, *now], key=lambda it: it.at))
    assert [e.kind for e in laid] == ["other", "message", "event", "other"]
    block = laid[0]
    assert isinstance(block, OtherConversation)
    assert (block.messages, block.replies, block.preview) == (30, 1, "question 0")
    assert block.started == T0 and block.key == "other:old"
    last = laid[3]
    assert isinstance(last, OtherConversation) and len(last.preview) == 80 and last.preview.endswith("…")


def test_an_sla_breach_note_reads_as_its_reason() -> None:
    conv = Conversation(
        id="c1",
        platform="null",
        account="main",
        thread_key="t",
        contact_id="k",
        kind=MessageKind.DIRECT,
        created_at=T0,
        updated_at=T0,
    )
    breach = ConversationEvent(
        conversation_id="c1",
        type=EventType.NOTE,
        actor="sla",
        reason="SLA default: first response target passed (due 09:30)",
        at=T0,
    )
    agent_note = ConversationEvent(
        conversation_id="c1",
        type=EventType.NOTE,
        actor="agent:amy",
        reason="internal note",
        data={"text": "called them"},
        at=T0,
    )
    notes = items_of(conv, [], [breach, agent_note], [], current=True)
    assert [n.text for n in notes] == ["SLA default: first response target passed (due 09:30)", "called them"]
