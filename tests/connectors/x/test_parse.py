from datetime import UTC, datetime

import pytest
import tweepy

from helpline.connectors.errors import AuthFailed, Permanent, RateLimited, Transient
from helpline.connectors.x.cursor import Sweep, XCursor
from helpline.connectors.x.errors import map_error
from helpline.connectors.x.outbound import plan_reply
from helpline.connectors.x.parse import (
    dm_conversation_id,
    dm_page,
    mentions_page,
    strip_reply_mentions,
    webhook_dms,
    webhook_tweets,
)
from helpline.routing.models import MessageKind, OutboundReply, ReplyButton, Visibility

from .conftest import payload


def test_recorded_mentions_page() -> None:
    page = mentions_page(payload("mentions.json"), account="support", own_id="1000")
    assert page.skipped == 1  # our own tweet
    assert page.ids == ["1375152000000000001", "1375152449594523649", "1375152598945312768"]
    assert page.next_token == "7140dibdnow9c7btw3w29grvxfcgvpb9n9coehpk7xz5i"
    reply, mention = page.messages  # oldest first
    assert mention.kind is MessageKind.MENTION
    assert mention.thread_key == "tweet:1375152598945312768"
    assert mention.author.handle == "TwitterDev"
    assert mention.text == "my withdrawal has been pending for 3 hours, tx id 0xabc"
    assert mention.platform_time == datetime(2021, 3, 25, 18, 3, 48, tzinfo=UTC)
    assert reply.kind is MessageKind.REPLY  # replies to one of our tweets
    assert reply.thread_key == "tweet:1375150000000000000"
    assert reply.in_reply_to == "1375150000000000000"
    assert reply.text == "출금이 안 돼요"
    assert reply.attachments[0].platform_file_id == "3_1375152440000000000"


def test_ignored_users_are_skipped() -> None:
    page = mentions_page(payload("mentions.json"), account="support", own_id="1000", ignore={"783214"})
    assert [m.author.user_id for m in page.messages] == ["2244994945"]
    assert page.skipped == 2


def test_recorded_dm_events_page() -> None:
    page = dm_page(payload("dm_events.json"), account="support", own_id="1000", after=None)
    assert page.skipped == 1  # the DM we sent
    (dm,) = page.messages
    assert dm.kind is MessageKind.DIRECT and dm.visibility is Visibility.PRIVATE
    assert dm.thread_key == "dm:1000-1579405136138760192"
    assert dm.author.handle == "suzy_dm"
    after = dm_page(payload("dm_events.json"), account="support", own_id="1000", after="1580705921830768647")
    assert after.messages == [] and after.skipped == 0


def test_recorded_account_activity_payloads() -> None:
    tweets, skipped, rejected = webhook_tweets(payload("aaa_tweet_create_events.json"), own_id="1000")
    assert rejected == []
    assert skipped == 1  # our own reply
    first, second = tweets
    assert first.reply_to is None
    msg = second.message(account="support", own_id="1000", conversation_id="1050118621198921728")
    assert msg.kind is MessageKind.REPLY
    assert msg.thread_key == "tweet:1050118621198921728"
    assert msg.text == "still can't, this is the error: 'session expired' on every page"  # extended_tweet
    assert msg.attachments[0].url == "https://pbs.twimg.com/media/x.jpg"
    assert msg.platform_time == datetime(2018, 10, 10, 20, 21, tzinfo=UTC)
    dms, skipped, rejected = webhook_dms(payload("aaa_direct_message_events.json"), account="support", own_id="1000")
    assert rejected == []
    assert skipped == 1
    (dm,) = dms
    assert dm.thread_key == "dm:1000-3805104374"
    assert dm.author.handle == "furni" and dm.text == "Blue Bird"


def test_dm_conversation_id_orders_numerically() -> None:
    assert dm_conversation_id("1579405136138760192", "1000") == "1000-1579405136138760192"
    assert dm_conversation_id("9", "10") == "9-10"


def test_strip_reply_mentions() -> None:
    assert strip_reply_mentions("@a @b hello @c") == "hello @c"
    assert strip_reply_mentions("@helpline") == "@helpline"


def test_sweep_pages_until_done_then_moves_since() -> None:
    sweep = Sweep(since="100")
    mid = sweep.after_page(["300", "250"], "tok")
    assert mid == Sweep("100", "tok", "300")
    assert mid.after_page(["200", "150"], None) == Sweep("300", None, None)
    # DM events: a page reaching `since` ends the sweep even with a next token
    assert sweep.after_page(["120", "90"], "tok", reached_since=sweep.reached(["120", "90"])) == Sweep("120")
    # first-ever poll: no backlog paging
    assert Sweep().after_page(["5"], "tok") == Sweep("5")
    # an empty first poll still marks the start: the next sweep pages through everything
    started = Sweep().after_page([], None)
    assert started == Sweep("0") and started.since_id is None
    assert started.after_page(["9"], "tok") == Sweep("0", "tok", "9")


