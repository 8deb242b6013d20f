import asyncio
import contextlib

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.bus import (
    ERRORS_TTL_SECONDS,
    Entry,
    EntryKey,
    Failure,
    StreamBus,
    StreamConsumer,
    ensure_group,
    trim_acknowledged,
)
from tests.factories import message


def consumer(r: redis.Redis, bus: StreamBus, handler, name: str = "c1", **kw) -> StreamConsumer:  # type: ignore[no-untyped-def]
    return StreamConsumer(
        r,
        "g",
        name,
        bus.inbound_streams(),
        handler,
        lambda s: keys.dead_letters(int(s.split("{p")[1].split("}")[0])),
        block_ms=10,
        **kw,
    )


async def test_ingest_is_idempotent_per_platform_message(r: redis.Redis) -> None:
    bus = StreamBus(r, partitions=4)
    first = message(message_id="42")
    again = message(message_id="42", text="the same message delivered twice")
    assert await bus.ingest([first, message(message_id="43"), again]) == [True, True, False]
    total = sum([await r.xlen(s) for s in bus.inbound_streams()])
    assert total == 2


async def test_handled_entries_are_acknowledged_and_trimmed(r: redis.Redis) -> None:
    bus = StreamBus(r, partitions=1)
    seen: list[str] = []

    async def handler(entries: list[Entry]) -> dict[EntryKey, Failure]:
        seen.extend(e.id for e in entries)
        return {}

    c = consumer(r, bus, handler)
    await c.ensure_groups()
    await bus.ingest([message() for _ in range(5)])
    assert await c.step() == 5
    stream = keys.inbound_stream(0)
    assert (await r.xpending(stream, "g"))["pending"] == 0
    assert await trim_acknowledged(r, stream) == 5
    assert await r.xlen(stream) == 0


async def test_trim_keeps_pending_and_undelivered_entries(r: redis.Redis) -> None:
    bus = StreamBus(r, partitions=1)

    async def fail_first(entries: list[Entry]) -> dict[EntryKey, Failure]:
        return {entries[0].key: Failure("boom")}

    c = consumer(r, bus, fail_first)
    c.count = 3
    await c.ensure_groups()
    await bus.ingest([message() for _ in range(5)])
    await c.step()  # reads 3, the first fails and stays pending; 2 are never delivered
    stream = keys.inbound_stream(0)
    await trim_acknowledged(r, stream)
    assert await r.xlen(stream) == 5  # nothing before the pending entry may go


async def test_invalid_payload_is_dead_lettered_at_once_and_others_proceed(r: redis.Redis) -> None:
    bus = StreamBus(r, partitions=1)
    stream = keys.inbound_stream(0)
    handled: list[str] = []

    async def handler(entries: list[Entry]) -> dict[EntryKey, Failure]:
        out = {}
        for e in entries:
            if e.payload == b"not json":
                out[e.key] = Failure("invalid payload", permanent=True)
            else:
                handled.append(e.id)
        return out

    c = consumer(r, bus, handler)
    await c.ensure_groups()
    await r.xadd(stream, {"m": "not json"})
    await bus.ingest([message()])
    await c.step()
    assert len(handled) == 1
    dead = await r.xrange(keys.dead_letters(0))
    assert len(dead) == 1 and dead[0][1][b"error"] == b"invalid payload" and dead[0][1][b"m"] == b"not json"
    assert (await r.xpending(stream, "g"))["pending"] == 0


async def test_failing_entry_is_retried_then_dead_lettered_after_max_deliveries(r: redis.Redis) -> None:
    bus = StreamBus(r, partitions=1)
    attempts: list[int] = []

    async def always_fails(entries: list[Entry]) -> dict[EntryKey, Failure]:
        attempts.extend(e.deliveries for e in entries)
        return {e.key: Failure(f"attempt {e.deliveries} failed") for e in entries}

    c = consumer(r, bus, always_fails, max_deliveries=3, retry_idle_ms=20)
    await c.ensure_groups()
    await bus.ingest([message()])
    for _ in range(12):
        await c.step()
        await asyncio.sleep(0.03)
    assert attempts == [1, 2, 3]
    dead = await r.xrange(keys.dead_letters(0))
    assert len(dead) == 1
    assert dead[0][1][b"error"] == b"attempt 3 failed" and dead[0][1][b"deliveries"] == b"3"
    assert (await r.xpending(keys.inbound_stream(0), "g"))["pending"] == 0


