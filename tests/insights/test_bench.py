"""The reports benchmark on a small history: its direct build matches the recorder, and it
reports every timing."""

import redis.asyncio as redis

from helpline.insights.bench import reports_benchmark
from tests.redis_server import RedisServer


async def test_small_reports_benchmark(r: redis.Redis, redis_server: RedisServer) -> None:
    result = await reports_benchmark(redis_server.url, 2_000, verify_sample=300)  # emptied by `r`
    assert result["verify_recorder_equals_direct"] is True
    assert result["opened_counted"] == result["conversations"] >= 1_900
    timings = [k for k in result if k.endswith("_ms")]
    assert {
        "heatmap_ms",
        "percentiles_30d_ms",
        "sla_compliance_ms",
        "csat_trend_ms",
        "top_topics_ms",
        "channel_mix_ms",
        "reports_page_whole_history_ms",
        "reports_page_longest_range_ms",
    } <= set(timings)
    assert all(isinstance(result[k], float) and result[k] > 0 for k in timings)