def test_cursor_roundtrip() -> None:
    cursor = XCursor(Sweep("1", "t", "9"), Sweep("7"))
    assert XCursor.decode(cursor.encode()) == cursor
    assert XCursor.decode(None) == XCursor()
    assert XCursor.decode("123") == XCursor(mentions=Sweep("123"))


def reply(**kw: object) -> OutboundReply:
    base: dict[str, object] = dict(
        reply_id="r1",
        conversation_id="0-1",
        platform="x",
        account="support",
        kind=MessageKind.DIRECT,
        thread_key="dm:1000-42",
        visibility=Visibility.PRIVATE,
        text="hello",
        sender="bot:faq",
    )
    base.update(kw)
    return OutboundReply.model_validate(base)


def test_direct_reply_is_planned_as_dm_only() -> None:
    plan = plan_reply(reply(recipient_id="42"), own_id="1000")
    assert plan.channel == "dm" and plan.target == "42"
    assert plan_reply(reply(), own_id="1000").target == "42"  # recipient from the conversation id
    with pytest.raises(Permanent):
        plan_reply(reply(thread_key="tweet:555"), own_id="1000")  # never a tweet
    with pytest.raises(Permanent):
        plan_reply(reply(recipient_id="77"), own_id="1000")  # not in the conversation


def test_public_reply_is_planned_as_tweet_only() -> None:
    public = dict(kind=MessageKind.MENTION, visibility=Visibility.PUBLIC, thread_key="tweet:555")
    plan = plan_reply(reply(**public, in_reply_to="556"), own_id="1000")
    assert plan.channel == "tweet" and plan.target == "556"
    assert plan_reply(reply(**public), own_id="1000").target == "555"
    with pytest.raises(Permanent):
        plan_reply(reply(**{**public, "thread_key": "dm:1000-42"}), own_id="1000")  # never a DM


def test_buttons_degrade_to_text() -> None:
    plan = plan_reply(reply(buttons=(ReplyButton(label="Yes", data="1"),)), own_id="1000")
    assert plan.parts == ("hello\n\n1 — Yes",)


class FakeResponse:
    def __init__(self, status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.reason = "reason"
        self.headers = headers or {}
        self._body = body

    def json(self) -> dict[str, object]:
        return self._body


def test_error_mapping() -> None:
    limited = map_error(tweepy.TooManyRequests(FakeResponse(429, {}), reset_time=1030), now=1000.0)
    assert isinstance(limited, RateLimited) and limited.retry_after == 30
    no_reset = map_error(tweepy.TooManyRequests(FakeResponse(429, {}), reset_time=None), now=1000.0)
    assert isinstance(no_reset, RateLimited) and no_reset.retry_after == 60
    assert isinstance(map_error(tweepy.Unauthorized(FakeResponse(401, {}))), AuthFailed)
    auth = FakeResponse(403, {"type": "https://api.twitter.com/2/problems/unsupported-authentication"})
    assert isinstance(map_error(tweepy.Forbidden(auth)), AuthFailed)
    dup = FakeResponse(
        403, {"detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank"}
    )
    assert isinstance(map_error(tweepy.Forbidden(dup)), Permanent)
    assert isinstance(map_error(tweepy.BadRequest(FakeResponse(400, {}))), Permanent)
    assert isinstance(map_error(tweepy.NotFound(FakeResponse(404, {}))), Permanent)
    assert isinstance(map_error(tweepy.TwitterServerError(FakeResponse(503, {}))), Transient)


def test_one_unreadable_item_is_skipped_not_a_wall_for_the_page() -> None:
    from helpline.connectors.x.parse import dm_page, mentions_page

    mentions = {
        "data": [
            {"id": "30", "text": "@helpline fine", "author_id": "7", "created_at": "2026-11-26T10:00:00.000Z"},
            {"id": "20", "text": "@helpline broken", "author_id": "7", "created_at": "not a time"},
            {"text": "no id at all", "author_id": "7"},
        ]
    }
    page = mentions_page(mentions, account="main", own_id="1")
    assert [m.message_id for m in page.messages] == ["30"] and page.skipped == 2
    assert page.ids == ["20", "30"]  # the cursor still moves past the unreadable one
    dms = {
        "data": [
            {"id": "9", "event_type": "MessageCreate", "sender_id": "7", "text": "hi", "created_at": "bad"},
            {
                "id": "10",
                "event_type": "MessageCreate",
                "sender_id": "7",
                "text": "hello",
                "created_at": "2026-11-26T10:00:00.000Z",
            },
        ]
    }
    page = dm_page(dms, account="main", own_id="1", after=None)
    assert [m.message_id for m in page.messages] == ["10"] and page.skipped == 1
