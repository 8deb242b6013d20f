"""The demo's Redis asks for a generated password and keeps its files private to the user."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import redis

from helpline.demo import ENV_PREFIX, demo_secrets
from helpline.embedded_redis import EmbeddedRedis


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_demo_redis_requires_its_password_and_keeps_files_private(tmp_path: Path) -> None:
    env = demo_secrets(tmp_path)
    password = env[ENV_PREFIX + "REDIS_PASSWORD"]
    assert len(password) >= 20 and mode(tmp_path / "secrets.env") == 0o600
    assert demo_secrets(tmp_path)[ENV_PREFIX + "REDIS_PASSWORD"] == password  # kept across starts
    data = tmp_path / "redis"
    data.mkdir(mode=0o755)  # left by an older run
    (data / "old.aof").write_text("x")
    os.chmod(data / "old.aof", 0o644)
    server = EmbeddedRedis(data, password=password)
    with server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"SET k v\r\n")
            assert sock.recv(64).startswith(b"-NOAUTH")
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
        assert server.proc is not None
        assert password not in Path(f"/proc/{server.proc.pid}/cmdline").read_text()  # `ps` shows no password
    assert mode(data) == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any("aof" in p.name for p in files)
    assert all(mode(p) & 0o077 == 0 for p in files), {p.name: oct(mode(p)) for p in files}
