"""Report endpoints (JSON, CSV, HTML) and /metrics through FastAPI."""

import csv
import io

import httpx
import redis.asyncio as redis
from prometheus_client.parser import text_string_to_metric_families

from helpline.insights import metrics
from tests.factories import message
from tests.insights.apps import T0, app_for, make_parts, seeded

RANGE = {"start": "2026-11-02", "end": "2026-11-03"}
SUPERVISOR = {"x-role": "supervisor"}


def client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")  # type: ignore[arg-type]


async def test_json_reports_need_the_role_and_show_figures(r: redis.Redis) -> None:
    async with client(app_for(await seeded(r))) as c:
        assert (await c.get("/api/v1/reports/summary", params=RANGE)).status_code == 403
        got = (await c.get("/api/v1/reports/summary", params=RANGE, headers=SUPERVISOR)).json()
        assert got["figures"]["opened"] == 3 and got["figures"]["resolved"] == 1
        # A human answered 0-1 after 180 s; the bot answered 2-3 after 2,400 s (not a human response).
        assert got["figures"]["csat_avg"] == 4.0 and got["figures"]["frt_avg_s"] == 180.0
        assert got["figures"]["bot_rt_avg_s"] == 2400.0 and got["figures"]["bot_replies"] == 1
        telegram = (
            await c.get("/api/v1/reports/summary", params={**RANGE, "platform": "telegram"}, headers=SUPERVISOR)
        ).json()
        assert telegram["figures"]["opened"] == 1
        heat = (await c.get("/api/v1/reports/heatmap", params=RANGE, headers=SUPERVISOR)).json()
        assert heat["cells"][0][T0.hour] == 1 and heat["cells"][0][T0.hour + 5] == 1 and heat["cells"][1][T0.hour] == 1
        topics = (await c.get("/api/v1/reports/topics", params=RANGE, headers=SUPERVISOR)).json()["topics"]
        assert {"topic": "kb:withdrawal-guide", "kind": "article", "count": 1, "previous": 0, "growth": None} in topics
        assert (await c.get("/api/v1/reports/nope", params=RANGE, headers=SUPERVISOR)).status_code == 404
        bad = await c.get(
            "/api/v1/reports/summary", params={"start": "2026-11-05", "end": "2026-11-01"}, headers=SUPERVISOR
        )
        assert bad.status_code == 422


async def test_csv_is_one_table_per_file_and_defuses_formulas(r: redis.Redis) -> None:
    async with client(app_for(await seeded(r))) as c:
        first = await c.get("/api/v1/reports/sla.csv", params=RANGE, headers=SUPERVISOR)
        assert first.headers["content-type"].startswith("text/csv")
        assert 'filename="sla_targets.csv"' in first.headers["content-disposition"]
        assert first.text.splitlines()[0] == "target,met,breached,warned,compliance"
        assert not any(line.startswith("#") for line in first.text.splitlines())
        by_team = await c.get("/api/v1/reports/sla.csv", params={**RANGE, "table": "sla_by_team"}, headers=SUPERVISOR)
        assert by_team.text.splitlines()[0].startswith("team,target,")
        missing = await c.get("/api/v1/reports/sla.csv", params={**RANGE, "table": "nope"}, headers=SUPERVISOR)
        assert missing.status_code == 404 and "sla_by_day" in missing.text
        one = await c.get(
            "/api/v1/reports/response_times.csv", params={**RANGE, "table": "response_times"}, headers=SUPERVISOR
        )
        rows = list(csv.DictReader(io.StringIO(one.text)))
        assert [row["day"] for row in rows] == ["2026-11-02", "2026-11-03"] and rows[0]["frt_n"] == "1"
        topics = (await c.get("/api/v1/reports/topics.csv", params=RANGE, headers=SUPERVISOR)).text
        assert "'=cmd" in topics and "\n=cmd" not in topics


async def test_reports_page_renders_escaped_svg_charts(r: redis.Redis) -> None:
    async with client(app_for(await seeded(r))) as c:
        page = await c.get("/reports", params=RANGE, headers=SUPERVISOR)
    assert page.status_code == 200
    html = page.text
    assert html.count("<svg") == 7 and html.count('role="img"') == 7
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'value="telegram"' in html  # filter options come from the data
    # Figures are labelled for people; the agents and backlog tables are on the page.
    assert "res bh p50 s" not in html and "Resolution, business hours: median (s)" in html
    assert "First response (human): average (s)</th><td>180.0" in html
    agents = html.split('id="h-agents"')[1].split("</section>")[0]
    assert "<td>agent:kim</td><td>1</td><td>1</td><td>180.0</td>" in agents and "<td>bot:faq</td>" in agents
    backlog = html.split('id="h-backlog"')[1].split("</section>")[0]
    assert "<td>open</td><td>all</td><td></td><td>2</td>" in backlog  # 1-2 and 2-3 are still open


async def test_metrics_are_scrapeable(r: redis.Redis) -> None:
    p = await seeded(r)
    await p.bus.ingest([message("hello")])
    metrics.observe_route(10, 0.02, failures=1)
    metrics.observe_rate_limited("x", "main")
    async with client(app_for(p)) as c:
        text = (await c.get("/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    lengths = {s.labels["stream"]: s.value for s in families["helpline_stream_length"].samples}
    assert sum(lengths.values()) == 1
    assert len(families["helpline_dead_letters"].samples) == p.settings.redis.partitions
    assert families["helpline_routed_messages"].samples[0].value >= 9
    blocks = [s for s in families["helpline_rate_limit_blocks"].samples if s.name.endswith("_total")]
    # Counters live for the whole test session: other tests may have blocked other accounts.
    assert {"platform": "x", "account": "main"} in [s.labels for s in blocks]
    assert "helpline_route_batch_seconds" in families and "helpline_sla_open_clocks" in families


async def test_a_range_in_an_early_year_is_read_like_any_other(r: redis.Redis) -> None:
    """Day names keep four-digit years ("03980110"): every report of a range in the year 398 answers,
    on a desk with figures and on a new one (no index of days yet: every day is read)."""
    early = {"start": "0398-01-01", "end": "0398-01-10"}
    await _reads_nothing_early(app_for(make_parts(r)), early)
    await _reads_nothing_early(app_for(await seeded(r)), early)


async def _reads_nothing_early(app: object, early: dict[str, str]) -> None:
    async with client(app) as c:
        for name in ("summary", "heatmap", "topics"):
            got = await c.get(f"/api/v1/reports/{name}", params=early, headers=SUPERVISOR)
            assert got.status_code == 200, (name, got.text)
        heat = (await c.get("/api/v1/reports/heatmap", params=early, headers=SUPERVISOR)).json()
        assert sum(map(sum, heat["cells"])) == 0
