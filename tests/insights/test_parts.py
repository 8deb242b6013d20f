"""Ratings, business-hours arithmetic, histograms, SVG escaping, key names, the live worker."""

import asyncio
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import redis.asyncio as redis

from helpline.insights import svg
from helpline.insights.bizclock import add_open_seconds
from helpline.insights.buckets import EDGES, bucket_of, percentile
from helpline.insights.cube import Increment, fan_out
from helpline.insights.errors import InvalidRating
from helpline.insights.ratings import RatingStore
from helpline.insights.reader import CubeReader
from helpline.insights.recorder import InsightsRecorder
from helpline.insights.reports import Query, csat
from helpline.insights.settings import SlaPolicy
from helpline.insights.worker import InsightsWorker
from helpline.routing import keys
from helpline.routing.hours import BusinessHours
from tests.insights.helpers import dump, opened, seed

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


async def test_rating_is_counted_once_and_replaced_not_added(r: redis.Redis) -> None:
    await seed(r, "0-1", messages=[T0], events=opened("0-1", T0))
    store = RatingStore(r)
    await store.record_rating("0-1", 2, "slow", agent="kim", at=T0)
    await store.record_rating("0-1", 2, "slow", agent="kim", at=T0 + timedelta(seconds=5))  # redelivered
    once = await dump(r)
    await store.record_rating("0-1", 5, "sorted now", agent="kim", at=T0 + timedelta(minutes=1))
    report = await csat(CubeReader(r), Query(start=T0.date(), end=T0.date()))
    assert report.average == 5.0 and [d["count"] for d in report.distribution] == [0, 0, 0, 0, 1]
    agent = await r.hget(keys.insights_counters("20261102", "*|*|*", "agent"), "csat_sum|agent:kim")  # type: ignore[misc]
    assert int(agent) == 5
    assert once[keys.insights_counters("20261102", "*|*|*", "all")]["csat_n|"] == 1
    saved = await store.get("0-1")
    assert saved is not None and saved.comment == "sorted now"
    with pytest.raises(InvalidRating, match="score"):
        await store.record_rating("0-1", 6)
    with pytest.raises(InvalidRating, match="conversation_id"):
        await store.record_rating("9-9", 3)


def test_add_open_seconds_inverts_open_seconds_between() -> None:
    hours = BusinessHours(
        timezone="Asia/Seoul",
        weekly={d: ("09:00-12:00", "13:00-18:00") for d in ("mon", "tue", "wed", "thu", "fri")},
        holidays=(date(2026, 11, 23),),
    )
    start = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # Friday 17:00 KST
    for minutes in (30, 60, 61, 180, 600, 1000):
        due = add_open_seconds(hours, start, minutes * 60)
        assert due is not None and hours.open_seconds_between(start, due) == minutes * 60
    # 60 open minutes from Friday 17:00 KST: 17:00-18:00 Friday; Monday is a holiday
    assert add_open_seconds(hours, start, 3600) == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert add_open_seconds(hours, start, 3601) == datetime(2026, 11, 24, 0, 0, 1, tzinfo=UTC)  # Tue 09:00:01


def test_percentiles_from_buckets() -> None:
    samples = [10, 20, 40, 50, 70, 100, 400, 4000]
    counts: dict[int, int] = {}
    for s in samples:
        counts[bucket_of(s)] = counts.get(bucket_of(s), 0) + 1
    p50 = percentile(counts, 50)
    assert p50 is not None and 30 < p50 <= 60  # the true median (50) lies in (30, 60]
    p100 = percentile(counts, 100)
    assert p100 is not None and 3600 < p100 <= 5400
    assert percentile({}, 50) is None and bucket_of(EDGES[-2] * 10) == len(EDGES) - 1


def test_svg_escapes_text_and_is_accessible() -> None:
    chart = svg.bar_chart(['<b>"x"&</b>'], [3], "Top <topics>")
    assert "<b>" not in chart and "&lt;b&gt;&quot;x&quot;&amp;&lt;/b&gt;" in chart
    assert 'role="img"' in chart and "<title id=" in chart and "Top &lt;topics&gt;" in chart
    line = svg.line_chart(["a", "b", "c"], {"p50": [1.0, None, 3.0]}, "t")
    assert line.count("<polyline") == 1 and "1.0,24" not in line and line.count('class="point"') == 2


def test_a_chart_of_one_day_draws_its_point_and_ticks_never_repeat() -> None:
    one = svg.line_chart(["11-02"], {"p50": [0.02]}, "t")
    assert one.count('class="point"') == 1 and "0.02" in one
    ticks = re.findall(r'text-anchor="end">([^<]+)</text>', one)
    assert ticks == ["0.000", "0.005", "0.010", "0.015", "0.020"] and len(set(ticks)) == len(ticks)
    assert svg.nice_ticks(7) == [0, 2, 4, 6, 8] and svg.nice_ticks(1300)[-1] >= 1300


def test_fan_out_writes_every_scope_combination() -> None:
    cells = fan_out([Increment("20261102", "x", "support", "ko", "all", "opened|", 1)])
    assert len(cells.hashes) == 8 + 8 + 1  # the day's, its week's (2026-11-02 is a Monday), the index
    assert cells.hashes[keys.insights_counters("20261102", "*|*|*", "all")] == {"opened|": 1}
    assert cells.hashes[keys.insights_counters("W20261102", "*|*|*", "all")] == {"opened|": 1}
    assert cells.hashes[keys.insights_units()] == {"20261102": 1, "W20261102": 1}
    assert cells.sets[keys.insights_scopes("20261102")] == {
        "x|support|ko",
        "x|support|*",
        "x|*|ko",
        "x|*|*",
        "*|support|ko",
        "*|support|*",
        "*|*|ko",
        "*|*|*",
    }


async def test_lua_key_names_match_keys_module(r: redis.Redis) -> None:
    await seed(r, "0-1", messages=[T0], events=opened("0-1", T0))
    await InsightsRecorder(r, policies=[SlaPolicy(name="p", first_response_minutes=5)]).process(["0-1"])
    written = {k.decode() async for k in r.scan_iter(match=f"{keys.insights_prefix()}:*")}
    assert keys.insights_counters("20261102", "x|support|en", "hour") in written
    assert keys.insights_histograms("20261102", "*|*|*") not in written  # nothing answered yet: no latency
    assert {
        keys.insights_scopes("20261102"),
        keys.insights_state("0-1"),
        keys.insights_sla_due(),
        keys.insights_backlog("*|*|*"),
        keys.insights_backlog_scopes(),
    } <= written


async def test_worker_counts_conversations_announced_on_the_live_channel(r: redis.Redis) -> None:
    rec = InsightsRecorder(r)
    worker = InsightsWorker(r, partitions=4, recorder=rec)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, interval=3600))  # scan once at start, then only hints
    await asyncio.sleep(0.2)
    await seed(r, "0-1", messages=[T0], events=opened("0-1", T0))
    await r.publish(keys.live_channel(), json.dumps({"conversations": ["0-1"]}))
    for _ in range(50):
        if rec.counted:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert rec.counted == 1
