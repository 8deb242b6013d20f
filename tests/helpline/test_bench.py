"""The pipeline benchmark itself: a small run through real router processes, checked end to end."""

from helpline.bench import pipeline_benchmark


async def test_pipeline_benchmark_delivers_every_message_once() -> None:
    result = await pipeline_benchmark(400, rate=200, latency_seconds=0.5, redis_url=None, routers=2)
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["router_processes"] == 2
    assert result["messages_per_second"] > 0 and result["baseline_messages_per_second"] > 0
    assert result["latency_samples"] == 100
    assert result["p50_ms"] is not None and result["p99_ms"] is not None
    assert result["p50_ms"] <= result["p99_ms"]
