"""Weekly rollups: the recorder's script sums each day's cells into its week in the same call, the
reader covers a range with whole weeks plus the days at its edges, and every report comes out the
same as when each day is read alone (index off), over ranges that cut weeks anywhere, in the
desk's zone, and after retention cut into a week."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis.asyncio as redis

from helpline.archive.retention import _insights_days
from helpline.insights import scripts
from helpline.insights.bench import WEEKS, Builder, build
from helpline.insights.cube import week_of
from helpline.insights.reader import CubeReader
from helpline.insights.recorder import InsightsRecorder
from helpline.insights.render import all_reports
from helpline.insights.reports import MAX_DAYS, REPORTS, Query
from helpline.insights.settings import InsightsSettings
from helpline.routing import keys
from helpline.routing.models import EventType
from tests.insights.helpers import dump, ev, opened, seed

WEEK0 = date(2026, 9, 7)  # a Monday: the benchmark's history, days in Asia/Seoul
END = WEEK0 + timedelta(days=7 * WEEKS - 1)


async def _reports(reader: CubeReader, q: Query) -> dict[str, Any]:
    return {name: (await fn(reader, q)).model_dump(mode="json") for name, fn in REPORTS.items()}


async def _day_by_day(r: redis.Redis, queries: list[Query]) -> list[dict[str, Any]]:
    """Every report with the index off (every day read alone, no rollup), then the index back."""
    first = await r.hget(keys.insights_units(), "from")  # type: ignore[misc]
    await r.hdel(keys.insights_units(), "from")  # type: ignore[misc]
    try:
        return [await _reports(CubeReader(r), q) for q in queries]
    finally:
        if first is not None:
            await r.hset(keys.insights_units(), "from", first)  # type: ignore[misc]


def _ranges() -> list[Query]:
    wed = WEEK0 + timedelta(days=2)
    return [
        Query(start=wed, end=wed + timedelta(days=26)),  # cut weeks at both edges
        Query(start=WEEK0, end=WEEK0 + timedelta(days=6)),  # exactly one week
        Query(start=WEEK0 + timedelta(days=1), end=WEEK0 + timedelta(days=7)),  # 7 days, no whole week
        Query(start=WEEK0 + timedelta(days=7), end=WEEK0 + timedelta(days=12)),  # 6 days from a Monday
        Query(start=WEEK0, end=END),  # the whole history: whole weeks only
        Query(start=END - timedelta(days=MAX_DAYS - 1), end=END),  # the longest range, mostly empty
        Query(start=wed, end=END + timedelta(days=40)),  # past the end of the data
        Query(start=END - timedelta(days=29), end=END),
        Query(start=wed, end=END - timedelta(days=3), team="korea"),
        Query(start=wed, end=END - timedelta(days=3), platform="telegram", language="ko"),
        Query(start=END, end=END),
    ]


async def test_week_names_in_the_script_are_the_python_ones(r: redis.Redis) -> None:
    days = [date(2023, 12, 20) + timedelta(days=i) for i in range(5 * 366)]  # leap years, year ends
    names = [d.strftime("%Y%m%d") for d in days]
    script = (
        scripts._APPLY_INCREMENTS
        + """
local out = {}
for i = 1, #ARGV do
  local w = week_of(ARGV[i])
  out[i] = w[1]..' '..w[2]
