"""The tests' redis-server: the embedded server the demo uses, with every write fsynced, so a
test can kill -9 it and check that nothing acknowledged was lost."""

from __future__ import annotations

from pathlib import Path

from helpline.embedded_redis import EmbeddedRedis


class RedisServer(EmbeddedRedis):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, appendfsync="always")
