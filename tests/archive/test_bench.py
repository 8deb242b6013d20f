import pytest

from helpline.archive import bench
from helpline.archive.bench import archive_benchmark
from helpline.archive.database import Database
from helpline.bench_guard import BenchmarkRefused


async def test_a_small_archive_benchmark_runs_end_to_end(db: Database, database_url: str) -> None:
    # `db` empties the record first: the benchmark refuses one that holds conversations.
    result = await archive_benchmark(60, 3, database_url, None, queries=20)
    assert result["messages"] == 180
    assert result["archived"] == result["evicted"] == 60
    assert result["lost"] == 0 and result["duplicated"] == 0
    # After eviction only the fixed per-partition keys remain (streams, counters), whatever N is.
    assert result["redis_bytes_per_archived_conversation"] < 1500
    assert result["search_p99_ms"] > 0 and result["history_p99_ms"] > 0
    assert result["archivers"] == (1 if db.is_sqlite else 2)  # `database.archivers`' default


async def test_the_archive_benchmark_with_archiver_processes(db: Database, database_url: str) -> None:
    if db.is_sqlite:
        with pytest.raises(BenchmarkRefused, match="SQLite takes one writer"):
            await archive_benchmark(10, 1, database_url, None, queries=1, archivers=2)
        return
    result = await archive_benchmark(120, 3, database_url, None, queries=5, archivers=3)
    assert result["archivers"] == 3 and result["archiver_cpu_us_per_message"] > 0
    assert result["archived"] == result["evicted"] == 120
    assert result["lost"] == 0 and result["duplicated"] == 0


async def test_a_refused_archive_benchmark_starts_no_redis(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server started before the refusal was never stopped: it outlived the command.
    started: list[object] = []
    monkeypatch.setattr(bench.EmbeddedRedis, "start", lambda self: started.append(self) or self)
    with pytest.raises(BenchmarkRefused):  # SQLite: one writer; PostgreSQL: more than the partitions
        await archive_benchmark(10, 1, database_url, None, queries=1, archivers=999)
    assert started == []
