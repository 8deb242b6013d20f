"""Alerts of one live stream: only what becomes so after the stream opened, again after a change back."""

from __future__ import annotations

from datetime import UTC, datetime

from helpline.console.alerts import Alerts
from helpline.console.roles import Principal, Role
from helpline.routing.models import Conversation, MessageKind

T0 = datetime(2026, 12, 6, tzinfo=UTC)


def conv(cid: str, assignee: str | None = None, labels: tuple[str, ...] = ()) -> Conversation:
    return Conversation(
        id=cid,
        platform="telegram",
        account="support",
        kind=MessageKind.DIRECT,
        thread_key=cid,
        contact_id="k",
        assignee=assignee,
        labels=labels,
        created_at=T0,
        updated_at=T0,
    )


def test_assigned_and_escalated_alert_once_after_the_stream_opened() -> None:
    alerts = Alerts(Principal(username="amy", role=Role.AGENT, name="Amy", teams=("support",)))
    alerts.prime([conv("a", assignee="amy"), conv("b", labels=("escalated",))])
    assert alerts.changes([conv("a", assignee="amy"), conv("b", labels=("escalated",))]) == []  # known
    assert [(x["kind"], x["conversation_id"]) for x in alerts.changes([conv("c", assignee="amy")])] == [
        ("assigned", "c")
    ]
    assert alerts.changes([conv("c", assignee="amy")]) == []  # a later change of it: no second alert
    assert alerts.changes([conv("a", assignee="sue")]) == []  # taken away
    assert [x["kind"] for x in alerts.changes([conv("a", assignee="amy", labels=("escalated",))])] == [
        "assigned",
        "escalated",
    ]  # given back, and escalated
    assert alerts.changes([conv("b")]) == [] and [
        x["kind"] for x in alerts.changes([conv("b", labels=("escalated",))])
    ] == ["escalated"]


def test_no_alert_for_the_user_s_own_action_and_none_later_for_it() -> None:
    alerts = Alerts(Principal(username="amy", role=Role.AGENT, name="Amy", teams=("support",)))
    alerts.prime([])
    assert alerts.changes([conv("a", assignee="amy")], by="amy") == []  # she took it: she knows
    assert alerts.changes([conv("a", assignee="amy", labels=("escalated",))], by="amy") == []
    assert alerts.changes([conv("a", assignee="amy", labels=("escalated",))], by="sue") == []  # still known
    assert [x["kind"] for x in alerts.changes([conv("b", assignee="amy")], by="sue")] == ["assigned"]
    assert [x["kind"] for x in alerts.changes([conv("c", assignee="amy")])] == ["assigned"]  # the router
