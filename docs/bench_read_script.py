"""The archiver's read script against an older one (docs/benchmarks.md, "the last archived event
checked"): Redis time per call for 500 conversations, changed and unchanged, interleaved.

    git show cb086c4:archive/snapshot.py > /tmp/old_snapshot.py
    PYTHONPATH=$PWD .venv/bin/python docs/bench_read_script.py /tmp/old_snapshot.py
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import statistics
import sys
import tempfile
from pathlib import Path

import redis.asyncio as redis

from helpline.archive import snapshot
from helpline.embedded_redis import EmbeddedRedis

N, EVENTS, CALLS, ROUNDS = 500, 20, 50, 6
PREFIX = "hl:{p0}"


async def main(old_source: str) -> None:
    found = re.search(r'_READ = """(.*?)"""', old_source, re.S)
    assert found, "no _READ in the old file"
    scripts = {"old": (found.group(1), False), "new": (snapshot._READ, True)}
    server = EmbeddedRedis(Path(tempfile.mkdtemp()))
    server.start()
    r = redis.Redis.from_url(server.url)
    try:
        event = '{"type":"note","actor":"agent:mina","reason":"","data":{"text":"%s"},"at":"2026-12-06T10:00:00Z"}'
        events = [(event % ("x" * 200 + str(k))).encode() for k in range(EVENTS)]
        async with r.pipeline(transaction=False) as pipe:
            for i in range(N):
                c = f"{PREFIX}:conv:0-{i}"
                pipe.hset(c, mapping={"version": 10, "contact_id": "null:main:u", "created_at": 1, "platform": "null"})
                pipe.rpush(c + ":events", *events)
                pipe.zadd(c + ":messages", {f"m{i}-{k}": k for k in range(5)})
            await pipe.execute()
        results: dict[tuple[str, bool], list[float]] = {}
        for _ in range(ROUNDS):
            for name, (source, digest) in scripts.items():
                script = r.register_script(source)
                for changed in (True, False):
                    archived = EVENTS - 2 if changed else EVENTS  # changed: 2 events not archived yet
                    args: list[str | int] = []
                    for i in range(N):
                        args += [f"0-{i}", 3, archived, 5, 9 if changed else 10]
                        if digest:
                            args.append(hashlib.sha1(events[archived - 1], usedforsecurity=False).hexdigest())
                    await script(keys=[PREFIX, f"{PREFIX}:changes"], args=args)
                    await r.config_resetstat()
                    for _ in range(CALLS):
                        await script(keys=[PREFIX, f"{PREFIX}:changes"], args=args)
                    stats = (await r.info("commandstats"))["cmdstat_evalsha"]
                    results.setdefault((name, changed), []).append(float(stats["usec_per_call"]))
        for (name, changed), values in results.items():
            path = "changed" if changed else "unchanged"
            print(f"{name} {path}: median {statistics.median(values):,.0f} us per call of {N} conversations")
    finally:
        await r.aclose()
        server.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]).read_text()))