end
return out
"""
    )
    got = await r.eval(script, 1, keys.insights_prefix(), *names)  # type: ignore[misc]
    assert [g.decode() for g in got] == [f"{week_of(n)[0]} {week_of(n)[1]}" for n in names]
    assert week_of("20261206") == ("W20261130", 6) and week_of("20280229") == ("W20280228", 1)


async def test_every_report_over_rollups_equals_the_days_summed(r: redis.Redis) -> None:
    await build(r, Builder(), WEEK0, 3_000)
    queries = _ranges()
    alone = await _day_by_day(r, queries)
    reader = CubeReader(r)
    for q, expected in zip(queries, alone, strict=True):
        assert await _reports(reader, q) == expected, q
        page = await all_reports(reader.page(), q)
        assert {name: report.model_dump(mode="json") for name, report in page.items()} == expected, q
    whole = (await reader.units()).cover(Query(start=WEEK0, end=END).days)
    assert whole == [f"W{(WEEK0 + timedelta(days=7 * w)).strftime('%Y%m%d')}" for w in range(WEEKS)]
    cut = (await reader.units()).cover(queries[0].days)  # Wednesday to Monday four weeks later
    assert [u for u in cut if u.startswith("W")] == ["W20260914", "W20260921", "W20260928"]
    assert len(cut) == 3 + 5 + 1
    longest = (await reader.units()).cover(queries[5].days)
    assert len(longest) == WEEKS  # empty days and weeks are not read


async def test_retention_cutting_a_week_keeps_every_figure_exact(r: redis.Redis) -> None:
    await build(r, Builder(), WEEK0, 3_000)
    thursday = WEEK0 + timedelta(days=7 + 3)
    cut_week = week_of(thursday.strftime("%Y%m%d"))[0]
    first_week = week_of(WEEK0.strftime("%Y%m%d"))[0]
    assert await _insights_days(r, thursday.strftime("%Y%m%d")) == 10
    units = {k.decode(): v.decode() for k, v in (await r.hgetall(keys.insights_units())).items()}  # type: ignore[misc]
    assert units[cut_week] == "0" and first_week not in units and WEEK0.strftime("%Y%m%d") not in units
    assert not await r.exists(keys.insights_counters(cut_week, "*|*|*", "all"), keys.insights_scopes(first_week))
    queries = [Query(start=WEEK0, end=END), Query(start=WEEK0 + timedelta(days=7), end=WEEK0 + timedelta(days=13))]
    alone = await _day_by_day(r, queries)
    assert alone[0]["summary"]["figures"]["opened"] > 0
    for q, expected in zip(queries, alone, strict=True):
        assert await _reports(CubeReader(r), q) == expected
    # a late count for a day of the cut week goes to the day only: the week stays cut, figures exact
    saturday = thursday + timedelta(days=2)
    commit = r.register_script(scripts.COMMIT)
    late = [saturday.strftime("%Y%m%d"), "telegram", "korea", "ko", "all", "opened|", 5]
    assert await commit(keys=[keys.insights_prefix()], args=[1, "0-9", "0", "0", "1", "0", "{}", "", 1, *late]) == [1]
    assert not await r.exists(keys.insights_counters(cut_week, "*|*|*", "all"))
    assert await r.hget(keys.insights_units(), cut_week) == b"0"  # type: ignore[misc]
    alone = await _day_by_day(r, queries)
    for q, expected in zip(queries, alone, strict=True):
        assert await _reports(CubeReader(r), q) == expected


async def test_recorded_in_the_desks_zone_rollups_match_and_reports_agree(r: redis.Redis) -> None:
    """Los Angeles: a conversation at 23:30 local on Sunday is Sunday's (and the week before the
    Monday's), one at 00:30 on Monday the next week's; the recorder started on an empty desk."""
    zone = "America/Los_Angeles"
    sunday_late = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)  # Sunday 2026-11-15 23:30 PST
    monday_early = datetime(2026, 11, 16, 8, 30, tzinfo=UTC)  # Monday 2026-11-16 00:30 PST
    starts = [sunday_late, monday_early] + [sunday_late + timedelta(days=d, hours=d) for d in range(1, 12)]
    for i, at in enumerate(starts):
        cid = f"{i % 4}-{i}"
        await seed(r, cid, messages=[at], events=[*opened(cid, at, labels=["deposit" if i % 2 else "kyc"])])
        reply = at + timedelta(seconds=90 + 30 * i)
        await seed(r, cid, messages=[], events=[ev(cid, EventType.REPLY_QUEUED, reply, actor="agent:kim")])
    await r.hset(keys.insights_units(), "from", "0")  # type: ignore[misc]  # the recorder started with the desk
    rec = InsightsRecorder(r, InsightsSettings(timezone=zone))
    assert await rec.process([f"{i % 4}-{i}" for i in range(len(starts))]) == len(starts)
    cells = await dump(r)
    assert cells[keys.insights_counters("20261115", "*|*|*", "all")]["opened|"] == 1
    assert cells[keys.insights_counters("W20261109", "*|*|*", "all")]["opened|"] == 1
    assert cells[keys.insights_counters("W20261116", "*|*|*", "all")]["opened|"] == 7
    week_hours = cells[keys.insights_counters("W20261109", "*|*|*", "hour")]
    assert week_hours["opened|23|6"] == 1 and all(f.endswith("|23|6") for f in week_hours)  # Sunday 23h
    queries = [
        Query(start=date(2026, 11, 10), end=date(2026, 11, 30)),
        Query(start=date(2026, 11, 16), end=date(2026, 11, 22)),
        Query(start=date(2026, 11, 15), end=date(2026, 11, 16)),
    ]
    alone = await _day_by_day(r, queries)
    for q, expected in zip(queries, alone, strict=True):
        assert await _reports(CubeReader(r), q) == expected
    assert alone[0]["summary"]["figures"]["opened"] == len(starts)
    heat = alone[0]["heatmap"]["cells"]
    assert heat[6][23] == 1 and heat[0][0] == 1  # Sunday 23h, Monday 0h
