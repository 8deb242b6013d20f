"""The pipeline benchmark itself: a small run through real router processes, checked end to end."""

import subprocess
import sys

import pytest
import redis.asyncio as redis
from redis import Redis as SyncRedis

from helpline.bench import pipeline_benchmark
from helpline.bench_guard import MissingArq, RedisNotEmpty, stored_keys, wipe_for_benchmark
from tests.redis_server import RedisServer


async def test_pipeline_benchmark_delivers_every_message_once() -> None:
    result = await pipeline_benchmark(400, rate=200, latency_seconds=0.5, redis_url=None, routers=2)
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["router_processes"] == 2
    assert result["messages_per_second"] > 0 and result["baseline_messages_per_second"] > 0
    assert result["latency_samples"] == 100
    assert result["p50_ms"] is not None and result["p99_ms"] is not None
    assert result["p50_ms"] <= result["p99_ms"]


async def test_the_pipeline_runs_without_arq_when_no_comparison_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "arq", None)  # as if not installed: importing it raises ImportError
    with pytest.raises(MissingArq, match="--no-baseline"):
        await pipeline_benchmark(100, rate=100, latency_seconds=0.2, redis_url=None, routers=1)
    result = await pipeline_benchmark(200, rate=100, latency_seconds=0.3, redis_url=None, routers=1, baseline=False)
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["baseline_messages_per_second"] is None and result["speedup_vs_baseline"] is None


async def test_the_pipeline_runs_with_the_deduping_account_only_and_measures_cpu() -> None:
    result = await pipeline_benchmark(
        200, rate=100, latency_seconds=0.3, redis_url=None, routers=1, baseline=False, mix="idempotent"
    )
    assert result["mix"] == "idempotent" and result["replies_without_idempotency"] == "none"
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert set(result["cpu_us_per_message"]) == {"sender_and_load", "routers", "redis"}
    assert all(v > 0 for v in result["cpu_us_per_message"].values())


def test_an_unknown_mix_is_one_clear_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "helpline", "bench", "pipeline", "--mix", "plain"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr.strip() == "--mix: one of mixed, idempotent, not 'plain'"


async def test_a_named_redis_is_wiped_only_when_empty_or_allowed(r: redis.Redis) -> None:
    await r.set("customer:data", "precious")
    with pytest.raises(RedisNotEmpty, match=r"holds 1 keys .* --yes"):
        await wipe_for_benchmark(r, named=True, wipe=False)
    assert await r.get("customer:data") == b"precious"
    await wipe_for_benchmark(r, named=True, wipe=True)
    assert await r.dbsize() == 0
    await wipe_for_benchmark(r, named=True, wipe=False)  # empty: nothing to lose
    await r.set("k", "v")
    await wipe_for_benchmark(r, named=False, wipe=False)  # the benchmark's own private server
    assert await r.dbsize() == 0


async def test_keys_in_any_database_count(redis_server: RedisServer) -> None:
    other = redis.Redis.from_url(redis_server.url, db=3)
    main = redis.Redis.from_url(redis_server.url)
    try:
        await main.flushall()
        await other.set("elsewhere", "1")
        assert await stored_keys(main) == 1
        with pytest.raises(RedisNotEmpty):
            await wipe_for_benchmark(main, named=True, wipe=False)
    finally:
        await other.flushall()
        await other.aclose()
        await main.aclose()


@pytest.mark.parametrize(
    "command",
    [
        ["bench", "pipeline", "--messages", "10", "--no-baseline"],
        ["bench", "broadcast", "--subscribers", "10"],
        ["bench", "reports", "--conversations", "10"],
    ],
)
def test_every_benchmark_refuses_a_redis_holding_data(own_redis: RedisServer, command: list[str]) -> None:
    client = SyncRedis.from_url(own_redis.url)
    client.set("customer:data", "precious")
    result = subprocess.run(
        [sys.executable, "-m", "helpline", *command, "--redis-url", own_redis.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "holds 1 keys" in result.stderr and "--yes" in result.stderr
    assert client.get("customer:data") == b"precious"
    client.close()


def test_the_comparison_run_without_arq_is_one_clear_line() -> None:
    code = (
        "import sys; sys.modules['arq'] = None; sys.argv = ['helpline', 'bench', 'pipeline', '--messages', '10'];"
        "from helpline.cli import main; main()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "helpline: the comparison run needs arq (pip install 'helpline[bench]'); "
        "pass --no-baseline to measure Helpline alone"
    )
