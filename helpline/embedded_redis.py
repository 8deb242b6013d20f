"""A real redis-server owned by this process (for `helpline demo` and benchmarks): AOF on, in a
data directory, on a free loopback port. Uses the system's redis-server binary (Redis >= 6.2).

The data directory and everything Redis writes in it are private to the user (0700/0600: the AOF
holds password hashes and direct messages), and with a `password` Redis requires it; the password
goes in a 0600 config file, not on the command line where `ps` would show it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType


class EmbeddedRedisError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    def __init__(
        self, data_dir: Path, port: int | None = None, appendfsync: str = "everysec", password: str | None = None
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise EmbeddedRedisError(
                "redis-server not found on PATH; install it (Debian: apt-get install "
                "redis-server) or set REDIS_URL to an existing Redis >= 6.2"
            )
        self.binary = binary
        self.data_dir = data_dir
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self.password = password
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _private_dir(self) -> Path:
        """The data directory, created (or tightened) so only this user can read it."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_dir.chmod(0o700)
        for root, dirs, files in os.walk(self.data_dir):  # files from a run before this rule
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o700)
            for name in files:
                os.chmod(os.path.join(root, name), 0o600)
        conf = self.data_dir / "redis.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"requirepass {self.password}\n" if self.password else "")
        return conf

    def start(self) -> EmbeddedRedis:
        conf = self._private_dir()
        self.proc = subprocess.Popen(
            [
                self.binary,
                str(conf.resolve()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir.resolve()),
                "--appendonly",
                "yes",
                "--appendfsync",
                self.appendfsync,
                "--save",
                "",
                "--protected-mode",
                "yes",
                "--logfile",
                "redis.log",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            umask=0o077,  # the AOF, the log: readable by this user only
            # Its own session: Ctrl-C in the terminal stops Helpline, which then stops Redis last.
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmbeddedRedisError(f"redis-server exited; see {self.data_dir / 'redis.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    auth = f"AUTH {self.password}\r\n".encode() if self.password else b""
                    sock.sendall(auth + b"PING\r\n")
                    if b"+PONG" in _read_replies(sock, 2 if self.password else 1):
                        return self
            except OSError:
                time.sleep(0.05)
        raise EmbeddedRedisError(f"redis-server did not answer on port {self.port}")

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (Redis flushes its AOF and exits), or SIGKILL to test what survives a crash."""
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, kill: bool = False) -> None:
        """Stop and start again on the same port and data directory."""
        self.stop(kill=kill)
        self.start()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _read_replies(sock: socket.socket, count: int) -> bytes:
    data = b""
    while data.count(b"\r\n") < count:
        chunk = sock.recv(64)
        if not chunk:
            break
        data += chunk
    return data
