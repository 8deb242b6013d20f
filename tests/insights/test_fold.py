"""The metric fold on constructed histories (pure)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from helpline.insights.buckets import bucket_of
from helpline.insights.cube import Increment
from helpline.insights.fold import Context, Item, State, event_item, fold, merge, message_item
from helpline.insights.settings import SlaPolicy
from helpline.routing.hours import BusinessHours
from helpline.routing.models import EventType
from tests.insights.helpers import ev, opened

KST = ZoneInfo("Asia/Seoul")
SEOUL = BusinessHours(timezone="Asia/Seoul", weekly={d: ("09:00-18:00",) for d in ("mon", "tue", "wed", "thu", "fri")})


def ctx(**kw: object) -> Context:
    base: dict[str, object] = {
        "platform": "x",
        "account": "main",
        "language": "ko",
        "zone": ZoneInfo("UTC"),
        "hours": {"support": SEOUL},
    }
    base.update(kw)
    return Context(**base)  # type: ignore[arg-type]


def run(
    messages: list[datetime], events: list, c: Context | None = None, state: State | None = None
) -> tuple[State, list[Increment]]:
    st = state or State()
    items = merge([message_item(int(m.timestamp() * 1000) * 1000) for m in messages], [event_item(e) for e in events])
    return st, fold(st, items, c or ctx())


def total(incs: list[Increment], field: str, dim: str = "all") -> int:
    return sum(i.delta for i in incs if i.day and i.dim == dim and i.field == field)


def hist(incs: list[Increment], metric: str) -> list[int]:
    return [int(i.field.split("|")[1]) for i in incs if i.dim == "#" and i.field.startswith(metric + "|")]


def test_friday_evening_to_monday_morning_is_sixty_business_minutes() -> None:
    fri = datetime(2026, 11, 20, 17, 30, tzinfo=KST)  # a Friday
    mon = datetime(2026, 11, 23, 9, 30, tzinfo=KST)
    _, incs = run([fri], [*opened("0-1", fri), ev("0-1", EventType.REPLY_QUEUED, mon, actor="agent:kim")])
    assert total(incs, "frt_bh_ms|") == 3600_000
    assert total(incs, "frt_ms|") == int((mon - fri).total_seconds()) * 1000
    assert total(incs, "frt_n|") == 1 and total(incs, "frt_n|agent:kim", "agent") == 1


def test_holiday_and_time_zone_are_respected() -> None:
    hours = SEOUL.model_copy(update={"holidays": (date(2026, 11, 23),)})
    fri = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)  # 17:30 KST Friday
    tue = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)  # 09:30 KST Tuesday, Monday a holiday
    _, incs = run(
        [fri],
        [*opened("0-1", fri), ev("0-1", EventType.REPLY_QUEUED, tue, actor="agent:kim")],
        ctx(hours={"support": hours}),
    )
    assert total(incs, "frt_bh_ms|") == 3600_000


def test_bot_answers_are_counted_apart_from_human_responses() -> None:
    t0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    m = lambda s: t0 + timedelta(seconds=s)  # noqa: E731
    events = [
        *opened("0-1", m(1)),
        ev("0-1", EventType.BOT_ASSIGNED, m(1), bot="faq"),
        ev("0-1", EventType.REPLY_QUEUED, m(31), actor="bot:faq"),
        ev("0-1", EventType.REPLY_QUEUED, m(700), actor="bot:faq"),
        ev("0-1", EventType.REPLY_QUEUED, m(700.5), actor="system"),  # the survey: not an answer
        ev("0-1", EventType.STATUS, m(701), actor="bot:faq", status="resolved", by_bot=True),
    ]
    st, incs = run([m(0), m(100), m(200)], events, ctx(hours={}))
    # No human ever answered: no first or next response; the bot's two answers took 31 s and 600 s
    # (the second wait began at the 2nd message).
    assert total(incs, "frt_n|") == 0 and total(incs, "nrt_n|") == 0 and total(incs, "replies|") == 0
    assert total(incs, "bot_replies|") == 3 and total(incs, "bot_rt_n|") == 2
    assert total(incs, "bot_rt_ms|") == 31_000 + 600_000
    assert total(incs, "messages|") == 3 and total(incs, "opened|") == 1
    assert total(incs, "resolved|") == 1 and total(incs, "deflected|") == 1 and total(incs, "res_ms|") == 701_000
    assert total(incs, "handoff|") == 0 and total(incs, "bot_handled|") == 1
    assert hist(incs, "bot_rt") == [bucket_of(31), bucket_of(600)] == [6, 10]  # 31 s falls in (30, 60]
    assert st.status == "resolved" and st.backlog is None


def test_the_human_clock_starts_at_the_handoff_after_a_bot_answer() -> None:
    t0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    m = lambda s: t0 + timedelta(seconds=s)  # noqa: E731
    events = [
        *opened("0-1", m(0)),
        ev("0-1", EventType.BOT_ASSIGNED, m(0), bot="faq"),
        ev("0-1", EventType.REPLY_QUEUED, m(2), actor="bot:faq"),  # an answer that did not help
        ev("0-1", EventType.HANDOFF, m(40), actor="bot:faq"),
        ev("0-1", EventType.REPLY_QUEUED, m(41), actor="bot:faq"),  # "a person will reply"
        ev("0-1", EventType.REPLY_QUEUED, m(340), actor="agent:kim"),
        ev("0-1", EventType.REPLY_QUEUED, m(400), actor="agent:kim"),
    ]
    st, incs = run([m(0), m(39), m(380)], events, ctx(hours={}))
    # Handed off with nothing unanswered (e.g. by a button): the clock starts at the handoff.
    pressed_events = [
        *opened("0-1", m(0)),
        ev("0-1", EventType.BOT_ASSIGNED, m(0), bot="faq"),
        ev("0-1", EventType.REPLY_QUEUED, m(2), actor="bot:faq"),
        ev("0-1", EventType.HANDOFF, m(40), actor="bot:faq"),
        ev("0-1", EventType.REPLY_QUEUED, m(100), actor="agent:kim"),
    ]
    _, pressed = run([m(0)], pressed_events, ctx(hours={}))
    assert total(pressed, "frt_ms|") == 60_000
    # The customer's unanswered message at 39 s (which caused the handoff) -> the first human reply.
    assert total(incs, "frt_n|") == 1 and total(incs, "frt_ms|") == 301_000
    assert total(incs, "nrt_n|") == 1 and total(incs, "nrt_ms|") == 20_000  # 380 s -> 400 s
    assert total(incs, "bot_rt_n|") == 1 and total(incs, "replies|") == 2 and total(incs, "bot_replies|") == 2
    assert st.waiting_ms is None and st.first_done


def test_handoff_is_not_deflection_and_reopen_counts() -> None:
    t0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    events = [
        *opened("0-1", t0),
        ev("0-1", EventType.BOT_ASSIGNED, t0, bot="faq"),
        ev("0-1", EventType.HANDOFF, t0 + timedelta(seconds=5), actor="bot:faq"),
        ev("0-1", EventType.ASSIGNED, t0 + timedelta(seconds=5), agent="kim"),
        ev("0-1", EventType.REPLY_QUEUED, t0 + timedelta(seconds=60), actor="agent:kim"),
        ev("0-1", EventType.STATUS, t0 + timedelta(seconds=90), actor="agent:kim", status="resolved"),
        ev("0-1", EventType.REOPENED, t0 + timedelta(seconds=500)),
    ]
    st, incs = run([t0, t0 + timedelta(seconds=499)], events, ctx(hours={}))
    assert total(incs, "handoff|") == 1 and total(incs, "deflected|") == 0
    assert total(incs, "reopened|") == 1 and st.status == "open" and st.waiting_ms is not None
    # live backlog: open, assigned to kim -> not unassigned
    gauges = {(i.dim, i.field): i.delta for i in incs if i.day == ""}
    assert sum(d for (dim, f), d in gauges.items() if dim == "all" and f == "open|") == 1
    assert sum(d for (dim, f), d in gauges.items() if f.startswith("unassigned")) == 0


def test_split_processing_equals_one_pass() -> None:
    t0 = datetime(2026, 11, 2, 23, 50, tzinfo=UTC)
    events = [
        *opened("0-1", t0, labels=["withdrawal"]),
        ev("0-1", EventType.QUEUED, t0, team="support"),
        ev("0-1", EventType.ASSIGNED, t0 + timedelta(minutes=5), agent="kim"),
        ev("0-1", EventType.REPLY_QUEUED, t0 + timedelta(minutes=20), actor="agent:kim", article="2fa-reset"),
        ev("0-1", EventType.LABELS, t0 + timedelta(minutes=21), actor="agent:kim", labels=["withdrawal", "kyc"]),
        ev("0-1", EventType.STATUS, t0 + timedelta(minutes=30), actor="agent:kim", status="resolved"),
    ]
    msgs = [t0, t0 + timedelta(minutes=25)]
    items = merge([message_item(int(m.timestamp() * 1000) * 1000) for m in msgs], [event_item(e) for e in events])
    whole = fold(State(), items, ctx())
    st = State()
    pieces: list[Increment] = []
    for i in range(len(items)):
        st = State.loads(st.dumps())  # as saved in Redis between passes
        pieces += fold(st, [items[i]], ctx())
    key = lambda i: (i.day, i.platform, i.team, i.language, i.dim, i.field)  # noqa: E731

    def summed(incs: list[Increment]) -> dict:
        out: dict = {}
        for i in incs:
            out[key(i)] = out.get(key(i), 0) + i.delta
        return {k: v for k, v in out.items() if v}

    assert summed(pieces) == summed(whole)
    assert total(whole, "tagged|kb:2fa-reset", "label") == 1 and total(whole, "tagged|kyc", "label") == 1
    days = {i.day for i in whole if i.day}
    assert days == {"20261102", "20261103"}  # counted on the day each thing happened


def test_sla_met_and_breached_counted_once() -> None:
    policy = SlaPolicy(name="vip", first_response_minutes=10, resolution_minutes=60)
    t0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    events = [
        *opened("0-1", t0),
        ev(
            "0-1",
            EventType.NOTE,
            t0 + timedelta(minutes=10),
            actor="system:sla",
            sla="first_response",
            level="breach",
            instance="first_response",
        ),
        ev("0-1", EventType.REPLY_QUEUED, t0 + timedelta(minutes=15), actor="agent:kim"),
        ev("0-1", EventType.STATUS, t0 + timedelta(minutes=20), actor="agent:kim", status="resolved"),
    ]
    _, incs = run([t0], events, ctx(hours={}, policies=(policy,)))
    assert total(incs, "sla_first_response_breached|") == 1  # by the engine's event, not again on reply
    assert total(incs, "sla_first_response_met|") == 0
    assert total(incs, "sla_resolution_met|") == 1


def test_message_racing_an_earlier_reply_was_answered_by_it() -> None:
    t0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    st, _ = run(
        [t0],
        [*opened("0-1", t0), ev("0-1", EventType.REPLY_QUEUED, t0 + timedelta(seconds=9), actor="bot:faq")],
        ctx(hours={}),
    )
    late = Item(int((t0 + timedelta(seconds=5)).timestamp() * 1000), "message")
    fold(st, [late], ctx(hours={}))
    assert st.waiting_ms is None