async def test_entries_of_a_dead_consumer_are_claimed_by_a_living_one(r: redis.Redis) -> None:
    bus = StreamBus(r, partitions=1)

    async def crash(entries: list[Entry]) -> dict[EntryKey, Failure]:
        raise SystemExit  # stands for kill -9: nothing acknowledged

    dead = consumer(r, bus, crash, name="dead")
    await dead.ensure_groups()
    await bus.ingest([message(), message()])
    with contextlib.suppress(SystemExit):
        await dead.step()
    got: list[Entry] = []

    async def ok(entries: list[Entry]) -> dict[EntryKey, Failure]:
        got.extend(entries)
        return {}

    alive = consumer(r, bus, ok, name="alive", retry_idle_ms=50)
    await asyncio.sleep(0.06)
    await alive.step()
    assert len(got) == 2 and all(e.deliveries == 2 for e in got)
    assert (await r.xpending(keys.inbound_stream(0), "g"))["pending"] == 0


async def test_trim_survives_entries_acknowledged_between_its_two_reads(r: redis.Redis) -> None:
    """XINFO says "pending", then XPENDING finds none (acknowledged in between): no crash, and
    the stream is trimmed up to what the group has read."""
    bus = StreamBus(r, partitions=1)
    stream = keys.inbound_stream(0)
    await ensure_group(r, stream, "g")
    await bus.ingest([message() for _ in range(3)])
    read = await r.xreadgroup("g", "c", {stream: ">"}, count=3)
    ids = [entry_id for entry_id, _ in read[0][1]]
    real_xinfo = r.xinfo_groups

    async def stale_xinfo(name: str) -> list[dict[str, object]]:
        groups = await real_xinfo(name)
        await r.xack(stream, "g", *ids)  # acknowledged right after XINFO looked
        return groups

    r.xinfo_groups = stale_xinfo  # type: ignore[method-assign]
    try:
        assert await trim_acknowledged(r, stream) == 3
    finally:
        r.xinfo_groups = real_xinfo  # type: ignore[method-assign]


async def test_a_crashing_handler_does_not_stop_the_consumer(r: redis.Redis) -> None:
    bus = StreamBus(r, partitions=1)
    calls: list[int] = []
    handled: list[str] = []

    async def flaky(entries: list[Entry]) -> dict[EntryKey, Failure]:
        calls.append(len(entries))
        if len(calls) == 1:
            raise RuntimeError("a bug in the handler")
        handled.extend(e.id for e in entries)
        return {}

    c = consumer(r, bus, flaky, retry_idle_ms=50)
    stop = asyncio.Event()
    task = asyncio.create_task(c.run(stop))
    await bus.ingest([message(), message()])
    for _ in range(100):
        if len(handled) == 2:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert len(handled) == 2 and calls[0] == 2  # the crashed batch came back and was handled
    assert (await r.xpending(keys.inbound_stream(0), "g"))["pending"] == 0


async def test_a_failure_names_its_stream_not_only_its_id(r: redis.Redis) -> None:
    """One consumer reads every partition, where the same entry id exists in several streams: a
    failure in one partition must not fail (or dead-letter) the namesake entries of the others."""
    bus = StreamBus(r, partitions=3)
    streams = bus.inbound_streams()
    for stream in streams:
        await ensure_group(r, stream, "g")
        await r.xadd(stream, {"m": stream}, id="1-0")  # the same id in every partition
    handled: list[EntryKey] = []

    async def fail_first_partition(entries: list[Entry]) -> dict[EntryKey, Failure]:
        handled.extend(e.key for e in entries)
        return {e.key: Failure(f"refused in {e.stream}", permanent=True) for e in entries if e.stream == streams[0]}

    await consumer(r, bus, fail_first_partition).step()
    assert sorted(handled) == sorted((s, "1-0") for s in streams)
    dead = [entry for p in range(3) for entry in await r.xrange(keys.dead_letters(p))]
    expected = [(streams[0].encode(), f"refused in {streams[0]}".encode())]
    assert [(d[b"stream"], d[b"error"]) for _, d in dead] == expected
    for stream in streams:
        assert (await r.xpending(stream, "g"))["pending"] == 0


