"""The explicit move to private (routing.outbound.private_followup) on each platform."""

from datetime import UTC, datetime

import pytest

from helpline.connectors.errors import Permanent
from helpline.connectors.telegram.ids import parse_thread
from helpline.connectors.x.outbound import plan_reply
from helpline.routing.models import Conversation, MessageKind
from helpline.routing.outbound import private_followup


def public_conversation(platform: str, thread: str) -> Conversation:
    now = datetime.now(UTC)
    return Conversation(
        id="0-1",
        platform=platform,
        account="main",
        kind=MessageKind.MENTION,
        thread_key=thread,
        contact_id=f"{platform}:main:42",
        created_at=now,
        updated_at=now,
    )


def test_x_private_followup_is_a_dm_to_the_author_never_a_tweet() -> None:
    reply = private_followup(
        public_conversation("x", "tweet:100"),
        reply_id="r1",
        text="please delete that post",
        sender="bot:helpcenter",
        recipient_id="42",
    )
    plan = plan_reply(reply, own_id="7")
    assert plan.channel == "dm" and plan.target == "42"


def test_x_private_followup_to_ourselves_is_refused() -> None:
    reply = private_followup(
        public_conversation("x", "tweet:100"), reply_id="r1", text="x", sender="bot:helpcenter", recipient_id="7"
    )
    with pytest.raises(Permanent):
        plan_reply(reply, own_id="7")


def test_telegram_private_followup_goes_to_the_users_private_chat() -> None:
    reply = private_followup(
        public_conversation("telegram", "chat:-100:user:42"),
        reply_id="r1",
        text="x",
        sender="bot:helpcenter",
        recipient_id="42",
    )
    ref = parse_thread(reply.thread_key)
    assert ref.chat_id == 42 and ref.chat_id > 0  # a private chat, never the group


def test_x_public_replies_start_with_the_customers_handle_once() -> None:
    from helpline.routing.outbound import reply_to

    conv = public_conversation("x", "tweet:100")
    reply = reply_to(
        conv,
        reply_id="r2",
        text="Deposits need 12 confirmations.",
        sender="bot:helpcenter",
        in_reply_to="101",
        recipient_id="42",
    )
    assert plan_reply(reply, own_id="7", mention="minji_k").parts[0].startswith("@minji_k Deposits")
    already = reply_to(
        conv, reply_id="r3", text="@Minji_K thanks!", sender="agent:amy", in_reply_to="101", recipient_id="42"
    )
    assert plan_reply(already, own_id="7", mention="@minji_k").parts[0].startswith("@Minji_K thanks! (ref ")
