"""`helpline demo` on a busy console port: one line, exit 2, and nothing of it left running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpline.connectors.emulation import ListenFailed, serve
from helpline.connectors.telegram.emulator import create_app as telegram_emulator


def redis_servers_in(data_dir: Path) -> list[int]:
    """Pids of redis-server processes whose working data directory is under `data_dir`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and b"redis-server" in cmdline[0] and any(str(data_dir).encode() in a for a in cmdline):
            found.append(int(pid))
    return found


def test_demo_on_a_busy_port_exits_2_with_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_") and k != "REDIS_URL"}
        result = subprocess.run(
            [sys.executable, "-m", "helpline", "demo", "--port", str(port), "--data-dir", str(tmp_path / "demo")],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and f"port {port} is in use" in result.stderr, result.stderr
    assert "running" not in result.stdout and "Traceback" not in result.stderr
    assert redis_servers_in(tmp_path) == []


async def test_a_server_that_cannot_listen_raises_instead_of_exiting_the_process() -> None:
    # uvicorn calls sys.exit when it cannot bind; raised in a task, SystemExit stopped the event
    # loop without unwinding the caller, which left the demo's redis-server running
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ListenFailed, match=f"127.0.0.1:{port}"):
            async with serve(telegram_emulator(), port=port):
                pass