async def test_a_retried_failure_keeps_its_namesakes_acknowledged(r: redis.Redis) -> None:
    bus = StreamBus(r, partitions=2)
    streams = bus.inbound_streams()
    for stream in streams:
        await ensure_group(r, stream, "g")
        await r.xadd(stream, {"m": stream}, id="5-0")

    async def fail_second_partition(entries: list[Entry]) -> dict[EntryKey, Failure]:
        return {e.key: Failure("try again") for e in entries if e.stream == streams[1]}

    await consumer(r, bus, fail_second_partition).step()
    assert (await r.xpending(streams[0], "g"))["pending"] == 0
    assert (await r.xpending(streams[1], "g"))["pending"] == 1
    assert await r.hgetall(f"{streams[0]}:errors") == {}
    assert await r.hgetall(f"{streams[1]}:errors") == {b"5-0": b"try again"}


async def test_an_error_is_forgotten_once_its_entry_succeeds_and_the_record_expires(r: redis.Redis) -> None:
    """Stale `:errors` fields piled up after outages (one per entry that failed once, then went)."""
    bus = StreamBus(r, partitions=1)
    stream = keys.inbound_stream(0)
    calls: list[int] = []

    async def fails_once(entries: list[Entry]) -> dict[EntryKey, Failure]:
        calls.extend(e.deliveries for e in entries)
        return {e.key: Failure("redis blinked") for e in entries if e.deliveries == 1}

    c = consumer(r, bus, fails_once, retry_idle_ms=20)
    await c.ensure_groups()
    await bus.ingest([message(), message()])
    await c.step()
    assert await r.hlen(f"{stream}:errors") == 2
    assert 0 < await r.ttl(f"{stream}:errors") <= ERRORS_TTL_SECONDS
    for _ in range(20):
        await asyncio.sleep(0.03)
        await c.step()
        if len(calls) == 4:
            break
    assert calls == [1, 1, 2, 2]
    assert (await r.xpending(stream, "g"))["pending"] == 0
    assert await r.hlen(f"{stream}:errors") == 0


async def test_a_read_takes_about_count_entries_across_its_streams_and_peers_share_a_backlog(r: redis.Redis) -> None:
    bus = StreamBus(r, partitions=4)
    for p in range(4):
        for i in range(20):
            await r.xadd(keys.inbound_stream(p), {"m": f"{p}-{i}"})
    batches: dict[str, list[int]] = {"a": [], "b": []}

    def handler_of(name: str):  # type: ignore[no-untyped-def]
        async def handler(entries: list[Entry]) -> dict[EntryKey, Failure]:
            batches[name].append(len(entries))
            return {}

        return handler

    a = consumer(r, bus, handler_of("a"), name="a", count=8)
    b = consumer(r, bus, handler_of("b"), name="b", count=8)
    await a.ensure_groups()
    for _ in range(5):
        await a.step()
        await b.step()
    assert max(batches["a"] + batches["b"]) <= 8  # COUNT per stream would have read 32 at once
    assert sum(batches["a"]) == sum(batches["b"]) == 40


async def test_a_backlog_in_one_stream_of_many_is_read_count_at_a_time(r: redis.Redis) -> None:
    bus = StreamBus(r, partitions=4)
    for i in range(20):
        await r.xadd(keys.inbound_stream(2), {"m": f"2-{i}"})
    await r.xadd(keys.inbound_stream(0), {"m": "0-0"})
    batches: list[list[str]] = []

    async def handler(entries: list[Entry]) -> dict[EntryKey, Failure]:
        batches.append([e.payload.decode() for e in entries])
        return {}

    c = consumer(r, bus, handler, count=8)
    await c.ensure_groups()
    for _ in range(3):
        await c.step()
    # the idle streams no longer shrink the read to 8 / 4 from the busy one; in order per stream
    assert [len(b) for b in batches] == [8, 8, 5]
    assert [m for b in batches for m in b if m.startswith("2-")] == [f"2-{i}" for i in range(20)]
