"""The reports page reads each key once however many of its reports need it, and its figures are
the ones each report gives on its own and the ones summed straight from the raw cells, on a
generated history (the benchmark's direct build)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
import redis.asyncio as redis
from redis.asyncio.client import Pipeline

from helpline.insights.bench import WEEKS, Builder, build
from helpline.insights.reader import CubeReader
from helpline.insights.render import all_reports
from helpline.insights.reports import MAX_DAYS, REPORTS, Query
from helpline.routing import keys

WEEK0 = date(2026, 9, 7)
END = WEEK0 + timedelta(days=7 * WEEKS - 1)


async def test_the_page_reads_each_key_once_and_gives_each_reports_figures(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    await build(r, Builder(), WEEK0, 3_000)
    plain = CubeReader(r)
    read: list[str] = []
    for command in ("hgetall", "smembers"):
        original = getattr(Pipeline, command)

        def record(pipe: Pipeline, name: bytes | str, _original: Any = original) -> Any:
            read.append(name if isinstance(name, str) else name.decode())
            return _original(pipe, name)

        monkeypatch.setattr(Pipeline, command, record)
    queries = [
        Query(start=END - timedelta(days=29), end=END),
        Query(start=WEEK0, end=END),
        Query(start=END - timedelta(days=MAX_DAYS - 1), end=END),
        Query(start=WEEK0, end=END, team="korea"),
        Query(start=WEEK0, end=END, platform="telegram"),
    ]
    for q in queries:
        alone = {name: (await fn(plain, q)).model_dump(mode="json") for name, fn in REPORTS.items()}
        read.clear()
        page = await all_reports(plain, q)
        assert {name: report.model_dump(mode="json") for name, report in page.items()} == alone
        assert read and Counter(read).most_common(1)[0][1] == 1, Counter(read).most_common(3)  # each key once
    # the figures summed straight from the raw cells
    q = queries[1]
    opened = heat = 0
    agents: Counter[str] = Counter()
    for d in q.days:
        day = d.strftime("%Y%m%d")
        cells = {k.decode(): int(v) for k, v in (await r.hgetall(keys.insights_counters(day, "*|*|*", "all"))).items()}
        opened += cells.get("opened|", 0)
        hours = await r.hgetall(keys.insights_counters(day, "*|*|*", "hour"))
        heat += sum(int(v) for k, v in hours.items() if k.decode().startswith("opened|"))
        for k, v in (await r.hgetall(keys.insights_counters(day, "*|*|*", "agent"))).items():
            metric, _, who = k.decode().partition("|")
            agents[who] += int(v) if metric in ("replies", "bot_replies") else 0
    page = await all_reports(plain, q)
    assert page["summary"].model_dump()["figures"]["opened"] == opened > 0
    assert sum(map(sum, page["heatmap"].model_dump()["cells"])) == opened == heat
    assert {a["agent"]: a["replies"] for a in page["agents"].model_dump()["agents"]} == dict(agents)
